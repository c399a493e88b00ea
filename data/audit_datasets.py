"""Audit of issue 24's datasets, quality and adoption over a list of catalog records.

`report(records)` counts: dataset artifacts, those with a licence field (a value or "unknown") and a URL;
records whose Quality comes from a named, dated source (a benchmark result with `source` and `date` that
graph/scores.py compares over at least MIN_COMPARABLE records, or a compared arena Elo); records whose
Adoption is known from usage (downloads, stars, likes, votes, dependents compared within their type over
at least MIN_COMPARABLE records). The integrator wires it into `python -m data.audit`.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from graph.catalog import Artifact  # noqa: E402
from graph.facts import facts_of  # noqa: E402
from graph.scores import MIN_COMPARABLE, ScoreBook  # noqa: E402


def _named_dated(a: Artifact) -> bool:
    return any(isinstance(b, dict) and b.get("source") and b.get("date")
               for b in a.signals.get("benchmarks") or [])


def report(records: list[dict[str, Any]]) -> dict[str, Any]:
    arts = [Artifact.from_record(r, validate=False) for r in records]
    book = ScoreBook(arts)
    datasets = [a for a in arts if a.type == "dataset"]
    with_licence = [a for a in datasets if facts_of(a)["license"]]
    with_url = [a for a in datasets if a.url]
    quality = [a for a in arts if book.scores(a.id).components["quality"].known]
    dated = [a for a in quality if _named_dated(a)]
    adoption = [a for a in arts if book.scores(a.id).components["adoption"].known]
    n = len(datasets) or 1
    return {
        "datasets": len(datasets),
        "datasets_with_licence": len(with_licence), "datasets_with_licence_share": round(len(with_licence) / n, 4),
        "datasets_licence_unknown": sum(1 for a in with_licence if facts_of(a)["license"] == "unknown"),
        "datasets_with_url": len(with_url), "datasets_with_url_share": round(len(with_url) / n, 4),
        "datasets_without_licence": sorted(a.id for a in datasets if not facts_of(a)["license"])[:20],
        "datasets_without_url": sorted(a.id for a in datasets if not a.url)[:20],
        "quality_known": len(quality), "quality_named_dated_source": len(dated),
        "quality_by_type": dict(Counter(a.type for a in quality)),
        "adoption_from_usage": len(adoption), "adoption_by_type": dict(Counter(a.type for a in adoption)),
        "min_comparable": MIN_COMPARABLE,
    }


if __name__ == "__main__":
    import json

    rows = []
    for path in [*sorted((REPO_ROOT / "data").glob("*.jsonl")), *sorted((REPO_ROOT / "data/catalog").glob("*.jsonl"))]:
        rows += [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    print(json.dumps(report(rows), indent=1))
