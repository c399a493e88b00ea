"""Match-count analytics for dashboards."""

from __future__ import annotations

from flask import Blueprint
from spectree import Response

from api.errors import ApiError
from api.models import (
    ErrorResponse,
    PopularQuery,
    PopularResponse,
    QueriesQuery,
    QueriesResponse,
    SearchStatsQuery,
    SearchStatsResponse,
    SummaryResponse,
    TimelineQuery,
    TimelineResponse,
    TopQuery,
    TopResponse,
)
from api.spec import spec
from api.state import engine

bp = Blueprint("analytics", __name__, url_prefix="/v1/analytics")


@bp.get("/top")
@spec.validate(resp=Response(HTTP_200=TopResponse, HTTP_422=ErrorResponse), tags=["analytics"])
def top(query: TopQuery):
    """Most matched artifacts, all time or since a day."""
    eng = engine()
    rows = eng.top_artifacts(limit=query.limit, since=query.since)
    items = [{"artifact_id": a, "name": eng.artifacts[a].name if a in eng.artifacts else a,
              "type": eng.artifacts[a].type if a in eng.artifacts else "deleted", "times_matched": n}
             for a, n in rows]
    return {"metric": query.metric, "since": query.since, "items": items}


@bp.get("/artifacts/<path:artifact_id>/timeline")
@spec.validate(resp=Response(HTTP_200=TimelineResponse, HTTP_404=ErrorResponse, HTTP_422=ErrorResponse),
               tags=["analytics"])
def timeline(artifact_id: str, query: TimelineQuery):
    """Times Matched per day of one artifact."""
    eng = engine()
    if artifact_id not in eng.artifacts:
        raise ApiError(404, f"id: no artifact {artifact_id[:200]!r}", "id")
    points = [{"day": d, "times_matched": n} for d, n in eng.timeline(artifact_id, since=query.since)]
    return {"artifact_id": artifact_id, "bucket": query.bucket, "points": points}


@bp.get("/queries")
@spec.validate(resp=Response(HTTP_200=QueriesResponse, HTTP_422=ErrorResponse), tags=["analytics"])
def queries(query: QueriesQuery):
    """Zero-result, low-confidence or most frequent queries."""
    rows = engine().queries(query.kind, limit=query.limit)
    return {"kind": query.kind, "items": [vars(r) for r in rows]}


@bp.get("/searches")
@spec.validate(resp=Response(HTTP_200=SearchStatsResponse, HTTP_422=ErrorResponse), tags=["analytics"])
def searches(query: SearchStatsQuery):
    """The owner's view of searches over a range of days: the most searched queries with their click-through
    rate, and the zero-result and low-confidence ones (the catalog's gaps)."""
    if query.since and query.until and query.since > query.until:
        raise ApiError(422, "until: the range ends before it starts", "until")
    return {"since": query.since, "until": query.until,
            **engine().search_stats(since=query.since, until=query.until, limit=query.limit)}


@bp.get("/popular")
@spec.validate(resp=Response(HTTP_200=PopularResponse, HTTP_422=ErrorResponse), tags=["analytics"])
def popular(query: PopularQuery):
    """Queries fit for a public "Popular searches" list: from enough distinct users (MATCHGRAPH_POPULAR_MIN_USERS,
    default 5), confident, 3-80 characters, not hidden by an operator nor in the blocklist file."""
    return {"items": [{"query": q.query, "users": q.users} for q in engine().popular_searches(limit=query.limit)]}


@bp.get("/summary")
@spec.validate(resp=Response(HTTP_200=SummaryResponse), tags=["analytics"])
def summary():
    """Totals for a dashboard header."""
    eng = engine()
    s = eng.summary()
    return {"artifacts": len(eng.artifacts), "capabilities": len(eng.capabilities),
            **{k: s.get(k, 0) for k in ("searches", "feedback", "clicks", "intents", "matched_artifacts",
                                        "zero_result_searches", "low_confidence_searches",
                                        "filtered_empty_searches", "preview_searches", "settled_searches")},
            "searches_per_day": [{"day": d, "searches": n} for d, n in eng.searches_per_day()]}
