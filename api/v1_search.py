"""Search and feedback: the semantic search box."""

from __future__ import annotations

from flask import Blueprint, jsonify
from spectree import Response

from api import metrics
from api.errors import ApiError
from api.models import Accepted, ErrorResponse, FeedbackRequest, SearchQuery, SearchResponse
from api.serialize import search_response
from api.spec import spec
from api.state import engine
from graph.store.base import NotServed, UnknownSearch

bp = Blueprint("search", __name__, url_prefix="/v1")


@bp.get("/search")
@spec.validate(resp=Response(HTTP_200=SearchResponse, HTTP_422=ErrorResponse, HTTP_503=ErrorResponse),
               tags=["search"])
def search(query: SearchQuery):
    """Search artifacts by intent; records the match edges of what is served."""
    eng = engine()
    with metrics.SEARCH_SECONDS.time():
        result = eng.search(query.q, k=query.k, offset=query.offset,
                            types=[query.type] if query.type else (),
                            pricing=[query.pricing] if query.pricing else (), record=query.record)
    metrics.SEARCHES.inc()
    if not result.hits:
        metrics.ZERO_RESULTS.inc()
    resp = jsonify(search_response(eng, result, recorded=query.record))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/feedback")
@spec.validate(json=FeedbackRequest, resp=Response(HTTP_202=Accepted, HTTP_404=ErrorResponse,
                                                   HTTP_422=ErrorResponse), tags=["search"])
def feedback(json: FeedbackRequest):
    """Record a click, dwell or vote on a served result; it shapes later searches."""
    if json.event == "dwell" and json.dwell_ms is None:
        raise ApiError(422, "dwell_ms: required when event is dwell", "dwell_ms")
    try:
        engine().feedback(json.search_id, json.artifact_id, json.event, json.dwell_ms or 0)
    except UnknownSearch:
        raise ApiError(404, f"search_id: no search {json.search_id!r}", "search_id") from None
    except NotServed:
        raise ApiError(422, f"artifact_id: {json.artifact_id!r} was not served by that search",
                       "artifact_id") from None
    metrics.FEEDBACK.labels(json.event).inc()
    return Accepted(), 202
