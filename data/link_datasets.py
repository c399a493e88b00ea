"""Link models to the datasets they were evaluated on, from the names in their `signals.benchmarks`.

`link(records)` resolves every benchmark name of every non-dataset record against the dataset records'
names, ids and aliases (graph/evaluations.py: letters and digits only, a name that fits exactly one
dataset) and writes the resolved dataset ids to the record's `facts.evaluated_on`. Names that resolve to
no dataset, or to several, stay text in `signals.benchmarks`. The API shows both directions
(`datasets` on a model, `evaluated_models` on a dataset) from the same resolution at run time.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from graph.catalog import Artifact  # noqa: E402
from graph.evaluations import evaluated_on, resolver  # noqa: E402


def link(records: list[dict[str, Any]], writable: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """Write `facts.evaluated_on` on the `writable` records (default: all) whose benchmarks resolve."""
    arts = {r["id"]: Artifact.from_record(r, validate=False) for r in records}
    resolve = resolver(arts.values())
    datasets = {a.id for a in arts.values() if a.type == "dataset"}
    linked = names = resolved = 0
    for r in writable if writable is not None else records:
        if r["type"] == "dataset" or not r.get("signals", {}).get("benchmarks"):
            continue
        names += len(r["signals"]["benchmarks"])
        ids = evaluated_on(arts[r["id"]], resolve, datasets) if r["id"] in arts else []
        if ids:
            r.setdefault("facts", {})["evaluated_on"] = ids[:500]
            linked += 1
            resolved += len(ids)
    return {"models_linked": linked, "benchmark_results": names, "dataset_links": resolved}
