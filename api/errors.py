"""One JSON error shape for every failure: {"error": {"code", "message", "field"}}."""

from __future__ import annotations

import errno
import os

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from search.errors import StoreUnavailable, UnknownArtifact, WritesRefused

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "ambiguous",
         413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "rate_limited",
         503: "unavailable"}


DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


class ApiError(Exception):
    """An error the client can act on."""

    def __init__(self, status: int, message: str, field: str | None = None, code: str | None = None,
                 extra: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.code = code or CODES.get(status, "error")
        self.extra = extra or {}  # top-level keys beside "error" (e.g. the candidates of an ambiguous name)


def error_response(status: int, message: str, field: str | None = None, code: str | None = None,
                   extra: dict | None = None):
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message, "field": field},
            **(extra or {})}
    return jsonify(body), status


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.message, exc.field, exc.code, exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH") or 0
            return error_response(413, f"request body is larger than {limit} bytes", "body")
        if status == 429:
            resp, code = error_response(429, f"rate limit exceeded: {exc.description}", None)
            if exc.response is not None:
                for key in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
                    if key in exc.response.headers:
                        resp.headers[key] = exc.response.headers[key]
            return resp, code
        resp = exc.get_response()
        if resp.status_code < 400 or resp.headers.get("Content-Type", "").startswith("application/json"):
            return resp
        out, code = error_response(status, exc.description or exc.name)
        if "Allow" in resp.headers:  # 405 must name the allowed methods (RFC 9110)
            out.headers["Allow"] = resp.headers["Allow"]
        return out, code

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError):
        # json.loads raises RecursionError (not ValueError) on deeply nested arrays/objects
        if request.get_data(cache=True):
            return error_response(400, "body: JSON nested too deeply", "body")
        raise exc

    @app.errorhandler(StoreUnavailable)
    def _store_down(exc: StoreUnavailable):
        resp, code = error_response(503, "match store temporarily unavailable; retry shortly", None)
        resp.headers["Retry-After"] = "5"
        return resp, code

    @app.errorhandler(OSError)
    def _disk(exc: OSError):
        # a full or read-only data dir: the write was not made, and retrying later may work (never a bare 500)
        if exc.errno not in DISK_ERRNOS:
            raise exc
        resp, code = error_response(503, f"the data dir cannot be written now: {os.strerror(exc.errno)}", None,
                                    code="degraded")
        resp.headers["Retry-After"] = "30"
        return resp, code

    @app.errorhandler(WritesRefused)
    def _writes_refused(exc: WritesRefused):
        resp, code = error_response(503, f"catalog writes are refused: {exc.message}", None, code="writes_refused")
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp, code

    @app.errorhandler(UnknownArtifact)
    def _unknown_artifact(exc: UnknownArtifact):
        return error_response(404, f"id: no artifact {exc.artifact_id[:200]!r}", "id")

    @app.errorhandler(UnicodeDecodeError)
    def _bad_bytes(exc: UnicodeDecodeError):
        return error_response(400, "request is not valid UTF-8", None)
