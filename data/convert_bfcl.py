#!/usr/bin/env python3
"""Berkeley Function-Calling Leaderboard v4 (ShishirPatil/gorilla gh-pages, Apache-2.0): function-calling
accuracy of 109 models, measured by the BFCL team, dated by its update (2025-12-16), for Quality.

`Model` ("GPT-4.1-2025-04-14 (FC)") loses its mode suffix to give the API id; `Model Link` gives the
Hugging Face id of open models. Overall accuracy and the Non-Live, Live and Multi-Turn accuracies.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report  # noqa: E402

NAME = "bfcl"
SOURCE = "Berkeley Function-Calling Leaderboard v4 (gorilla.cs.berkeley.edu/leaderboard, Apache-2.0)"
UPDATED = "2025-12-16"
COLUMNS = (("Overall Acc", "BFCL v4 overall"), ("Non-Live AST Acc", "BFCL v4 non-live AST"),
           ("Live Acc", "BFCL v4 live"), ("Multi Turn Acc", "BFCL v4 multi-turn"))
_HF = re.compile(r"huggingface\.co/([^/\s]+/[^/\s?#]+)")


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    out = []
    path = src / "data_overall.csv"
    for line, row in enumerate(csv.DictReader(path.open(encoding="utf-8")), start=2):
        report.rows += 1
        where = f"{path.name}:{line}"
        model = re.sub(r"\s*\((?:FC|Prompt)[^)]*\)\s*$", "", row.get("Model", "")).strip()
        if not model:
            report.skip(where, "no model name")
            continue
        hf = _HF.search(row.get("Model Link", ""))
        for column, name in COLUMNS:
            try:
                value = float(row.get(column, "").strip().rstrip("%"))
            except ValueError:
                continue
            out.append({"model": model, "names": [model, hf.group(1) if hf else ""], "where": where,
                        "benchmark": {"name": name, "metric": "accuracy (%)", "value": value,
                                      "score": min(100.0, max(0.0, value)), "source": SOURCE, "date": UPDATED,
                                      "measured": True}})
    return out
