#!/usr/bin/env python3
"""Epoch AI Benchmarking Hub export (CC-BY-4.0): benchmark results of model versions, for Quality.

Credit (as its SOURCE.md asks): Epoch AI, 'AI Benchmarking'. Published online at epoch.ai. Retrieved from
'https://epoch.ai/benchmarks'. Epoch-run benchmarks (gpqa_diamond, math_level_5, ...) are independent
measurements dated by their run ("Started at"). The `*_external.csv` results Epoch collected: independent
where the source is a leaderboard or dashboard, a claim (`measured: false`) where it is a report or paper;
dated by the export (2025-11-02). Columns that are not a 0..1 or percent score (Elo, minutes) are left out.
Output: result rows (`model`, `benchmark`) that data/join_quality.py attaches to catalog models.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, date  # noqa: E402

NAME = "epoch-benchmarks"
SOURCE = "Epoch AI, 'AI Benchmarking', epoch.ai/benchmarks (CC-BY-4.0)"
EXPORT_DATE = "2025-11-02"
EPOCH_RUN = {"gpqa_diamond": "GPQA Diamond", "math_level_5": "MATH Level 5", "frontiermath": "FrontierMath",
             "otis_mock_aime_2024_2025": "OTIS Mock AIME 2024-2025", "frontiermath_tier_4": "FrontierMath Tier 4",
             "swe_bench_verified": "SWE-bench Verified"}
EXTERNAL = {"adversarial_nli": "ANLI (Adversarial NLI)", "aider_polyglot": "Aider Polyglot", "arc_agi": "ARC-AGI",
            "arc_ai2": "ARC Challenge (AI2)", "balrog": "BALROG", "bbh": "BIG-Bench Hard", "bool_q": "BoolQ",
            "cad_eval": "CadEval", "common_sense_qa_2": "CommonsenseQA 2.0", "cybench": "Cybench",
            "deepresearchbench": "DeepResearch Bench", "fictionlivebench": "Fiction.LiveBench", "gsm8k": "GSM8K",
            "hella_swag": "HellaSwag", "lambada": "LAMBADA", "live_bench": "LiveBench", "mmlu": "MMLU",
            "open_book_qa": "OpenBookQA", "os_universe": "OSUniverse", "os_world": "OSWorld", "piqa": "PIQA",
            "science_qa": "ScienceQA", "simplebench": "SimpleBench", "superglue": "SuperGLUE",
            "the_agent_company": "TheAgentCompany", "trivia_qa": "TriviaQA", "vpct": "VPCT", "weirdml": "WeirdML",
            "wino_grande": "WinoGrande"}
INDEPENDENT = re.compile(r"leaderboard|dashboard|website|arena|github|paperswithcode|experiment|epoch|crfm|helm",
                         re.I)
PERCENT_FILES = ("live_bench", "os_world", "aider_polyglot")


def _float(text: str) -> float | None:
    try:
        return float(str(text).strip().rstrip("%"))
    except ValueError:
        return None


def _title(stem: str) -> str:
    base = stem.removesuffix("_external")
    return EXTERNAL.get(base) or base.replace("_", " ").title()


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((src / "data").glob("*.csv")):
        stem = path.stem
        if stem == "epoch_capabilities_index":
            continue
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        if not rows:
            continue
        column = "Best score (across scorers)" if stem in EPOCH_RUN else list(rows[0])[1]
        values = [v for v in (_float(r.get(column, "")) for r in rows) if v is not None]
        scale = 100.0 if values and max(values) <= 1 else 1.0 if stem.removesuffix("_external") in PERCENT_FILES \
            else None
        for line, row in enumerate(rows, start=2):
            report.rows += 1
            where = f"data/{path.name}:{line}"
            value = _float(row.get(column, ""))
            model = (row.get("Model version") or "").strip()
            if scale is None:
                report.skip(where, f"{column} is not a 0..1 or percent score")
                continue
            if value is None or not model:
                report.skip(where, "no model version or score")
                continue
            if stem in EPOCH_RUN:
                name, measured, when = EPOCH_RUN[stem], True, date(row.get("Started at")) or EXPORT_DATE
                how = "run by Epoch AI"
            else:
                name, source = _title(stem), (row.get("Source") or "").strip()
                measured, when = bool(INDEPENDENT.search(source)), EXPORT_DATE
                how = f"collected by Epoch AI from {source}" if source else "collected by Epoch AI"
            out.append({"model": model, "names": [model, row.get("Name") or ""], "where": where,
                        "benchmark": {"name": name, "metric": column, "value": value,
                                      "score": round(min(100.0, max(0.0, value * scale)), 2),
                                      "source": f"{SOURCE}; {how}"[:300], "date": when, "measured": measured}})
    return out
