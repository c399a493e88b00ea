"""Engine objects -> response dicts, shared by the API blueprints and the pages."""

from __future__ import annotations

import re

from graph.catalog import Artifact
from search.engine import Engine, SearchResult, Shown

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def search_response(result: SearchResult, shown: Shown, engine: Engine | None = None) -> dict:
    """The response of a search, from what the engine showed of it (`Engine.serve`: the scores, the
    record, the Times Matched). Only maps: the route asked the engine to record. With the `engine`, each
    result carries its facts. The page's last rank is the next page's offset (ranks count from the offset)."""
    counts = shown.times_matched
    ranks = {a: s.rank_and_interval() for a, s in shown.scores.items()}
    end = result.hits[-1].rank if result.hits else 0
    return {
        "search_id": result.search_id, "query": result.query, "took_ms": result.took_ms,
        "total": result.total, "low_confidence": result.low_confidence, "recorded": shown.recorded,
        "understood": result.understood,
        "has_more": bool(result.hits) and end < result.total,
        "next_offset": end if result.hits and end < result.total else None,
        **({"facets": result.facets} if result.facets else {}),
        **({"suggestions": result.suggestions} if result.suggestions else {}),
        "results": [
            {"rank": h.rank, "artifact_id": h.artifact.id, "name": h.artifact.name, "type": h.artifact.type,
             "pricing": h.artifact.pricing, "description": one_line(h.artifact), "url": h.artifact.url or None,
             **({"facts": engine.facts(h.artifact.id)} if engine is not None else {}),
             "score": round(h.score, 4),
             "unfragile_rank": ranks[h.artifact.id][0],
             "unfragile_rank_interval": list(ranks[h.artifact.id][1]),
             "times_matched": counts.get(h.artifact.id, 0),
             "matched_capabilities": [{"capability_id": cid, "title": h.artifact_capability(cid),
                                       "score": round(s, 4)} for cid, s in h.capabilities[:3]],
             "why": h.why}
            for h in result.hits
        ],
    }


def one_line(artifact: Artifact, limit: int = 240) -> str:
    """A one-line description from the record: the first sentence of its description, else of its first
    capability's description or title (never made up here)."""
    for text in [artifact.description] + [c.description or c.label for c in artifact.capabilities[:1]]:
        text = " ".join((text or "").split())
        if text:
            first = SENTENCE_END.split(text, maxsplit=1)[0]
            return first if len(first) <= limit else first[:limit - 1].rsplit(" ", 1)[0] + "…"
    return ""


def artifact_response(engine: Engine, artifact_id: str) -> dict:
    a = engine.artifacts[artifact_id]
    cap_counts = engine.capability_times_matched([c.id for c in a.capabilities])
    datasets, evaluated_models = engine.evaluations(a.id)
    return {
        "artifact_id": a.id, "name": a.name, "type": a.type, "pricing": a.pricing,
        "description": a.description, "url": a.url, "tags": list(a.tags), "signals": a.signals,
        "updated_at": a.updated_at, "aliases": list(a.aliases), "same_as": list(a.same_as),
        "facts": engine.facts(a.id),
        "datasets": datasets, "evaluated_models": evaluated_models, "credits": engine.credits(a.id),
        "capabilities": [{"capability_id": c.id, "title": c.label, "description": c.description,
                          "unique": c.unique, "vs_alternatives": c.vs_alternatives,
                          "times_matched": cap_counts.get(c.id, 0)} for c in a.capabilities],
        "times_matched": engine.times_matched([a.id]).get(a.id, 0),
        "scores": engine.scores(a.id).to_dict(),
    }


def alternatives_response(engine: Engine, alternatives) -> list[dict]:
    book = engine.scorebook()
    out = []
    for alt in alternatives:
        a = engine.artifacts[alt.artifact_id]
        out.append({"artifact_id": a.id, "name": a.name, "type": a.type, "score": alt.score,
                    "unfragile_rank": book.scores(a.id).unfragile_rank, "reasons": alt.reasons})
    return out
