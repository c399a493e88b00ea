#!/usr/bin/env python3
"""lm-evaluation-harness task list (the README is MIT): one artifact per task family of the tasks README.

A family that is one dataset (SQuAD, HellaSwag, ...) is a `dataset` artifact; a suite or leaderboard that
groups other tasks stays a `benchmark`. The harness's MIT licence covers its README and task code, not the
datasets: each family's own licence is not in the source, so it is "unknown" (pricing `free`: the task
definitions cost nothing). Capabilities: the description's sentences and the languages it evaluates.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, capability, clean, first_sentences, make_id, tags  # noqa: E402

NAME = "lm-eval"
ATTRIBUTION = "lm-evaluation-harness task list (EleutherAI/lm-evaluation-harness, lm_eval/tasks/README.md, MIT)"
SUITE = re.compile(r"\b(suite|leaderboard|collection of|group of|tasks from|benchmarks? (?:suite|collection)|"
                   r"aggregat|variety of (?:tasks|benchmarks)|multiple (?:tasks|benchmarks|datasets)|"
                   r"several (?:tasks|benchmarks|datasets))", re.I)
BASE = "https://github.com/EleutherAI/lm-evaluation-harness/tree/main/lm_eval/tasks/"
_LINK = re.compile(r"\[([^\]]+)\]\(([^)]*)\)")


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for line_no, line in enumerate((src / "tasks-README.md").read_text(encoding="utf-8").splitlines(), start=1):
        if not line.startswith("|") or line.startswith("|--") or "Task Family" in line or "---" in line[:8]:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        report.rows += 1
        where = f"tasks-README.md:{line_no}"
        link = _LINK.search(cells[0]) if cells else None
        if len(cells) < 2 or not link or not clean(cells[1]):
            report.skip(where, "not a task row with a linked name and a description")
            continue
        name, rel = clean(link.group(1)), link.group(2).strip()
        desc = clean(cells[1])
        languages = clean(cells[2]) if len(cells) > 2 else ""
        first = first_sentences(desc, 400) or name
        where_in = f" Languages / modalities: {languages}." if languages else ""
        caps = [capability(f"Evaluate: {name}", f"{first}{where_in} Runs in lm-evaluation-harness as task "
                                                 f"family {name}.")]
        kind = "benchmark" if SUITE.search(desc) else "dataset"
        aid = make_id("bench", name)
        url = BASE + rel.removesuffix("README.md").rstrip("/") if not rel.startswith("http") else rel
        if aid in records:
            report.skip(where, f"duplicate task family: {name}")
            continue
        records[aid] = {
            "id": aid, "name": name, "type": kind, "pricing": "free", "description": desc,
            "url": url,
            "tags": tags([kind, "evaluation", "lm-evaluation-harness",
                          *[x.strip() for x in languages.split(",")][:4]]),
            "signals": {"source": f"{ATTRIBUTION}: {where}", "license": "unknown",
                        "languages": [x.strip() for x in languages.split(",") if x.strip()][:50],
                        "tasks": ["evaluation"], "homepage": url, "frameworks": ["lm-evaluation-harness"]},
            "capabilities": caps, "_where": where,
        }
    return list(records.values())
