"""Search and feedback: the semantic search box."""

from __future__ import annotations

import collections
import logging

from flask import Blueprint, jsonify, request
from spectree import Response
from werkzeug.exceptions import HTTPException

from api import metrics
from api.errors import ApiError
from api.models import (
    CONSTRAINT_PARAMS,
    MAX_FEEDBACK_BATCH,
    Accepted,
    ErrorResponse,
    FeedbackBatchAccepted,
    FeedbackBatchRequest,
    FeedbackRequest,
    SearchQuery,
    SearchResponse,
    SuggestQuery,
    SuggestResponse,
)
from api.serialize import search_response
from api.spec import spec
from api.state import engine, user_of
from search.errors import NotRecorded, NotServed, NotYours, UnknownSearch

bp = Blueprint("search", __name__, url_prefix="/v1")
log = logging.getLogger(__name__)


@bp.get("/search")
@spec.validate(resp=Response(HTTP_200=SearchResponse, HTTP_422=ErrorResponse, HTTP_503=ErrorResponse),
               tags=["search"])
def search(query: SearchQuery):
    """Search artifacts by intent; records the match edges of what is served (GET only: a HEAD records
    nothing), once the response is built (a search that fails is not a match)."""
    eng = engine()
    # recorded: a GET with record=true from an identity within its network's hourly bound (search/identity.py)
    who = eng.admit(user_of(eng, query.user_token)) if request.method == "GET" and query.record else None
    with metrics.SEARCH_SECONDS.time():
        result = eng.search(query.q, k=query.k, offset=query.offset, types=query.type, pricing=query.pricing,
                            record=False, facets=query.facets.split(",") if query.facets else (),
                            user=who or "", preview=query.preview, interpret=query.interpret, ignore=query.ignore,
                            constraints={name: getattr(query, name) for name in CONSTRAINT_PARAMS})
    metrics.SEARCHES.inc()
    if not result.hits:
        metrics.ZERO_RESULTS.inc()
    resp = jsonify(search_response(result, eng.serve(result, record=who is not None), eng))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/suggest")
@spec.validate(resp=Response(HTTP_200=SuggestResponse, HTTP_422=ErrorResponse, HTTP_503=ErrorResponse),
               tags=["search"])
def suggest(query: SuggestQuery):
    """Name completions for a search box, as the user types: prefixes of names and of their words,
    typo tolerant, the most exact match first, then the most adopted. No embedding; nothing recorded."""
    found = engine().suggest(query.q, k=query.k, types=query.type)
    return jsonify({"query": query.q, "suggestions": [
        {"artifact_id": s.artifact_id, "name": s.name, "type": s.type, "match": s.match} for s in found]})


@bp.post("/feedback")
@spec.validate(json=FeedbackRequest, resp=Response(HTTP_202=Accepted, HTTP_404=ErrorResponse,
                                                   HTTP_422=ErrorResponse), tags=["search"])
def feedback(json: FeedbackRequest):
    """Record a click, dwell or vote on a served result; it shapes later searches. Only the identity that
    made the search (the same `user_token`, else the same address and User-Agent) may give it feedback."""
    if json.event == "dwell" and json.dwell_ms is None:
        raise ApiError(422, "dwell_ms: required when event is dwell", "dwell_ms")
    try:
        eng = engine()
        eng.feedback(json.search_id, json.artifact_id, json.event, json.dwell_ms or 0,
                     user=user_of(eng, json.user_token))
    except (UnknownSearch, NotRecorded, NotYours, NotServed) as exc:
        status, code, field, message = refusal(exc, "", json.search_id, json.artifact_id)
        raise ApiError(status, message, field, code=code) from None
    metrics.FEEDBACK.labels(json.event).inc()
    return Accepted(), 202


def refusal(exc: Exception, where: str, search_id: str, artifact_id: str) -> tuple[int, str, str, str]:
    """(status, code, field, message) of refused feedback, counted by reason; `where` prefixes the field
    (`events[3].`) in a batch."""
    if isinstance(exc, NotRecorded):
        reason, status, code, name = "not_recorded", 409, "not_recorded", "search_id"
        message = (f"no feedback on search {search_id!r}: it was not recorded (made with record=false, or "
                   "by an identity beyond its network's hourly bound), so nothing of it is kept")
    elif isinstance(exc, NotYours):
        reason, status, code, name = "not_yours", 403, "forbidden", "search_id"
        message = (f"search {search_id!r} was made by another identity: feedback is taken only with the "
                   "user_token (or, without one, from the client) that made the search")
    elif isinstance(exc, NotServed):
        reason, status, code, name = "not_served", 422, "invalid", "artifact_id"
        message = f"{artifact_id!r} was not served by that search"
    else:
        reason, status, code, name = "unknown_search", 404, "not_found", "search_id"
        message = f"no search {search_id!r} (unknown, or older than the feedback window)"
    metrics.FEEDBACK_REJECTED.labels(reason).inc()
    return status, code, where + name, f"{where}{name}: {message}"


@bp.post("/feedback:batch")
@spec.validate(json=FeedbackBatchRequest, resp=Response(HTTP_202=FeedbackBatchAccepted, HTTP_422=ErrorResponse),
               tags=["search"])
def feedback_batch(json: FeedbackBatchRequest):
    """Record up to 500 feedback events in one request (one store round trip).

    A malformed event rejects the whole batch (422 naming it, e.g. `events[3].event`; nothing is stored).
    Otherwise every event is recorded except those POST /v1/feedback would refuse (unknown search_id,
    artifact not served by that search): they are listed in `rejected` with the same code and message.
    Rate limits: one request, plus one unit per event against the feedback-event limit."""
    token = json.events[0].user_token
    for i, item in enumerate(json.events):
        if item.event == "dwell" and item.dwell_ms is None:
            raise ApiError(422, f"events[{i}].dwell_ms: required when event is dwell", f"events[{i}].dwell_ms")
        if item.user_token != token:
            raise ApiError(422, f"events[{i}].user_token: a batch carries one identity's feedback (events[0] "
                                "has another user_token); nothing was stored", f"events[{i}].user_token")
    eng = engine()
    results = eng.feedback_many([(item.search_id, item.artifact_id, item.event, item.dwell_ms or 0)
                                 for item in json.events], who=user_of(eng, token))
    accepted: collections.Counter[str] = collections.Counter()
    rejected: list[dict] = []
    for i, (item, result) in enumerate(zip(json.events, results, strict=True)):
        if not isinstance(result, Exception):
            accepted[item.event] += 1
            continue
        if isinstance(result, (UnknownSearch, NotRecorded, NotYours, NotServed)):
            _, code, field, message = refusal(result, f"events[{i}].", item.search_id, item.artifact_id)
        else:  # a backend refusal that validation cannot foresee: reported, never half-silently a 500
            log.error("feedback batch: event %d not recorded: %s: %s", i, type(result).__name__, result)
            code, field, message = "error", None, "not recorded (server error); send it again"
            metrics.FEEDBACK_REJECTED.labels("error").inc()
        rejected.append({"index": i, "code": code, "field": field, "message": message})
    for kind, n in accepted.items():
        metrics.FEEDBACK.labels(kind).inc(n)
    metrics.FEEDBACK_BATCH.observe(len(results))
    return FeedbackBatchAccepted(accepted=sum(accepted.values()), rejected=rejected), 202


def batch_cost() -> int:
    """Rate-limit units of a feedback batch: one per event. A body that cannot be read costs 1 (the view
    answers 400/413/422 for it)."""
    try:
        body = request.get_json(silent=True)
    except (HTTPException, RecursionError):
        return 1
    events = body.get("events") if isinstance(body, dict) else None
    return max(1, min(len(events), MAX_FEEDBACK_BATCH)) if isinstance(events, list) else 1
