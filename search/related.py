"""Alternatives, recommendations and side-by-side comparisons built on the engine's vectors and graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from graph.scores import COMPONENTS

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


def _fmt(value: float | None) -> str:
    if value is None:
        return "Unknown"
    value = round(value, 2)
    return f"{value:.2f}".rstrip("0").rstrip(".") if value not in (0, 1) else str(int(value))


def compare(engine: Engine, a: str, b: str) -> dict:
    """Everything a comparison page shows, computed: rows, headline, verdict, capability alignment."""
    for artifact_id in (a, b):
        if artifact_id not in engine.artifacts:
            raise KeyError(artifact_id)
    art = {a: engine.artifacts[a], b: engine.artifacts[b]}
    sc = {x: engine.scores(x) for x in (a, b)}
    tm = engine.times_matched([a, b])
    comp = {x: sc[x].to_dict() for x in (a, b)}
    rows = [
        {"feature": "Type", "a": art[a].type.capitalize(), "b": art[b].type.capitalize()},
        {"feature": "UnfragileRank", "a": f"{comp[a]['unfragile_rank']}/100", "b": f"{comp[b]['unfragile_rank']}/100"},
    ]
    for c in ("adoption", "quality", "ecosystem", "match_graph"):
        rows.append({"feature": LABELS[c].title() if c != "match_graph" else "Match Graph",
                     "a": _fmt(comp[a][c]), "b": _fmt(comp[b][c])})
    rows += [
        {"feature": "Pricing", "a": art[a].pricing.capitalize(), "b": art[b].pricing.capitalize()},
        {"feature": "Capabilities", "a": f"{len(art[a].capabilities)} decomposed",
         "b": f"{len(art[b].capabilities)} decomposed"},
        {"feature": "Times Matched", "a": str(tm.get(a, 0)), "b": str(tm.get(b, 0))},
    ]
    ra, rb = comp[a]["unfragile_rank"], comp[b]["unfragile_rank"]
    name = {x: art[x].name for x in (a, b)}
    if ra == rb:
        headline = f"{name[a]} and {name[b]} rank the same at {ra}/100."
    elif leads(comp[a], comp[b]) == 0:
        headline = f"{name[a]} ({ra}/100) and {name[b]} ({rb}/100) rank within their uncertainty."
    else:
        hi, lo = (a, b) if ra > rb else (b, a)
        headline = (f"{name[hi]} ranks higher at {comp[hi]['unfragile_rank']}/100 vs {name[lo]} at "
                    f"{comp[lo]['unfragile_rank']}/100.")
    headline += " Capability-level comparison backed by match graph evidence from real search data."
    verdict = _verdict(name, a, b, comp)
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
    return {"a": a, "b": b, "names": name, "headline": headline, "rows": rows, "verdict": verdict,
            "scores": comp, "capability_alignment": alignment,
            "capabilities": {x: [{"capability_id": c.id, **c.to_record(), "title": c.label}
                                 for c in art[x].capabilities] for x in (a, b)}}


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


def _verdict(name: dict[str, str], a: str, b: str, comp: dict) -> str:
    """Who leads on which component, only where the difference is larger than the uncertainty of both
    scores (differences under 0.05 read as ties too); an UnfragileRank lead likewise."""
    lead: dict[str, list[str]] = {a: [], b: []}
    ties, unknown = [], []
    for c in COMPONENTS:
        if comp[a].get(c) is None or comp[b].get(c) is None:  # unknown on a side: no lead either way
            unknown.append(LABELS[c])
            continue
        who = leads(comp[a], comp[b], c)
        if who == 0:
            ties.append(LABELS[c])
        else:
            lead[a if who > 0 else b].append(LABELS[c])
    ra, rb = comp[a]["unfragile_rank"], comp[b]["unfragile_rank"]
    overall = leads(comp[a], comp[b])
    if ra == rb:
        first = f"{name[a]} and {name[b]} both score {ra}/100."
    elif overall == 0:
        first = (f"{name[a]} at {ra}/100 (±{uncertainty(comp[a]):.0f}) and {name[b]} at {rb}/100 "
                 f"(±{uncertainty(comp[b]):.0f}) are within their uncertainty: neither leads overall.")
    else:
        hi, lo = (a, b) if overall > 0 else (b, a)
        first = f"{name[hi]} scores higher at {comp[hi]['unfragile_rank']}/100 vs {name[lo]} at " \
                f"{comp[lo]['unfragile_rank']}/100."
    parts = []
    for x, verb in ((a, "leads on"), (b, "is stronger on")):
        if lead[x]:
            parts.append(f"{name[x]} {verb} {_join(lead[x])}")
    sentence = first
    if parts:
        sentence += " " + ", while ".join(parts) + "."
    if ties:
        sentence += f" They tie on {_join(ties)}."
    if unknown:
        sentence += (f" {_join(unknown).capitalize()} {'is' if len(unknown) == 1 else 'are'} unknown for at "
                     "least one of them (left out, weights renormalised).")
    return sentence


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
