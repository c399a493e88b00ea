#!/usr/bin/env python3
"""LLM Stats open data (llm-stats.com, JonathanChavezTamales/LLMStats, CC-BY-4.0, (c) 2024 jc): benchmark
scores of 126 models for Quality, each flagged self-reported (a maker's claim, `measured: false`) or not.

Read from `flat_benchmark_scores.csv` (derived from the models' model.json with no value changed); scores
are 0..1 (stored as 0..100 in `score`, as published in `value`), dated by `date_recorded`.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, date  # noqa: E402

NAME = "llmstats"
SOURCE = "LLM Stats (llm-stats.com, JonathanChavezTamales/LLMStats, CC-BY-4.0)"


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    out = []
    path = src / "flat_benchmark_scores.csv"
    for line, row in enumerate(csv.DictReader(path.open(encoding="utf-8")), start=2):
        report.rows += 1
        where = f"{path.name}:{line}"
        try:
            value = float(row["score"])
        except (KeyError, ValueError):
            report.skip(where, "no numeric score")
            continue
        if not row.get("model_id") or not row.get("benchmark") or not 0 <= value <= 1:
            report.skip(where, "no model id or benchmark, or a score outside 0..1")
            continue
        claimed = row.get("is_self_reported", "").strip().lower() == "true"
        out.append({"model": row["model_id"], "names": [row["model_id"], row.get("model_name", "")], "where": where,
                    "benchmark": {"name": row["benchmark"].strip(), "value": value, "score": round(value * 100, 2),
                                  "source": SOURCE + ("; self-reported by the maker" if claimed else ""),
                                  "date": date(row.get("date_recorded")) or "2025-05-22", "measured": not claimed}})
    return out
