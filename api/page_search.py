"""The search page's views: `/` (the box, results, pages, sort and filters; categories to browse when empty),
`/results` (the same results as HTML fragments for static/search.js) and `/click` (a recorded click).

Every search the page makes is owned by the identity of the request: the page's own `user_token` when its
script sends it (fragments, links it rewrote), else the address and User-Agent (the no-JavaScript path), so
a vote or click from the page lands on a search its sender owns (search/owners.py).
"""

from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from api import cardview, metrics, navigation
from api.pages import PRICINGS, TYPES, PageError, _catalog_counts, _known, _options, _strong, _token, bp
from api.searchpage import CONSTRAINTS, IGNORABLE, MODALITIES, RESULTS, SORTS, PageState, pages
from api.serialize import search_response
from api.state import engine, user_of
from search.engine import Engine
from search.errors import NotRecorded, NotServed, NotYours, UnknownSearch

EXAMPLES = ("extract answers from passages", "a dataset of source code for training", "detect objects in photos",
            "biomedical text embeddings", "transcribe speech to text", "summarise long documents")
BROWSE = 20  # artifacts per page when browsing a type without a query


def _search(eng: Engine, state: PageState, record: bool) -> dict:
    """The page's search: results with their card extras, pages, active filters and, when a filter
    emptied the list, the filters whose removal brings results back."""
    who = eng.admit(user_of(eng, _token())) if record and request.method == "GET" else None  # HEAD: not recorded
    with metrics.SEARCH_SECONDS.time():
        result = eng.search(state.q, k=RESULTS, record=False, user=who or "", facets=("type", "pricing"),
                            **state.engine_options())
    metrics.SEARCHES.inc()
    if not result.hits:
        metrics.ZERO_RESULTS.inc()
    data = search_response(result, eng.serve(result, record=who is not None))
    extras = cardview.extras(eng, result.hits, result.learned_from)
    for r in data["results"]:
        r["matched_capabilities"] = _strong(r["matched_capabilities"])
        r.update({k: v for k, v in extras[r["artifact_id"]].items() if not (k == "description" and r.get(k))})
    data["pages"] = pages(state, len(data["results"]), data["total"], data.get("has_more"), data.get("next_offset"))
    data["said"] = [{**c, "remove": state.params(ignore=[*state.ignore, c["param"]])}
                    for c in data.get("understood", {}).get("constraints", []) if c.get("param") in IGNORABLE]
    data["emptied_by"] = _emptied_by(eng, state, data["said"]) if not data["results"] and (
        state.active() or data["said"]) else []
    return data


def _emptied_by(eng: Engine, state: PageState, said: list[dict]) -> list[tuple[str, str, dict]]:
    """The filters (chosen, or read from the words) that, removed alone, give results back, as (label, value,
    URL parameters without it); nothing is recorded."""
    out = []
    tries = [(label, value, state.params(**{name: None})) for name, label, value in state.active()]
    tries += [(f"“{c['text']}”", "read from your words", c["remove"]) for c in said]
    for label, value, params in tries:
        other = PageState.read(MultiDict(params), TYPES, PRICINGS)
        if eng.search(other.q, k=1, record=False, **other.engine_options()).total:
            out.append((label, value, params))
    return out


def _context(eng: Engine, state: PageState, data: dict | None) -> dict:
    counts = _catalog_counts(eng)
    return {"state": state, "q": state.q, "data": data, "kind": state.kind, "pricing": state.pricing,
            "types": _options(TYPES, counts["type"], state.kind),
            "pricings": _options(PRICINGS, counts["pricing"], state.pricing), "sorts": SORTS,
            "constraints": CONSTRAINTS, "chosen": dict(state.constraints), "modalities": MODALITIES,
            "token": _token()}


@bp.get("/")
def home():
    """The search box; `?q=` renders results on the server (the no-JavaScript path), `?type=` alone browses
    that type; with neither, example needs and the categories to browse."""
    eng = engine()
    state = PageState.read(request.args, TYPES, PRICINGS)
    data = _search(eng, state, record=True) if state.q else None
    browse = _browse(eng, state) if not state.q and state.kind else None
    counts = _catalog_counts(eng)
    popular = [] if state.q else [r.query for r in eng.popular_searches(limit=6)]
    return render_template("search.html", **_context(eng, state, data), browse=browse, popular=popular,
                           examples=EXAMPLES, categories=sorted(counts["type"].items(), key=lambda kv: -kv[1]),
                           active="search")


def _browse(eng: Engine, state: PageState) -> dict:
    """Artifacts of one type by UnfragileRank, a page at a time (no query: nothing is searched or recorded)."""
    book = eng.scorebook()
    ids = [a.id for a in eng.artifacts.values() if a.type == state.kind
           and (not state.pricing or a.pricing == state.pricing)]
    ids.sort(key=lambda x: (-book.scores(x).unfragile_rank, x))
    shown = ids[state.offset:state.offset + BROWSE]
    items = []
    for x in shown:
        a = eng.artifacts[x]
        facts = eng.facts(x)
        items.append({"artifact_id": x, "name": a.name, "type": a.type,
                      "description": cardview.one_line(a.description), "price": cardview.price(a.pricing, facts),
                      "key_facts": cardview.key_facts(a.type, facts, a.signals),
                      "unfragile_rank": book.scores(x).unfragile_rank})
    last = state.offset + len(shown)
    return {"items": items, "first": state.offset + 1 if shown else 0, "last": last, "total": len(ids),
            "next_offset": last if last < len(ids) else None,
            "prev_offset": max(0, state.offset - BROWSE) if state.offset else None}


@bp.get("/results")
def results():
    """The results of a page state as HTML fragments (status, active filters, cards, pager) and the numbers
    static/search.js needs: the cards are the server's, so both paths show the same card. `record=false`
    serves a preview that is not recorded (its votes first record the search)."""
    eng = engine()
    state = PageState.read(request.args, TYPES, PRICINGS)
    if not state.q:
        return jsonify({"error": "q is required"}), 422
    data = _search(eng, state, record=request.args.get("record", "true") != "false")
    ctx = _context(eng, state, data)
    parts = {name: render_template(f"_search_{name}.html", **ctx) for name in ("status", "chips", "cards", "pager")}
    resp = jsonify({"search_id": data["search_id"], "recorded": data["recorded"], "total": data["total"],
                    "has_more": data["pages"]["has_more"], "next_offset": data["pages"]["next_offset"],
                    "facets": data.get("facets", {}), "ids": [r["artifact_id"] for r in data["results"]],
                    "html": parts})
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/click")
def click():
    """Record a click on a served result, then go to the artifact (links work without JavaScript).

    Only a same-site navigation records (api/navigation.py): a HEAD, an image or script of another site, or
    a link followed from elsewhere gets a 403 page that says nothing was recorded and links to the artifact.
    The click counts for the identity that made the search (the page's own `user_token` in the link)."""
    eng = engine()
    artifact_id = request.args.get("artifact_id", "")
    search_id = request.args.get("search_id", "")
    _known(eng, artifact_id)
    refused = navigation.refusal(request)
    if refused:
        metrics.FEEDBACK_REJECTED.labels("not_navigation").inc()
        link = url_for("pages.artifact", artifact_id=artifact_id)
        raise PageError(403, "Click not recorded", f"{refused}. Nothing was recorded; the artifact is at {link}")
    if _search_id_ok(search_id):
        try:
            eng.feedback(search_id, artifact_id, "click", user=user_of(eng, _token()))
            metrics.FEEDBACK.labels("click").inc()
        except (UnknownSearch, NotServed, NotRecorded, NotYours):
            pass  # a stale, edited or shared link still leads to the artifact
    return redirect(url_for("pages.artifact", artifact_id=artifact_id), 303)


def _search_id_ok(search_id: str) -> bool:
    return 0 < len(search_id) <= 64 and all(ch in "0123456789abcdef" for ch in search_id)
