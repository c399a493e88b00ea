"""Catalog writes behind `Authorization: Bearer $MATCHGRAPH_API_KEY`."""

from __future__ import annotations

import hmac

from flask import Blueprint, request
from spectree import Response

from api.errors import ApiError
from api.models import ArtifactIn, BatchRequest, ErrorResponse, HideRequest, HideResponse, WriteResponse
from api.spec import spec
from api.state import engine, settings
from graph.catalog import Artifact, CatalogError

bp = Blueprint("admin", __name__, url_prefix="/v1")
AUTH = Response(HTTP_200=WriteResponse, HTTP_401=ErrorResponse, HTTP_403=ErrorResponse,
                HTTP_404=ErrorResponse, HTTP_409=ErrorResponse, HTTP_422=ErrorResponse)


LOOPBACK = {"127.0.0.1", "::1", "localhost"}
FORWARDING_HEADERS = ("Forwarded", "Via", "X-Real-IP", "X-Client-IP", "X-Cluster-Client-IP", "CF-Connecting-IP",
                      "True-Client-IP", "Fastly-Client-IP", "X-Original-URL", "X-Rewrite-URL")


def _relayed_or_cross_site() -> str | None:
    """The header that shows a request did not come straight from a local program: a browser page (any
    `Origin`, `Sec-Fetch-Site` other than none/same-origin) or a proxy (any forwarding header)."""
    for name in request.headers.keys():
        lowered = name.lower()
        if lowered.startswith(("x-forwarded-", "x-original-")) or name.title() in {h.title() for h in
                                                                                   FORWARDING_HEADERS}:
            return name
    if "Origin" in request.headers:
        return "Origin"
    if request.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin"):
        return "Sec-Fetch-Site"
    return None


@bp.before_request
def require_key() -> None:
    """401 without a key, 403 with a wrong one. With no key configured, writes are refused unless the
    operator opted in with MATCHGRAPH_LOCAL_WRITES=1, and even then only for direct loopback clients that
    are not a web page (no `Origin`) and not relayed by a proxy (no forwarding header of any kind)."""
    if request.method not in ("PUT", "POST", "DELETE") or request.endpoint not in ADMIN_ENDPOINTS:
        return
    conf = settings()
    if conf.read_only:  # an API host serving a shipped copy of the catalog
        raise ApiError(403, "catalog writes go to the catalog host: this host serves a read-only copy",
                       None, code="read_only")
    key = conf.api_key  # a secret: masked by `python -m api config`
    if not key:
        if not conf.local_writes:
            raise ApiError(403, "Authorization: catalog writes are disabled until MATCHGRAPH_API_KEY is set "
                                "(or MATCHGRAPH_LOCAL_WRITES=1 allows direct local clients)", "Authorization")
        relayed = _relayed_or_cross_site()
        if request.remote_addr in LOOPBACK and relayed is None:
            return
        why = f"the request carries {relayed}" if relayed else "the client is not on this machine"
        raise ApiError(403, f"Authorization: without MATCHGRAPH_API_KEY only direct local clients may write "
                            f"({why})", "Authorization")
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError(401, "Authorization: a bearer token is required", "Authorization")
    if not hmac.compare_digest(header[7:].encode(), key.encode()):
        raise ApiError(403, "Authorization: the token is not valid", "Authorization")


@bp.before_request
def refuse_while_degraded() -> None:
    """503 with the reason while this host cannot record (full disk, damaged matches.db): a catalog write
    would fail half-way or be acknowledged without being stored. Runs after `require_key`."""
    if request.method not in ("PUT", "POST", "DELETE") or request.endpoint not in ADMIN_ENDPOINTS:
        return
    reasons = engine().degraded_reasons()
    if reasons:
        raise ApiError(503, "this host cannot write now: " + "; ".join(reasons), None, code="degraded")


def _artifact(model: ArtifactIn, field: str) -> Artifact:
    record = model.model_dump(exclude_none=True)
    record["capabilities"] = [c.model_dump(exclude_none=True) for c in model.capabilities]
    try:
        return Artifact.from_record(record)
    except CatalogError as exc:
        where = ".".join(part for part in (field, exc.field) if part) or "body"
        raise ApiError(422, f"{where}: {exc.message}", where) from None


def _report(report) -> dict:
    return {"artifacts": report.artifacts, "capabilities": report.capabilities, "embedded": report.embedded,
            "removed": report.removed, "generation": report.generation}


@bp.put("/artifacts/<path:artifact_id>")
@spec.validate(json=ArtifactIn, resp=AUTH, tags=["admin"], security={"bearer": []})
def put_artifact(artifact_id: str, json: ArtifactIn):
    """Create or replace one artifact; index, graph and caches update at once."""
    if json.id != artifact_id:
        raise ApiError(422, "id: must equal the id in the path", "id")
    _not_an_alias(engine(), artifact_id, "id")
    return _report(engine().apply(upserts=[_artifact(json, "")]))


def _not_an_alias(eng, artifact_id: str, field: str) -> None:
    """An old id of a merged record is read-only: writes go to the canonical id (409 naming it)."""
    canonical = eng.canonical(artifact_id)
    if canonical is not None and canonical != artifact_id:
        raise ApiError(409, f"{field}: {artifact_id[:200]!r} is an old id of {canonical!r} (merged); write to "
                            f"{canonical!r}", field, code="alias")


@bp.post("/artifacts:batch")
@spec.validate(json=BatchRequest, resp=AUTH, tags=["admin"], security={"bearer": []})
def batch(json: BatchRequest):
    """Upsert and delete many artifacts in one step: all of it happens or none of it."""
    if not json.upsert and not json.delete:
        raise ApiError(422, "upsert: nothing to do", "upsert")
    upserts = [_artifact(m, f"upsert[{i}]") for i, m in enumerate(json.upsert)]
    eng = engine()
    for i, m in enumerate(json.upsert):
        _not_an_alias(eng, m.id, f"upsert[{i}].id")
    for i, artifact_id in enumerate(json.delete):
        _not_an_alias(eng, artifact_id, f"delete[{i}]")
        if artifact_id not in eng.artifacts:
            raise ApiError(404, f"delete[{i}]: no artifact {artifact_id[:200]!r}", f"delete[{i}]")
    return _report(eng.apply(upserts=upserts, deletes=json.delete))


@bp.delete("/artifacts/<path:artifact_id>")
@spec.validate(resp=AUTH, tags=["admin"], security={"bearer": []})
def delete_artifact(artifact_id: str):
    """Remove an artifact and its capabilities from index, graph and results."""
    eng = engine()
    _not_an_alias(eng, artifact_id, "id")
    if artifact_id not in eng.artifacts:
        raise ApiError(404, f"id: no artifact {artifact_id[:200]!r}", "id")
    return _report(eng.delete([artifact_id]))


@bp.post("/queries:hide")
@spec.validate(json=HideRequest, resp=Response(HTTP_200=HideResponse, HTTP_401=ErrorResponse, HTTP_403=ErrorResponse,
                                               HTTP_422=ErrorResponse), tags=["admin"], security={"bearer": []})
def hide_query(json: HideRequest):
    """Keep a query off public lists such as "Popular searches" (`hidden: false` lets it back)."""
    return {"query": engine().hide_query(json.query, json.hidden), "hidden": json.hidden}


ADMIN_ENDPOINTS = {"admin.put_artifact", "admin.batch", "admin.delete_artifact", "admin.hide_query"}
