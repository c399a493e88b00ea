"""The text a capability is embedded as: its own text, or (document expansion) its text in its artifact's context.

Why: a capability's text alone often does not say what it belongs to ("Evaluated on BDD100K: ..." or a short
"Classification: reviews"), so a request phrased around the kind of thing wanted (a model, a dataset, an API),
its task or its modality finds no match in it. Expansion at ingest puts the artifact's name, type, tasks,
modalities and datasets (only the record's own facts, see graph/facts.py; never a query) in front of each
capability text before it is embedded. The BM25 document and the text shown are unchanged.
BENCHMARKS.md ("Encoder and document expansion") has the comparison that chose this.
"""

from __future__ import annotations

from graph.catalog import Artifact, Capability
from graph.facts import facts_of

EXPANSIONS = ("plain", "facts")
DEFAULT = "plain"  # the `documents` setting's default (graph/settings.py)
_MAX_ITEMS = 4  # of each list fact: the context stays short, the capability's own words dominate


def _items(values: object) -> list[str]:
    return [str(v) for v in values][:_MAX_ITEMS] if isinstance(values, (list, tuple)) else []


def context(artifact: Artifact) -> str:
    """`name; type; tasks: ...; image to text; datasets: ...` from the artifact's record (tags when it
    states no tasks)."""
    facts = facts_of(artifact)
    parts = [artifact.name, artifact.type]
    tasks = _items(facts.get("tasks")) or _items(artifact.tags)
    if tasks:
        parts.append(("tasks: " if facts.get("tasks") else "tags: ") + ", ".join(tasks))
    inputs, outputs = _items(facts.get("modalities_in")), _items(facts.get("modalities_out"))
    if inputs or outputs:
        parts.append(f"{', '.join(inputs) or '?'} to {', '.join(outputs) or '?'}")
    datasets = _items(facts.get("evaluated_on"))
    if datasets:
        parts.append("datasets: " + ", ".join(datasets))
    return "; ".join(p for p in parts if p)


def capability_text(artifact: Artifact, capability: Capability, expansion: str) -> str:
    """What `capability` (of `artifact`) is embedded as under `expansion`."""
    if expansion == "plain":
        return capability.text
    return f"{context(artifact)}. {capability.text}"


def capability_texts(artifact: Artifact, expansion: str) -> list[str]:
    """The embedded texts of the artifact's capabilities, in their order."""
    if expansion not in EXPANSIONS:
        raise ValueError(f"expansion must be one of {EXPANSIONS}, got {expansion!r}")
    ctx = context(artifact) if expansion != "plain" else ""
    return [f"{ctx}. {c.text}" if ctx else c.text for c in artifact.capabilities]
