"""The dataset, quality and usage sources of issue 24, as one step of data/convert_all.py.

Why a separate step: the converters of the other sources are being reworked concurrently; this step only
adds files (datasets.jsonl, mteb-results.jsonl, best-of-mcp-servers.jsonl) and, on the records convert_all
is about to write, adds numbers with their source: benchmark results (join_quality.py), usage counts
(best-of-mcp-servers by GitHub repository) and `facts.evaluated_on` (link_datasets.py).

Datasets: mteb-tasks, tfds-catalog and ir-datasets records of the same dataset (same name once reduced to
letters and digits) are merged into one record; the others' ids become `signals.aliases`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import convert_best_of_mcp
import convert_bfcl
import convert_clean
import convert_epoch
import convert_ir_datasets
import convert_llmstats
import convert_mteb_results
import convert_mteb_tasks
import convert_tfds
import join_quality
import link_datasets
from convert_common import Report

# folder, converter, output file, license, commit, what it gives (as convert_all.SOURCES)
SOURCES = (
    ("mteb-tasks", convert_mteb_tasks, "datasets.jsonl", "Apache-2.0 (package); each dataset's own licence in "
     "its record", "mteb 2.26.24", "embeddings-benchmark/mteb `mteb/tasks/` (PyPI wheel)"),
    ("tfds-catalog", convert_tfds, "datasets.jsonl", "Apache-2.0 (package); dataset licences where stated",
     "tensorflow-datasets 4.9.10", "tensorflow/datasets dataset definitions (PyPI wheel)"),
    ("ir-datasets", convert_ir_datasets, "datasets.jsonl", "Apache-2.0 (package); dataset licences where stated",
     "ir-datasets 0.6.3", "allenai/ir_datasets `ir_datasets/docs/` (PyPI wheel)"),
    ("epoch-benchmarks", convert_epoch, "models.jsonl (signals.benchmarks)", "CC-BY-4.0 (credit: Epoch AI, "
     "'AI Benchmarking', epoch.ai/benchmarks)", "24efa3f00884caf472167d1a2700270c0ec42974",
     "Epoch AI Benchmarking Hub export via pranmod01/apart-sprint"),
    ("llmstats", convert_llmstats, "models.jsonl (signals.benchmarks)", "CC-BY-4.0 (credit: LLM Stats, "
     "llm-stats.com, (c) 2024 jc)", "df1d14eda7143f27fd5e7d71d8b14cb0c807de0d", "JonathanChavezTamales/LLMStats"),
    ("bfcl", convert_bfcl, "models.jsonl (signals.benchmarks)", "Apache-2.0",
     "8c24bd7cd50499b601783bd6e6b0a921017da10a", "ShishirPatil/gorilla gh-pages (BFCL v4)"),
    ("mteb-results", convert_mteb_results, "mteb-results.jsonl, models.jsonl (signals.benchmarks)", "CC0-1.0",
     "f4cc6c8b365a3c779dbc708d6affe0b0355b2ddf", "embeddings-benchmark/results (derived CSVs)"),
    ("best-of-mcp-servers", convert_best_of_mcp, "best-of-mcp-servers.jsonl", "CC-BY-SA-4.0",
     "5ac38b1906c881ec7b64a2658549a4bde556a2c5", "tolkonepiu/best-of-mcp-servers `history/2026-07-01_projects.csv`"),
)
LICENSE_FILES = {"best-of-mcp-servers": "LICENSE.best-of-mcp-servers", "epoch-benchmarks":
                 "EPOCH_DATA_LICENSE_README.md"}


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", str(text).lower())


def merge_datasets(groups: list[list[dict[str, Any]]], report: Report) -> list[dict[str, Any]]:
    """One record per dataset: a later source's record with the same key merges into the earlier source's
    (within one source, different paths are different datasets: mteb/fiqa and if-ir/fiqa stay two)."""
    by_key: dict[str, tuple[int, dict[str, Any]]] = {}
    out = []
    for group, records in enumerate(groups):
        for r in records:
            key = _key(r.get("_key") or r["name"])
            seen = by_key.get(key)
            if seen is None or seen[0] == group or len(key) < 4:  # one source's records are distinct datasets
                if seen is None or (seen[0] == group and r["name"].lower().startswith("mteb/")):
                    by_key[key] = (group, r)  # MTEB's own copy is the one other sources' records merge into
                out.append(r)
                continue
            first = seen[1]
            s, o = first["signals"], r["signals"]
            s.setdefault("aliases", []).append(r["id"])
            s["aliases"] += [a for a in o.get("aliases", []) if a not in s["aliases"]]
            if s.get("license", "unknown") == "unknown" and o.get("license", "unknown") != "unknown":
                s["license"] = o["license"]
            for field in ("languages", "tasks", "benchmark_names", "frameworks"):
                s[field] = list(dict.fromkeys([*s.get(field, []), *o.get(field, [])]))
            s["source"] = f"{s['source']}; {o['source']}"[:500]
            first["capabilities"] += r["capabilities"]
            first["tags"] = list(dict.fromkeys([*first.get("tags", []), *r.get("tags", [])]))[:20]
            if "huggingface.co" in first.get("url", "") and "huggingface.co" not in r.get("url", "huggingface.co"):
                first["url"] = r["url"]
            report.notes.append(f"{r['id']} is {first['id']} (same dataset name); merged")
    return out


LM_EVAL_FALSE_FRIENDS = frozenset({"arc"})  # lm-eval's arc is AI2's ARC; TFDS's arc is Chollet's ARC


def merge_lm_eval(datasets: list[dict[str, Any]], families: list[dict[str, Any]], report: Report) -> list[dict]:
    """An lm-eval family that is a TFDS dataset (same name) is that dataset: its text and id go to the TFDS
    record (id as an alias); returns the families kept. Only TFDS: MTEB's records of HellaSwag, PIQA,
    HumanEval... are retrieval adaptations, other datasets."""
    tfds = {_key(r["signals"]["tfds_name"]): r for r in datasets if r["signals"].get("tfds_name")}
    kept = []
    for fam in families:
        target = tfds.get(_key(fam["name"])) if fam["type"] == "dataset" else None
        if target is None or fam["name"].lower() in LM_EVAL_FALSE_FRIENDS:
            kept.append(fam)
            continue
        s = target["signals"]
        s["aliases"] = [*s.get("aliases", []), fam["id"]]
        s["languages"] = list(dict.fromkeys([*s.get("languages", []), *fam["signals"].get("languages", [])]))
        s["frameworks"] = list(dict.fromkeys([*s.get("frameworks", []), "lm-evaluation-harness"]))
        s["source"] = f"{s['source']}; {fam['signals']['source']}"[:500]
        target["capabilities"] += fam["capabilities"]
        report.notes.append(f"{fam['id']} is {target['id']} (same dataset name); merged")
    return kept


def _read(folder: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(folder.glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def run(src: Path, files: dict[str, tuple[list[dict], Report]], reports: dict[str, Report], readonly_dir: Path,
        ) -> dict[str, tuple[list[dict], Report]]:
    """Convert the sources, join them onto `files` (in place) and return the new files."""
    results: dict[str, Any] = {}
    for name, module, *_ in SOURCES:
        reports[name] = Report(name)
        folder = src / name
        if not folder.is_dir():
            reports[name].skip(name, "source folder missing")
            results[name] = {"rows": [], "meta": {}, "models": [], "standing": {}} if name == "mteb-results" else []
            continue
        results[name] = module.convert(folder, reports[name])
    datasets = merge_datasets([results["mteb-tasks"], results["tfds-catalog"], results["ir-datasets"]],
                              reports["tfds-catalog"])
    lm_eval, lm_report = files["lm-eval.jsonl"]
    files["lm-eval.jsonl"] = (merge_lm_eval(datasets, lm_eval, lm_report), lm_report)
    models = files["models.jsonl"][0]
    readonly = _read(readonly_dir)
    mteb = results["mteb-results"]
    new_models = _mteb_models(mteb, models, readonly)
    writable = models + new_models
    for name in ("epoch-benchmarks", "llmstats", "bfcl"):
        join_quality.join(writable, readonly, results[name], reports[name].notes.append)
    join_quality.join(writable, readonly, mteb["rows"], reports["mteb-results"].notes.append)
    others = [r for records, _ in files.values() for r in records]
    servers = convert_best_of_mcp.join_usage(results["best-of-mcp-servers"], others,
                                             reports["best-of-mcp-servers"])
    everything = others + datasets + new_models + servers + readonly
    stats = link_datasets.link(everything, writable)
    reports["mteb-tasks"].notes.append("linked models to the datasets they were evaluated on: " +
                                       ", ".join(f"{k} {v}" for k, v in stats.items()))
    for record in datasets + new_models + servers:
        _scrub(record)
    return {"datasets.jsonl": (datasets, reports["mteb-tasks"]),
            "mteb-results.jsonl": (new_models, reports["mteb-results"]),
            "best-of-mcp-servers.jsonl": (servers, reports["best-of-mcp-servers"])}


def _scrub(value: Any) -> Any:
    """No personal data: e-mail addresses in any text of a record (dataset citations carry authors') go."""
    if isinstance(value, str):
        return convert_clean.scrub_emails(value) if convert_clean.has_email(value) else value
    if isinstance(value, list):
        value[:] = [_scrub(v) for v in value]
    elif isinstance(value, dict):
        for k in value:
            value[k] = _scrub(value[k])
    return value


def _mteb_models(mteb: dict[str, Any], models: list[dict], readonly: list[dict]) -> list[dict[str, Any]]:
    """Model artifacts for the MTEB models no catalog record names."""
    known = join_quality.index(models + readonly)
    tasks: dict[str, int] = {}
    for row in mteb["rows"]:
        tasks[row["model"]] = tasks.get(row["model"], 0) + 1
    out, seen = [], set()
    for name in mteb["models"]:
        if join_quality.match({"model": name}, known) or name not in tasks:
            continue
        record = convert_mteb_results.model_record(name, mteb["meta"].get(name, {}), tasks[name],
                                                   mteb.get("standing", {}).get(name))
        record["id"] = "/".join(re.sub(r"[^a-z0-9._-]+", "-", p).strip("-._") or "x"
                                for p in record["id"].split("/")[:2])
        if record["id"] not in seen:
            seen.add(record["id"])
            out.append(record)
    return out
