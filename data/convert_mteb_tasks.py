#!/usr/bin/env python3
"""MTEB task metadata (mteb 2.26.24, `mteb/tasks/`, Apache-2.0 package): one `dataset` artifact per dataset.

The files are read with `ast` (never imported): each `TaskMetadata(...)` call gives a task; its literal
keyword arguments (module-level constants resolved) give the dataset path, reference URL, task type,
languages, domains and the dataset's OWN licence (the `license` field; "not specified" -> "unknown"; the
package's Apache-2.0 is never used). Several tasks share one dataset path: one artifact per path, with the
tasks as capabilities. The task names are kept (`signals.benchmark_names`) so MTEB results name them.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, capability, clean, first_sentences, literal_constants, tags  # noqa: E402

NAME = "mteb-tasks"
ATTRIBUTION = "MTEB task metadata (embeddings-benchmark/mteb 2.26.24, mteb/tasks/, Apache-2.0)"
LANG_NAMES = {"eng": "English", "zho": "Chinese", "fra": "French", "deu": "German", "spa": "Spanish",
              "rus": "Russian", "jpn": "Japanese", "kor": "Korean", "ara": "Arabic", "pol": "Polish",
              "por": "Portuguese", "ita": "Italian", "nld": "Dutch", "fas": "Persian", "vie": "Vietnamese",
              "hin": "Hindi", "tur": "Turkish", "dan": "Danish", "swe": "Swedish", "nob": "Norwegian",
              "ces": "Czech", "heb": "Hebrew", "ind": "Indonesian", "tha": "Thai", "ukr": "Ukrainian"}
OPEN_LICENSES = ("cc-by-4", "cc-by-3", "cc-by-2", "cc0", "mit", "apache", "odc-by", "odbl", "bsd", "cc-by-sa",
                 "pddl", "afl", "gpl", "lgpl", "mpl", "unlicense", "cdla-permissive", "cdla-sharing")


def _kwargs(call: ast.Call, consts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg is None:
            continue
        try:
            out[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            if isinstance(kw.value, ast.Name) and kw.value.id in consts:
                out[kw.arg] = consts[kw.value.id]
    return out


def tasks_of(src: Path, report: Report) -> list[tuple[str, dict[str, Any]]]:
    """(file, TaskMetadata keyword arguments) of every task whose metadata is literal enough to read."""
    out = []
    for path in sorted((src / "mteb" / "tasks").rglob("*.py")):
        rel = str(path.relative_to(src))
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), rel)
        except (SyntaxError, UnicodeDecodeError) as exc:
            report.skip(rel, f"not parseable Python: {exc}")
            continue
        consts = literal_constants(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "TaskMetadata":
                report.rows += 1
                kw = _kwargs(node, consts)
                dataset = kw.get("dataset")
                if not isinstance(dataset, dict) or not isinstance(dataset.get("path"), str) or not kw.get("name"):
                    report.skip(f"{rel}:{node.lineno}", "task without a literal name and dataset path")
                    continue
                out.append((f"{rel}:{node.lineno}", kw))
    return out


def licence(values: list[str]) -> str:
    known = sorted({v.strip().lower() for v in values if v and v.strip().lower() not in ("not specified", "")})
    return known[0] if len(known) == 1 else ("unknown" if not known else " / ".join(known))


def language(code: str) -> str:
    return code.split("-")[0]


def _languages(value: Any) -> list[str]:
    langs: list[str] = []
    items = value.values() if isinstance(value, dict) else [value] if isinstance(value, str) else value or []
    for item in items:
        for code in ([item] if isinstance(item, str) else item if isinstance(item, list) else []):
            lang = language(str(code))
            if lang and lang not in langs:
                langs.append(lang)
    return langs


def _words(values: list[str]) -> str:
    if not values:
        return "evaluation"
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def record(path: str, tasks: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One dataset artifact from the tasks that use dataset `path` (a Hugging Face dataset id)."""
    kws = [kw for _, kw in tasks]
    langs: list[str] = []
    for kw in kws:
        langs += [x for x in _languages(kw.get("eval_langs")) if x not in langs]
    types = sorted({str(kw.get("type")) for kw in kws if kw.get("type")})
    subtypes = sorted({s for kw in kws for s in (kw.get("task_subtypes") or []) if isinstance(s, str)})
    domains = sorted({d for kw in kws for d in (kw.get("domains") or []) if isinstance(d, str)})
    modalities = sorted({m for kw in kws for m in (kw.get("modalities") or []) if isinstance(m, str)})
    lic = licence([str(kw.get("license") or "") for kw in kws])
    reference = next((kw["reference"] for kw in kws if str(kw.get("reference") or "").startswith("http")), "")
    hf_url = f"https://huggingface.co/datasets/{path}"
    description = clean(next((kw["description"] for kw in kws if isinstance(kw.get("description"), str)), ""))
    names = sorted({str(kw["name"]) for kw in kws})
    caps = []
    for kw in sorted(kws, key=lambda k: str(k["name"])):
        task_langs = _languages(kw.get("eval_langs"))
        shown = [LANG_NAMES.get(x, x) for x in task_langs[:6]] + ([f"{len(task_langs) - 6} more"]
                                                                 if len(task_langs) > 6 else [])
        text = f"MTEB task {kw['name']} ({kw.get('type', 'task')}"
        text += f", scored by {kw['main_score']}" if kw.get("main_score") else ""
        text += f"; languages: {_words(shown)})" if shown else ")"
        sub = [s for s in (kw.get("task_subtypes") or []) if isinstance(s, str)]
        desc = clean(kw.get("description") if isinstance(kw.get("description"), str) else "")
        body = (first_sentences(desc, 350) + " " if desc else "") + (f"Task: {', '.join(sub)}." if sub else "")
        caps.append(capability(f"{kw.get('type', 'Evaluation')}: {kw['name']}", (text + ". " + body).strip()))
    short = path.split("/")[-1]
    return {
        "id": "dataset/" + re.sub(r"[^a-z0-9._-]+", "-", path.lower().replace("/", "--")).strip("-._")[:180],
        "name": path, "type": "dataset",
        "pricing": "open-source" if lic.startswith(OPEN_LICENSES) else "free",
        "description": description or f"The {short} dataset used by MTEB for {_words(types)}.",
        "url": reference if reference else hf_url,
        "tags": tags(["dataset", "mteb", *[t.lower() for t in types], *subtypes[:4], *domains[:4]]),
        "signals": {"source": f"{ATTRIBUTION}: {tasks[0][0]}", "license": lic, "languages": langs[:500],
                    "tasks": types + [s for s in subtypes if s not in types][:20], "modalities_data": modalities,
                    "benchmark_names": names, "hf_dataset": path, "homepage": hf_url,
                    "frameworks": ["mteb"]},
        "capabilities": caps[:40], "_where": tasks[0][0], "_key": short,
    }


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    by_path: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for where, kw in tasks_of(src, report):
        by_path[kw["dataset"]["path"].strip()].append((where, kw))
    out, seen = [], set()
    for path, tasks in sorted(by_path.items()):
        rec = record(path, tasks)
        if rec["id"] in seen:
            report.skip(rec["_where"], f"dataset path {path} differs from another only in case or punctuation")
            continue
        seen.add(rec["id"])
        out.append(rec)
    return out
