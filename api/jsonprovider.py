"""Flask's JSON provider on orjson: the same documents as Flask's default provider, written ~5-10x faster.

Why: a search response (10 hits with their capabilities, scores and reasons) cost ~1 ms with the standard
library's encoder on this machine, the largest piece of the request that is neither ranking nor the model
(`python -m bench.profile --stages`). What stays the same: keys sorted (Flask's default), compact separators
(indented in debug), dates as RFC 822 strings and dataclasses through the provider's own `default`
(orjson's native forms are passed through to it). What differs in bytes but not in the document: non-ASCII
text is written as UTF-8 instead of `\\u` escapes, and exponents as `1e-7` instead of `1e-07`. A value orjson
refuses (an int beyond 64 bits, a non-string key of another kind) falls back to the standard encoder, and
NaN/Infinity, which the standard encoder writes as invalid JSON, become `null`. Without orjson installed the
app keeps Flask's default provider.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    orjson = None

_OPTIONS = 0 if orjson is None else (orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                                     | orjson.OPT_PASSTHROUGH_DATACLASS)


class OrjsonProvider(DefaultJSONProvider):
    """`DefaultJSONProvider` with orjson for the common case: `sort_keys` on, and compact or 2-space output."""

    def _fast(self, obj: Any, indent: Any) -> bytes | None:
        if orjson is None or not self.sort_keys or indent not in (None, 2):
            return None
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS | (orjson.OPT_INDENT_2 if indent else 0))
        except (orjson.JSONEncodeError, TypeError):
            return None  # the standard encoder's turn (and its own error, if it has one)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        simple = set(kwargs) <= {"indent", "separators"} and kwargs.get("separators") in (None, (",", ":"))
        raw = self._fast(obj, kwargs.get("indent")) if simple else None
        return raw.decode("utf-8") if raw is not None else super().dumps(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        indent = 2 if (self.compact is None and self._app.debug) or self.compact is False else None
        raw = self._fast(obj, indent)
        if raw is None:
            return super().response(*args, **kwargs)
        return self._app.response_class(raw + b"\n", mimetype=self.mimetype)


def install(app: Flask) -> None:
    """Use orjson for `jsonify` and every JSON response of `app` (when orjson is installed)."""
    if orjson is not None:
        app.json = OrjsonProvider(app)
