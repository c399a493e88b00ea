#!/usr/bin/env python3
"""MTEB results (embeddings-benchmark/results, CC0-1.0): per-task main scores of 668 embedding models, and
`mteb_model_meta.csv` facts (release date, parameters, dimensions, max tokens, licence, reference).

Results are runs of the open `mteb` evaluation package published in the results repository (dated by its
snapshot, 2026-08-20); they are kept per task, named by the MTEB task (which data/link_datasets.py resolves
to the MTEB dataset), for the tasks at least MIN_MODELS models report (comparable records), at most
MAX_TASKS per model (the most widely reported first). The models the catalog lacks become `model`
artifacts (data/join_quality.py decides which) built by `model_record` from their meta row.
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, capability, count, date, is_osi, ordinal, tags  # noqa: E402

NAME = "mteb-results"
SOURCE = "MTEB results (embeddings-benchmark/results, CC0-1.0)"
SNAPSHOT = "2026-08-20"
MIN_MODELS = 30
MAX_TASKS = 40
csv.field_size_limit(10_000_000)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def read_scores(src: Path, report: Report) -> dict[str, dict[str, tuple[float, str]]]:
    """model -> task -> (score 0..1, mteb version), the newest mteb version's row per (model, task)."""
    best: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
    path = src / "mteb_task_main_scores.csv"
    for line, row in enumerate(csv.DictReader(path.open(encoding="utf-8")), start=2):
        report.rows += 1
        try:
            score = float(row["main_score_mean"])
        except (KeyError, ValueError):
            report.skip(f"{path.name}:{line}", "no numeric main_score_mean")
            continue
        model, task, version = row.get("model_name", ""), row.get("task_name", ""), row.get("mteb_version", "")
        if not model or not task or not 0 <= score <= 1:
            report.skip(f"{path.name}:{line}", "no model or task, or a score outside 0..1")
            continue
        old = best[model].get(task)
        if old is None or _version(version) > _version(old[1]):
            best[model][task] = (score, version)
    return best


def read_meta(src: Path) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for row in csv.DictReader((src / "mteb_model_meta.csv").open(encoding="utf-8")):
        if row.get("name") and (row["name"] not in out or date(row.get("release_date")) > date(
                out[row["name"]].get("release_date"))):
            out[row["name"]] = row
    return out


def convert(src: Path, report: Report) -> dict[str, Any]:
    """{"rows": result rows for data/join_quality.py, "meta": name -> meta row}."""
    scores = read_scores(src, report)
    coverage = Counter(task for tasks in scores.values() for task in tasks)
    kept = {t for t, n in coverage.items() if n >= MIN_MODELS}
    rows = []
    for model, tasks in sorted(scores.items()):
        chosen = sorted((t for t in tasks if t in kept), key=lambda t: (-coverage[t], t))[:MAX_TASKS]
        for task in chosen:
            value = tasks[task][0]
            rows.append({"model": model, "names": [model], "where": f"mteb_task_main_scores.csv: {model} {task}",
                         "benchmark": {"name": task, "metric": "MTEB main score", "value": round(value, 6),
                                       "score": round(100 * value, 2), "date": SNAPSHOT, "measured": True,
                                       "source": f"MTEB results (CC0-1.0), mteb {tasks[task][1]}"}})
    report.notes.append(f"{len(kept)} MTEB tasks reported by at least {MIN_MODELS} models kept as benchmarks")
    return {"rows": rows, "meta": read_meta(src), "models": sorted(scores), "standing": standings(scores, kept)}


def standings(scores: dict[str, dict[str, tuple[float, str]]], kept: set[str]) -> dict[str, list[tuple]]:
    """model -> its 3 best standings [(task, rank, of how many, score)] on the kept tasks (best share first)."""
    by_task: dict[str, list[float]] = defaultdict(list)
    for tasks in scores.values():
        for task, (score, _) in tasks.items():
            if task in kept:
                by_task[task].append(score)
    for values in by_task.values():
        values.sort(reverse=True)
    out = {}
    for model, tasks in scores.items():
        ranked = [(task, by_task[task].index(score) + 1, len(by_task[task]), score)
                  for task, (score, _) in tasks.items() if task in kept]
        out[model] = sorted(ranked, key=lambda t: (t[1] / t[2], t[0]))[:3]
    return out


def model_record(name: str, meta: dict[str, str], n_tasks: int, best: list[tuple] | None = None) -> dict[str, Any]:
    """A `model` artifact for an MTEB model the catalog lacks, from its meta row (facts only)."""
    lic = (meta.get("license") or "").strip() or "unknown"
    open_weights = {"true": True, "false": False}.get((meta.get("open_weights") or "").strip().lower())
    dims, params = count(meta.get("embed_dim")), count(meta.get("n_parameters"))
    max_tokens = count(meta.get("max_tokens"))
    modalities = [m for m in (meta.get("modalities") or "text").split("|") if m]
    kind = "cross-encoder (reranker)" if (meta.get("is_cross_encoder") or "").lower() == "true" else "embedding model"
    facts = []
    if dims:
        facts.append(f"{dims:,}-dimensional embeddings")
    if max_tokens:
        facts.append(f"inputs up to {max_tokens:,} tokens")
    if params:
        facts.append(f"{params / 1e6:,.0f}M parameters")
    article = "an" if kind[0] in "aeiou" else "a"
    text = f"{name} is {article} {kind} ({', '.join(facts) or 'size not stated'}; MTEB model metadata)."
    if best:
        shown = [f"{task} ({ordinal(rank)} of {of}, main score {score:.3f})" for task, rank, of, score in best]
        text += f" Of its results on {n_tasks} widely run MTEB tasks, it stands highest on {', '.join(shown)}."
    caps = [capability(f"{kind.capitalize()}: {', '.join(modalities)} in, vectors out", text)]
    if re.fullmatch(r"[\w.-]+/[\w.-]+", meta.get("adapted_from") or ""):  # a Hub id, not a local path
        caps.append(capability(f"Adapted from {meta['adapted_from']}", f"{name} is adapted from "
                               f"{meta['adapted_from']} (MTEB model metadata)."))
    reference = meta.get("reference") or ""
    url = reference if reference.startswith("http") else (f"https://huggingface.co/{name}" if open_weights else "")
    signals: dict[str, Any] = {"source": f"{SOURCE}: mteb_model_meta.csv, mteb_task_main_scores.csv",
                               "license": lic, "modalities": {"input": modalities, "output": ["embedding"]},
                               "frameworks": [f.strip().lower() for f in (meta.get("framework") or "").split("|")
                                              if f.strip()][:8]}
    if open_weights is not None:
        signals["open_weights"] = open_weights
    if max_tokens:
        signals["context_window"] = max_tokens
    if date(meta.get("release_date")):
        signals["released"] = date(meta.get("release_date"))
    slug = name.lower().replace(" ", "-")
    record = {"id": slug if "/" in slug else f"mteb/{slug}", "name": name, "type": "model",
              "pricing": "open-source" if open_weights and is_osi(lic) else "free" if open_weights else "unknown",
              "description": f"{name}: an {kind} evaluated in MTEB" + (f", released {signals['released']}"
                                                                       if "released" in signals else "") + ".",
              "tags": tags(["embeddings", "mteb", kind.split(" ")[0], *modalities]),
              "signals": signals, "capabilities": caps, "_where": f"mteb_model_meta.csv: {name}"}
    if url:
        record["url"] = url
    return record
