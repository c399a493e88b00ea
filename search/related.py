"""Alternatives, recommendations and side-by-side comparisons built on the engine's vectors and graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from graph.credits import credits_of
from search import decide

if TYPE_CHECKING:  # Engine calls these with itself (Engine.similar, recommend, compare)
    from search.engine import Engine

TIE = 0.05
LABELS = {"adoption": "adoption", "quality": "quality", "ecosystem": "ecosystem",
          "match_graph": "match graph", "freshness": "freshness"}


@dataclass
class Alternative:
    artifact_id: str
    score: float
    reasons: list[str]


def _matrix(engine: Engine, exclude: set[str], types: Sequence[str]) -> tuple[list[str], np.ndarray]:
    return engine.artifact_matrix(exclude, types)


def capability_overlap(engine: Engine, a: str, b: str) -> list[tuple[str, str, float]]:
    """For each capability of `a`, its closest capability of `b` and their cosine similarity."""
    caps_a = engine.artifacts[a].capabilities
    caps_b = engine.artifacts[b].capabilities
    va = np.stack([engine.capability_vector(c.id) for c in caps_a])
    vb = np.stack([engine.capability_vector(c.id) for c in caps_b])
    sims = va @ vb.T
    best = sims.argmax(axis=1)
    return [(caps_a[i].id, caps_b[j].id, float(sims[i, j])) for i, j in enumerate(best)]


def _reasons(engine: Engine, a: str, b: str, shared: int) -> list[str]:
    overlap = sorted(capability_overlap(engine, a, b), key=lambda x: -x[2])
    close = [o for o in overlap if o[2] >= 0.5]
    reasons = []
    caps = engine.capabilities
    if close:
        first = close[0]
        reasons.append(f"{len(close)} of {len(overlap)} capabilities overlap; closest: "
                       f"'{caps[first[0]].label}' ~ '{caps[first[1]].label}' ({first[2]:.2f})")
    elif overlap:
        first = overlap[0]
        reasons.append(f"no capability overlaps closely; nearest: '{caps[first[0]].label}' ~ "
                       f"'{caps[first[1]].label}' ({first[2]:.2f})")
    reasons.append(f"matched by the same search intents {shared} time{'s' if shared != 1 else ''}"
                   if shared else "not yet matched by the same search intents")
    ra, rb = engine.scores(a).unfragile_rank, engine.scores(b).unfragile_rank
    if ra == rb:
        reasons.append(f"same UnfragileRank ({rb}/100)")
    else:
        diff = abs(rb - ra)
        reasons.append(f"UnfragileRank {rb}/100, {diff} point{'s' if diff != 1 else ''} "
                       f"{'higher' if rb > ra else 'lower'}")
    art_a, art_b = engine.artifacts[a], engine.artifacts[b]
    if art_a.type != art_b.type:
        reasons.append(f"a {art_b.type} instead of a {art_a.type}")
    return reasons


def similar(engine: Engine, artifact_id: str, k: int = 5, types: Sequence[str] = ()) -> list[Alternative]:
    """"Need something different?": nearest artifacts by capability vectors, boosted by shared intents."""
    if artifact_id not in engine.artifacts:
        raise KeyError(artifact_id)
    ids, mat = _matrix(engine, {artifact_id}, types)
    if not ids:
        return []
    sims = mat @ engine.artifact_vector(artifact_id)
    by_artifact = engine.intents_by_artifact()
    mine = by_artifact.get(artifact_id, set())
    pool = np.argsort(-sims)[: max(50, 5 * k)]
    scored = []
    for i in pool:
        other = ids[i]
        shared = len(mine & by_artifact.get(other, set()))
        scored.append((float(sims[i]) + 0.05 * np.log1p(shared), other, shared))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [Alternative(o, round(s, 4), _reasons(engine, artifact_id, o, sh)) for s, o, sh in scored[:k]]


def recommend(engine: Engine, positive: Sequence[str], negative: Sequence[str] = (), query: str | None = None,
              k: int = 10, types: Sequence[str] = ()) -> list[Alternative]:
    """Like the positives, unlike the negatives (Qdrant's best-score strategy), optionally near a query.

    A candidate scores its best similarity to any positive (and to the query), minus how close it
    comes to the nearest negative; candidates closer to a negative than to every positive sink.
    """
    for artifact_id in [*positive, *negative]:
        if artifact_id not in engine.artifacts:
            raise KeyError(artifact_id)
    ids, mat = _matrix(engine, set(positive) | set(negative), types)
    if not ids:
        return []
    anchors = [engine.artifact_vector(p) for p in positive]
    if query:
        anchors.append(engine.encode_query(query))
    pos = (mat @ np.stack(anchors).T).max(axis=1)
    neg = (mat @ np.stack([engine.artifact_vector(n) for n in negative]).T).max(axis=1) if negative \
        else np.zeros(len(ids))
    liked = pos >= neg
    score = np.where(liked, pos - 0.5 * neg, -neg) if negative else pos
    out = []
    # cosines can be negative, so scores alone would not keep every liked candidate above every sinking one
    for i in np.lexsort((np.asarray(ids), -score, ~liked))[:k]:
        reasons = [f"similarity {pos[i]:.2f} to what you liked"]
        if negative:
            reasons.append(f"similarity {neg[i]:.2f} to what you ruled out")
        out.append(Alternative(ids[i], round(float(score[i]), 4), reasons))
    return out


def compare(engine: Engine, *ids: str) -> dict:
    """Everything a comparison of 2-4 artifacts shows, computed: fact rows (numbers with display strings),
    per-need winners and the verdict (search/decide.py), headline, and for two the capability alignment."""
    if not 2 <= len(ids) <= 4 or len(set(ids)) != len(ids):
        raise ValueError("compare 2 to 4 different artifacts")
    for artifact_id in ids:
        if artifact_id not in engine.artifacts:
            raise KeyError(artifact_id)
    ids_ = list(ids)
    art = {x: engine.artifacts[x] for x in ids_}
    comp = {x: engine.scores(x).to_dict() for x in ids_}
    name = {x: art[x].name for x in ids_}
    table, shared = decide.rows(ids_, art, {x: engine.facts(x) for x in ids_}, comp, engine.times_matched(ids_))
    after = next(i for i, r in enumerate(table) if r["key"] == "unfragile_rank") + 1
    table[after:after] = _component_rows(ids_, comp)
    decided = decide.verdict(ids_, name, table, shared)
    for row in table:  # the first two displays beside the values, as the two-artifact API always had them
        row["a"], row["b"] = row["values"][0]["display"], row["values"][1]["display"]
    ranks = ", ".join(f"{name[x]} {comp[x]['unfragile_rank']}/100" for x in ids_)
    if decided["overall"]:
        headline = f"{name[decided['overall']]} ranks highest, clear of the others' uncertainty ({ranks})."
    else:
        headline = f"UnfragileRanks within their uncertainty ({ranks}): choose by the facts below."
    out = {"a": ids_[0], "b": ids_[1], "ids": ids_, "names": name, "headline": headline, "rows": table,
           "verdict": decided["verdict"], "overall": decided["overall"], "needs": decided["needs"],
           "shared_benchmarks": shared, "scores": comp, "capability_alignment": [],
           "credits": {x: engine.credits(x) for x in ids_},
           "capabilities": {x: [{"capability_id": c.id, **c.to_record(), "title": c.label}
                                for c in art[x].capabilities] for x in ids_}}
    if len(ids_) == 2:
        out["capability_alignment"] = _alignment(engine, ids_[0], ids_[1])
    return out


def _component_rows(ids: list[str], comp: dict) -> list[dict]:
    """The UnfragileRank components other than adoption (a row of its own), 0..1 with a 0-100 display."""
    out = []
    for c in ("quality", "ecosystem", "match_graph", "freshness"):
        out.append({"key": c, "feature": LABELS[c].capitalize() if c != "match_graph" else "Match Graph",
                    "better": "higher",
                    "values": [{"artifact_id": x, "value": comp[x][c],
                                "display": decide.NO_DATA if comp[x][c] is None else str(round(100 * comp[x][c]))}
                               for x in ids]})
    return out


def _alignment(engine: Engine, a: str, b: str) -> list[dict]:
    art = {a: engine.artifacts[a], b: engine.artifacts[b]}
    counts = engine.capability_times_matched([c.id for x in (a, b) for c in art[x].capabilities])
    alignment = []
    for left, right in ((a, b), (b, a)):
        for cap_id, other_id, sim in capability_overlap(engine, left, right):
            alignment.append({
                "artifact_id": left, "capability_id": cap_id, "title": engine.capabilities[cap_id].label,
                "counterpart_id": other_id, "counterpart_title": engine.capabilities[other_id].label,
                "similarity": round(sim, 4), "times_matched": counts.get(cap_id, 0),
                "counterpart_times_matched": counts.get(other_id, 0),
            })
    return alignment


def uncertainty(scores: dict, component: str | None = None) -> float:
    """Half-width of a score's interval (UnfragileRank points when `component` is None; 0 when unknown)."""
    if component is None:
        lo, hi = scores.get("unfragile_rank_interval", [scores["unfragile_rank"]] * 2)
        return max(scores["unfragile_rank"] - lo, hi - scores["unfragile_rank"])
    explained = scores.get("explanation", {}).get(component)
    if not explained or explained.get("value") is None or "interval" not in explained:
        return 0.0
    lo, hi = explained["interval"]
    return max(explained["value"] - lo, hi - explained["value"])


def leads(sa: dict, sb: dict, component: str | None = None) -> int:
    """+1 / -1 when a / b leads by more than the uncertainty of both (and, for components, more than TIE);
    0 when the difference is within it. UnfragileRank leads need more than the sum of both half-widths."""
    if component is None:
        diff = sa["unfragile_rank"] - sb["unfragile_rank"]
        margin = uncertainty(sa) + uncertainty(sb)
        return 0 if diff == 0 or abs(diff) <= margin else (1 if diff > 0 else -1)
    diff = sa[component] - sb[component]
    margin = max(TIE, uncertainty(sa, component) + uncertainty(sb, component))
    return 0 if abs(diff) < margin else (1 if diff > 0 else -1)


def credits(engine: Engine, artifact_id: str) -> list[dict]:
    """The sources of the artifact's record with their licence and the credit they ask (graph/credits.py)."""
    return credits_of(engine.artifacts[artifact_id])
