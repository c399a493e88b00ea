"""Which models were evaluated on which datasets, from the models' benchmark names.

Why: a model's page lists the datasets it was evaluated on and a dataset's page the models evaluated on
it. A model links to a dataset when it says so explicitly (`facts.evaluated_on`, written by
data/link_datasets.py) or when one of its `signals.benchmarks` names resolves, unambiguously, to one
dataset's name, id or alias (`signals.aliases`, `signals.benchmark_names`). A name that fits no dataset,
or several, stays text on the model. Computed over the whole catalog once per catalog change (Engine).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

from graph.catalog import Artifact

_VERSIONISH = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=65536)
def name_key(text: str) -> str:
    """Lowercase letters and digits only: 'SQuAD 2.0' and 'squad_2.0' and 'SQuAD-2-0' are one key."""
    return _VERSIONISH.sub("", str(text).lower())


def dataset_keys(a: Artifact) -> set[str]:
    """The names a dataset answers to: its name, id (whole and last part), aliases and benchmark names."""
    names = [a.name, a.id, a.id.split("/")[-1]]
    for key in ("aliases", "benchmark_names", "tfds_name", "ir_datasets_id"):
        value = a.signals.get(key)
        if isinstance(value, list):
            names += [str(v) for v in value]
        elif isinstance(value, str):
            names.append(value)
    return {k for k in (name_key(n) for n in names) if len(k) >= 3}


def resolver(artifacts: Iterable[Artifact]) -> dict[str, str]:
    """Name key -> dataset id, for the keys that name exactly one dataset."""
    found: dict[str, set[str]] = defaultdict(set)
    for a in artifacts:
        if a.type == "dataset":
            for key in dataset_keys(a):
                found[key].add(a.id)
    return {key: next(iter(ids)) for key, ids in found.items() if len(ids) == 1}


def benchmark_names(a: Artifact) -> list[str]:
    raw = a.signals.get("benchmarks")
    return [str(b["name"]) for b in raw if isinstance(b, dict) and b.get("name")] if isinstance(raw, list) else []


def evaluated_on(a: Artifact, resolve: dict[str, str], known: set[str] | None = None) -> list[str]:
    """Dataset ids a model was evaluated on: explicit ones (that exist, when `known` is given) first."""
    out: dict[str, None] = {}
    explicit = a.facts.get("evaluated_on") or a.signals.get("evaluated_on") or []
    for aid in explicit if isinstance(explicit, list) else []:
        if isinstance(aid, str) and (known is None or aid in known):
            out[aid] = None
    for name in benchmark_names(a):
        aid = resolve.get(name_key(name))
        if aid and aid != a.id:
            out[aid] = None
    return list(out)


class EvaluationIndex:
    """Both directions: model -> datasets it was evaluated on, dataset -> models evaluated on it."""

    def __init__(self, artifacts: Iterable[Artifact]) -> None:
        arts = list(artifacts)
        resolve = resolver(arts)
        datasets = {a.id for a in arts if a.type == "dataset"}
        self.datasets: dict[str, list[str]] = {}
        self.models: dict[str, list[str]] = defaultdict(list)
        for a in arts:
            if a.type == "dataset":
                continue
            ids = evaluated_on(a, resolve, datasets)
            if ids:
                self.datasets[a.id] = ids
                for d in ids:
                    self.models[d].append(a.id)
        for members in self.models.values():
            members.sort()

    def of(self, artifact_id: str) -> tuple[list[str], list[str]]:
        """(datasets it was evaluated on, models evaluated on it)."""
        return list(self.datasets.get(artifact_id, [])), list(self.models.get(artifact_id, []))
