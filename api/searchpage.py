"""The search page's state: what a page URL asks for (query, filters, sort, page), the engine options it becomes,
and the links that change one part of it (next page, remove a filter).

Why a module: the server-rendered page, the fragments static/search.js asks for (`/results`) and the empty
list's "remove this filter" offers all read and rebuild the same state; one place keeps their URLs alike.
Names are the API's (GET /v1/search): `type`, `pricing`, `offset`, `sort`, `max_input_usd_per_mtok`,
`min_context_tokens`, `open_weights`, `license`, `modality_in`, `modality_out`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, get_args

from api.models import DROPPABLE, MODALITY
from search.engine import Options

RESULTS = 10
MAX_OFFSET = 1000  # as the API
MAX_QUERY = 4000
SORTS = {"relevance": "Relevance", "popular": "Most popular", "newest": "Newest", "price": "Lowest price"}
MODALITIES: tuple[str, ...] = get_args(MODALITY)  # as the API (search/constraints.py owns them)
IGNORABLE: tuple[str, ...] = get_args(DROPPABLE)  # constraints read from the words that `ignore=` may drop
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LICENSE = re.compile(r"^[A-Za-z0-9.+_-]{1,40}$")
# the filters beyond type and pricing, as the page shows them: (parameter, label, how to parse)
CONSTRAINTS = (("max_input_usd_per_mtok", "Price ceiling ($ / M input tokens)", "price"),
               ("min_context_tokens", "Minimum context (tokens)", "int"),
               ("license", "Licence", "license"),
               ("open_weights", "Open weights", "bool"),
               ("modality_in", "Input modality", "modality"),
               ("modality_out", "Output modality", "modality"))
LABELS = {"type": "Type", "pricing": "Pricing", **{name: label for name, label, _ in CONSTRAINTS}}


def _parse(kind: str, raw: str) -> Any:
    """A filter value as the engine takes it, or None when absent or not understood (ignored, never an error
    page: a hand-edited URL still shows results)."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        if kind == "price":
            value = float(raw)
            return value if 0 <= value < 1e6 else None
        if kind == "int":
            value = int(raw)
            return value if 0 < value < 100_000_000 else None
    except ValueError:
        return None
    if kind == "bool":
        return {"true": True, "false": False}.get(raw.lower())
    if kind == "modality":
        return raw.lower() if raw.lower() in MODALITIES else None
    return raw.lower() if _LICENSE.match(raw) else None


@dataclasses.dataclass(frozen=True)
class PageState:
    """One search page: its query, filters, sort and offset."""

    q: str = ""
    kind: str = ""
    pricing: str = ""
    sort: str = "relevance"
    offset: int = 0
    constraints: tuple[tuple[str, Any], ...] = ()
    ignore: tuple[str, ...] = ()  # constraints the words stated that the person removed (their params)

    @classmethod
    def read(cls, args: Mapping[str, str], types: tuple[str, ...], pricings: tuple[str, ...]) -> PageState:
        q = _CONTROL.sub(" ", args.get("q", "")).strip()[:MAX_QUERY]
        kind = args.get("type", "") if args.get("type", "") in types else ""
        pricing = args.get("pricing", "") if args.get("pricing", "") in pricings else ""
        sort = args.get("sort", "") if args.get("sort", "") in SORTS else "relevance"
        try:
            offset = min(MAX_OFFSET, max(0, int(args.get("offset", 0))))
        except ValueError:
            offset = 0
        found = []
        for name, _, kind_of in CONSTRAINTS:
            value = _parse(kind_of, args.get(name, ""))
            if value is not None:
                found.append((name, value))
        getlist = getattr(args, "getlist", lambda name: [args[name]] if name in args else [])
        ignore = tuple(dict.fromkeys(v for v in getlist("ignore") if v in IGNORABLE))
        return cls(q, kind, pricing, sort, offset, tuple(found), ignore)

    def params(self, **change: Any) -> dict[str, Any]:
        """URL parameters of this page with `change` applied (None drops a parameter); a changed filter or
        sort starts again from the first page."""
        out: dict[str, Any] = {"q": self.q, "type": self.kind, "pricing": self.pricing,
                               "sort": "" if self.sort == "relevance" else self.sort,
                               **{k: _text(v) for k, v in self.constraints}, "offset": self.offset or "",
                               "ignore": list(self.ignore)}
        if any(k != "offset" for k in change):
            out["offset"] = ""
        for k, v in change.items():
            out[k] = "" if v is None else v if isinstance(v, list) else _text(v)
        return {k: v for k, v in out.items() if v not in ("", None, [])}

    def active(self) -> list[tuple[str, str, str]]:
        """The filters in force as (parameter, label, value as read)."""
        out = [(n, LABELS[n], v) for n, v in (("type", self.kind), ("pricing", self.pricing)) if v]
        out += [(n, LABELS[n], _words(v)) for n, v in self.constraints]
        return out

    def engine_options(self) -> dict[str, Any]:
        """Keyword options of Engine.search: type, pricing and offset; the constraints, the sort a person
        chose (relevance is left unsaid, so a sort the words state still applies) and the constraints of the
        words they removed (search/constraints.py)."""
        opts: dict[str, Any] = {"types": [self.kind] if self.kind else (),
                                "pricing": [self.pricing] if self.pricing else (), "offset": self.offset}
        if "constraints" in {f.name for f in dataclasses.fields(Options)}:
            given = {k: [v] if k.startswith("modality_") else v for k, v in self.constraints}
            if self.sort != "relevance":
                given["sort"] = self.sort
            opts.update(constraints=given, ignore=self.ignore)
        return opts

    def ignored(self) -> list[str]:
        """Labels of the asked filters this engine cannot apply (said on the page, never silently)."""
        if "constraints" in {f.name for f in dataclasses.fields(Options)}:
            return []
        return [LABELS[k] for k, _ in self.constraints] + (["Sort"] if self.sort != "relevance" else [])


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _words(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _text(value)


def pages(state: PageState, shown: int, total: int, has_more: bool | None = None,
          next_offset: int | None = None) -> dict[str, Any]:
    """Pagination of a result list: the range shown, `has_more` and the next offset (the API's, when it says
    them), the previous offset."""
    first = state.offset + 1 if shown else 0
    last = state.offset + shown
    if has_more is None:
        has_more, next_offset = last < total, last
    has_more = bool(has_more) and (next_offset or last) <= MAX_OFFSET
    return {"first": first, "last": last, "total": total, "has_more": has_more,
            "next_offset": (next_offset or last) if has_more else None,
            "prev_offset": max(0, state.offset - RESULTS) if state.offset else None}
