"""The SpecTree instance: validates requests/responses with pydantic and generates OpenAPI 3."""

from __future__ import annotations

from typing import Any

import flask
from flask import current_app, request
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.plugins.flask_plugin import FlaskPlugin

from api.errors import ApiError


def _field(loc: tuple[Any, ...]) -> str:
    """pydantic's location as the API names fields elsewhere: `upsert[0].capabilities[1].title`."""
    out = ""
    for p in loc:
        if p == "__root__":  # pydantic's locations are field names only: a body field may be called `query`
            continue
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _before(req, resp, req_validation_error, instance, *args) -> None:
    """Turn pydantic's error list into our error shape, naming the first bad field."""
    if req_validation_error is None:
        return
    if request.mimetype == "application/json" and request.get_data() and request.get_json(silent=True) is None:
        raise ApiError(400, "body: not valid JSON", "body")
    errors = req_validation_error.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _field(tuple(first.get("loc", ()))) or ("body" if request.method in ("POST", "PUT", "PATCH") else "")
    message = first.get("msg", "invalid value")
    if first.get("type") == "missing":
        message = "field required"
    elif first.get("type") == "extra_forbidden":
        message = "unknown field"
    raise ApiError(422, f"{field or 'request'}: {message}", field or None)


class ServingPlugin(FlaskPlugin):
    """spectree's Flask plugin, validating the responses our own views build only where the app's settings
    ask for it (`validate_responses`: the test suite, debugging). Requests are validated as before, with the
    same 422s. Why: re-parsing and validating every search response with pydantic cost ~0.3 ms of each
    search and can only find our own bugs, which the tests (validating every response they get) find first.
    A view's `flask.Response` is then sent as the view built it: the same status, headers and bytes that
    spectree would have re-wrapped (tests/test_responses.py)."""

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):  # type: ignore[no-untyped-def]
        if isinstance(resp, flask.Response) and not _validating():
            return resp, None
        return super().validate_response(resp, resp_model, skip_validation, force_resp_serialize)


def _validating() -> bool:
    settings = current_app.extensions.get("matchgraph.settings")
    return settings is None or settings.validate_responses


spec = SpecTree(
    "flask",
    backend=ServingPlugin,
    title="matchgraph API",
    version="1.0.0",
    description="Semantic search over AI artifacts, decomposed into capabilities, with a learning match graph.",
    path="apidoc",
    before=_before,
    validation_error_status=422,
    security_schemes=[SecurityScheme(name="bearer", data=SecuritySchemeData(type="http", scheme="bearer"))],
    annotations=True,
    mode="strict",
)
