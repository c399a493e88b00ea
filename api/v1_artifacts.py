"""Artifacts, "Need something different?" alternatives, recommendations and comparisons."""

from __future__ import annotations

import base64
import json as jsonlib

from flask import Blueprint
from spectree import Response

from api.errors import ApiError
from api.models import (
    ArtifactList,
    ArtifactListQuery,
    ArtifactOut,
    CandidatesResponse,
    CompareQuery,
    CompareResponse,
    ErrorResponse,
    RecommendRequest,
    RecommendResponse,
    SimilarQuery,
    SimilarResponse,
)
from api.serialize import alternatives_response, artifact_response
from api.spec import spec
from api.state import engine

bp = Blueprint("artifacts", __name__, url_prefix="/v1")


def _known(eng, artifact_id: str, field: str = "id") -> str:
    """The id an artifact is served under (an old id of a merged record answers with it), else 404."""
    canonical = eng.canonical(artifact_id)
    if canonical is None:
        raise ApiError(404, f"{field}: no artifact {artifact_id[:200]!r}", field)
    return canonical


def _encode_cursor(key: list) -> str:
    return base64.urlsafe_b64encode(jsonlib.dumps(key).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> list:
    try:
        key = jsonlib.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        first = str if sort == "name" else int
        if not isinstance(key, list) or len(key) != 2 or type(key[0]) is not first or not isinstance(key[1], str):
            raise ValueError  # a cursor of another sort (or forged) would not compare with the keys
        return key
    except ValueError:
        raise ApiError(422, "cursor: not a cursor this API issued", "cursor") from None


@bp.get("/artifacts")
@spec.validate(resp=Response(HTTP_200=ArtifactList, HTTP_422=ErrorResponse), tags=["artifacts"])
def list_artifacts(query: ArtifactListQuery):
    """Browse the catalog with cursor pagination (stable under inserts)."""
    eng = engine()
    book = eng.scorebook()
    ids = [a for a, art in eng.artifacts.items() if not query.type or art.type == query.type]
    counts = eng.times_matched(ids)
    if query.sort == "name":
        keyed = [((eng.artifacts[a].name.lower(), a), a) for a in ids]
    elif query.sort == "times_matched":
        keyed = [((-counts.get(a, 0), a), a) for a in ids]
    else:
        keyed = [((-book.scores(a).unfragile_rank, a), a) for a in ids]
    keyed.sort()
    if query.cursor:
        after = tuple(_decode_cursor(query.cursor, query.sort))
        keyed = [k for k in keyed if k[0] > after]
    page = keyed[: query.limit]
    items = [{"artifact_id": a, "name": eng.artifacts[a].name, "type": eng.artifacts[a].type,
              "pricing": eng.artifacts[a].pricing, "unfragile_rank": book.scores(a).unfragile_rank,
              "times_matched": counts.get(a, 0), "capabilities": len(eng.artifacts[a].capabilities)}
             for _, a in page]
    nxt = _encode_cursor(list(page[-1][0])) if len(keyed) > query.limit else None
    return {"items": items, "next_cursor": nxt}


@bp.get("/artifacts/<path:artifact_id>/similar")
@spec.validate(resp=Response(HTTP_200=SimilarResponse, HTTP_404=ErrorResponse, HTTP_422=ErrorResponse),
               tags=["artifacts"])
def similar(artifact_id: str, query: SimilarQuery):
    """Need something different? Alternatives with concrete reasons; never the artifact itself."""
    eng = engine()
    artifact_id = _known(eng, artifact_id)
    alts = eng.similar(artifact_id, k=query.k, types=[query.type] if query.type else ())
    return {"artifact_id": artifact_id, "alternatives": alternatives_response(eng, alts)}


@bp.get("/artifacts/<path:artifact_id>")
@spec.validate(resp=Response(HTTP_200=ArtifactOut, HTTP_404=ErrorResponse), tags=["artifacts"])
def get_artifact(artifact_id: str):
    """One artifact with its capabilities, Times Matched and explained scores."""
    eng = engine()
    return artifact_response(eng, _known(eng, artifact_id))


@bp.post("/recommend")
@spec.validate(json=RecommendRequest, resp=Response(HTTP_200=RecommendResponse, HTTP_404=ErrorResponse,
                                                    HTTP_422=ErrorResponse), tags=["artifacts"])
def recommend(json: RecommendRequest):
    """Like the positives, unlike the negatives, optionally near a query."""
    eng = engine()
    positive = [_known(eng, a, f"positive[{i}]") for i, a in enumerate(json.positive)]
    negative = [_known(eng, a, f"negative[{i}]") for i, a in enumerate(json.negative)]
    alts = eng.recommend(positive, negative, json.query, json.k, [json.type] if json.type else ())
    return {"alternatives": alternatives_response(eng, alts)}


@bp.get("/compare")
@spec.validate(resp=Response(HTTP_200=CompareResponse, HTTP_404=ErrorResponse, HTTP_409=CandidatesResponse,
                             HTTP_422=ErrorResponse), tags=["artifacts"])
def compare(query: CompareQuery):
    """Side by side, 2 to 4 artifacts (`a` and `b`, or `ids=a,b,c`): fact rows with numbers and display
    strings, the winner of each need, an overall leader only when UnfragileRanks are apart, and credits.
    An ambiguous name answers 409 with its `candidates`."""
    eng = engine()
    if query.ids is not None:
        if query.a or query.b:
            raise ApiError(422, "ids: give either ids or a and b", "ids")
        texts = [t.strip() for t in query.ids.split(",") if t.strip()]
        fields = [f"ids[{i}]" for i in range(len(texts))]
        if not 2 <= len(texts) <= 4:
            raise ApiError(422, f"ids: compare 2 to 4 artifacts, got {len(texts)}", "ids")
    else:
        for field in ("a", "b"):
            if not getattr(query, field):
                raise ApiError(422, f"{field}: required (or give ids=a,b,c)", field)
        texts, fields = [query.a, query.b], ["a", "b"]
    ids = [_resolve(eng, text, field) for text, field in zip(texts, fields, strict=True)]
    for i, artifact_id in enumerate(ids):
        if artifact_id in ids[:i]:
            raise ApiError(422, f"{fields[i]}: compare different artifacts", fields[i])
    return eng.compare(*ids)


def _resolve(eng, text: str, field: str) -> str:
    """An artifact id from an id or a name ("The Stack v2", "BERT-large-uncased", one typo); 409 with the
    candidates when several artifacts have that name, 404 when none."""
    named = eng.named(text)
    if len(named) > 1:
        candidates = [{"artifact_id": x, "name": eng.artifacts[x].name, "type": eng.artifacts[x].type}
                      for x in named]
        raise ApiError(409, f"{field}: {text[:200]!r} names {len(named)} artifacts; pick one of the candidates",
                       field, extra={"candidates": candidates})
    artifact_id = named[0] if named else eng.resolve(text)
    if artifact_id is None:
        raise ApiError(404, f"{field}: no artifact {text[:200]!r} (use an id, or a name from /v1/suggest)", field)
    return artifact_id
