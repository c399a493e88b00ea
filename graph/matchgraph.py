"""The match graph: artifacts provide capabilities; intents match capabilities and artifacts.

Kept in networkx and saved as node-link JSON (never pickle). The Match Graph score is a
weighted PageRank over intent -> capability -> artifact, personalised on intents by how
often they were searched, log-damped and normalised per artifact type.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import networkx as nx

from graph.catalog import Artifact
from graph.feedback import edge_weight
from graph.infra.generation_commit import write_atomic
from graph.store.base import MatchStore


def catalog_graph(artifacts: Iterable[Artifact]) -> nx.DiGraph:
    """Artifact and capability nodes with provides-edges."""
    g = nx.DiGraph()
    for a in artifacts:
        g.add_node(a.id, kind="artifact", type=a.type, name=a.name)
        for c in a.capabilities:
            g.add_node(c.id, kind="capability", title=c.label)
            g.add_edge(a.id, c.id, kind="provides")
    return g


def add_matches(g: nx.DiGraph, store: MatchStore) -> nx.DiGraph:
    """Add intent nodes and intent -> capability / intent -> artifact match edges from the store."""
    for intent in store.intents():
        g.add_node(f"intent:{intent.intent_id}", kind="intent", text=intent.text, searches=intent.searches)
    for intent_id, cap_id, times, sim in store.capability_edges():
        if cap_id in g:
            g.add_edge(f"intent:{intent_id}", cap_id, kind="matched", times=times, similarity=sim,
                       weight=times * max(sim, 0.0))
    for intent_id, artifact_id, stats in store.artifact_edges():
        if artifact_id in g:
            g.add_edge(f"intent:{intent_id}", artifact_id, kind="served", impressions=stats.impressions,
                       clicks=stats.clicks, upvotes=stats.upvotes, downvotes=stats.downvotes,
                       weight=edge_weight(stats))
    return g


def save(g: nx.DiGraph, path: Path) -> None:
    """Write the graph as node-link JSON, atomically."""
    write_atomic(path, json.dumps(nx.node_link_data(g, edges="edges"), separators=(",", ":")).encode())


def load(path: Path) -> nx.DiGraph:
    return nx.node_link_graph(json.loads(path.read_text()), directed=True, edges="edges")


def match_scores(g: nx.DiGraph) -> dict[str, float]:
    """Match Graph score (0..1) per matched artifact.

    The walk starts at intents (weighted by searches) and flows intent -> capability ->
    artifact (capability edges reversed to point at their artifact) and intent -> artifact,
    with feedback-weighted edges. Scores are log-damped (log1p of the mass relative to a
    uniform share) and divided by the best of the same artifact type.
    """
    intents = {n: d.get("searches", 1) for n, d in g.nodes(data=True)
               if d.get("kind") == "intent" and d.get("searches", 1) > 0}  # logged-only intents do not walk
    if not intents:
        return {}
    walk = nx.DiGraph()
    for u, v, d in g.edges(data=True):
        kind = d.get("kind")
        if kind == "provides":
            walk.add_edge(v, u, weight=1.0)
        elif kind in ("matched", "served"):
            walk.add_edge(u, v, weight=float(d.get("weight", 1.0)))
    for node in intents:
        walk.add_node(node)
    rank = nx.pagerank(walk, alpha=0.85, personalization=intents, weight="weight", max_iter=200, tol=1e-9)
    artifacts = {n: d for n, d in g.nodes(data=True) if d.get("kind") == "artifact"}
    served = {v for u, v, d in g.edges(data=True) if d.get("kind") in ("served", "matched")}
    served |= {u for u, v, d in g.edges(data=True) if d.get("kind") == "provides" and v in served}
    uniform = 1.0 / max(1, walk.number_of_nodes())
    damped: dict[str, float] = {}
    for node in artifacts:
        if node in served and rank.get(node, 0.0) > 0:
            damped[node] = math.log1p(rank[node] / uniform)
    best: dict[str, float] = defaultdict(float)
    for node, value in damped.items():
        best[artifacts[node].get("type", "")] = max(best[artifacts[node].get("type", "")], value)
    return {n: round(v / best[artifacts[n].get("type", "")], 6) for n, v in damped.items()
            if best[artifacts[n].get("type", "")] > 0}


def co_matched(store: MatchStore) -> dict[str, int]:
    """For each artifact, how many other artifacts were served to the same intents."""
    by_intent: dict[str, set[str]] = defaultdict(set)
    for intent_id, artifact_id, _ in store.artifact_edges():
        by_intent[intent_id].add(artifact_id)
    neighbours: dict[str, set[str]] = defaultdict(set)
    for members in by_intent.values():
        if len(members) > 50:
            members = set(sorted(members)[:50])
        for a in members:
            neighbours[a] |= members - {a}
    return {a: len(n) for a, n in neighbours.items()}


def intents_by_artifact(store: MatchStore) -> dict[str, set[str]]:
    """For each artifact, the intents it was served to (for "matched by the same intents" reasons)."""
    out: dict[str, set[str]] = defaultdict(set)
    for intent_id, artifact_id, _ in store.artifact_edges():
        out[artifact_id].add(intent_id)
    return dict(out)
