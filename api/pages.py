"""HTML pages served from the API's own data (search box, artifact, compare, analytics, widget).

Everything is rendered on the server, so each page works without JavaScript; the scripts in
`api/static/` only enhance (search as you type, click feedback, widget resizing).
"""

from __future__ import annotations

import re
from typing import get_args

from flask import Blueprint, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from api import charts, metrics
from api.errors import ApiError
from api.models import ARTIFACT_TYPES, PRICING
from api.serialize import alternatives_response, artifact_response, search_response
from api.state import engine
from graph.store.base import NotServed, UnknownSearch
from search import related
from search.engine import Engine

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

TYPES: tuple[str, ...] = get_args(ARTIFACT_TYPES)
PRICINGS: tuple[str, ...] = get_args(PRICING)
MAX_QUERY = 4000  # as the API: whole task descriptions are welcome
RESULTS = 10
SHOWN_CAPABILITIES = 8  # the comparison page lists 8 capabilities, then "+N more capabilities"
TOP_LINES = 5
MIN_CAPABILITY_SCORE = 0.2  # weaker matched capabilities are noise on a card (static/search.js agrees)
STOPWORDS = {"the", "and", "for", "with", "that", "from", "into", "this", "are", "can", "how", "what"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEARCH_ID = re.compile(r"^[0-9a-f]{1,64}$")


class PageError(Exception):
    """An error shown as an HTML page (the JSON API keeps its own error shape)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@bp.errorhandler(PageError)
def _page_error(exc: PageError):
    return render_template("error.html", title=exc.title, message=exc.message), exc.status


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    headers = {"Retry-After": "5"} if exc.status == 503 else {}
    title = "Still loading" if exc.status == 503 else "Something went wrong"
    return render_template("error.html", title=title, message=exc.message), exc.status, headers


@bp.app_template_filter("highlight")
def highlight(text: str, query: str) -> Markup:
    """`text` escaped, with the query's words (3+ letters, no stopwords) wrapped in <mark>."""
    pattern = _terms_pattern(query)
    if pattern is None:
        return escape(text)
    out, last = [], 0
    for m in pattern.finditer(text):
        out += [escape(text[last:m.start()]), Markup("<mark>"), escape(m.group(0)), Markup("</mark>")]
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _terms_pattern(query: str) -> re.Pattern | None:
    """The rule of `termsPattern()` in static/search.js, so server and browser highlight alike.

    Words of 3+ letters without stopwords; a plural's final "s" is dropped so "passages" marks "Passage".
    """
    words = {w[:-1] if len(w) > 4 and w.endswith("s") else w
             for w in re.findall(r"\w+", query.lower()) if len(w) >= 3 and w not in STOPWORDS}
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w))), re.I)


def _strong(capabilities: list[dict]) -> list[dict]:
    """The best matched capability, and the others that match at least MIN_CAPABILITY_SCORE."""
    return [c for i, c in enumerate(capabilities) if i == 0 or c["score"] >= MIN_CAPABILITY_SCORE]


def _known(eng: Engine, artifact_id: str) -> None:
    if artifact_id not in eng.artifacts:
        raise PageError(404, "Artifact not found", f"No artifact {artifact_id[:200]!r} in the catalog.")


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name, "")
    return value if value in allowed else ""


@bp.get("/")
def home():
    """The search box; `?q=` renders results on the server (the no-JavaScript path)."""
    q = _CONTROL.sub(" ", request.args.get("q", "")).strip()[:MAX_QUERY]
    kind, pricing = _choice("type", TYPES), _choice("pricing", PRICINGS)
    eng = engine()
    data = None
    if q:
        with metrics.SEARCH_SECONDS.time():
            result = eng.search(q, k=RESULTS, types=[kind] if kind else (), pricing=[pricing] if pricing else ())
        metrics.SEARCHES.inc()
        if not result.hits:
            metrics.ZERO_RESULTS.inc()
        data = search_response(eng, result)
        for r in data["results"]:
            r["matched_capabilities"] = _strong(r["matched_capabilities"])
    popular = [] if q else [r.query for r in eng.store.queries("top", limit=6)]
    return render_template("search.html", q=q, data=data, kind=kind, pricing=pricing, types=TYPES,
                           pricings=PRICINGS, popular=popular, active="search")


@bp.get("/click")
def click():
    """Record a click on a served result, then go to the artifact (links work without JavaScript)."""
    eng = engine()
    artifact_id = request.args.get("artifact_id", "")
    search_id = request.args.get("search_id", "")
    _known(eng, artifact_id)
    if _SEARCH_ID.match(search_id):
        try:
            eng.feedback(search_id, artifact_id, "click")
            metrics.FEEDBACK.labels("click").inc()
        except (UnknownSearch, NotServed):
            pass  # a stale or edited link still leads to the artifact
    return redirect(url_for("pages.artifact", artifact_id=artifact_id), 303)


@bp.get("/artifacts/<path:artifact_id>")
def artifact(artifact_id: str):
    """Scores with their explanation, capabilities and the "Need something different?" alternatives."""
    eng = engine()
    _known(eng, artifact_id)
    data = artifact_response(eng, artifact_id)
    alternatives = alternatives_response(eng, related.similar(eng, artifact_id, k=5))
    points = eng.store.timeline(artifact_id)
    days = charts.day_range([d for d, _ in points])
    by_day = dict(points)
    chart = charts.column_chart([(d, by_day.get(d, 0)) for d in days], chart_id="timeline",
                                title=f"Times Matched per day: {data['name']}",
                                desc=f"{data['times_matched']} matches in total, over {len(days)} days.",
                                unit=" matches") if points else None
    embed_src = url_for("static", filename="widget.js", _external=True)
    widget_src = url_for("pages.widget_similar", artifact_id=artifact_id, _external=True)
    return render_template("artifact.html", a=data, alternatives=alternatives, chart=chart,
                           timeline=[(d, by_day.get(d, 0)) for d in days], embed_src=embed_src,
                           widget_src=widget_src, components=_components(data["scores"]))


def _components(scores: dict) -> list[dict]:
    labels = {"adoption": "Adoption", "quality": "Quality", "ecosystem": "Ecosystem",
              "match_graph": "Match Graph", "freshness": "Freshness"}
    return [{"key": k, "label": labels[k], **scores["explanation"][k]} for k in labels]


@bp.get("/compare")
def compare():
    """The comparison page for `?a=&b=` (works for ids with slashes); a form without them."""
    a, b = request.args.get("a", "").strip(), request.args.get("b", "").strip()
    if not a and not b:
        return render_template("compare_form.html", active="compare")
    return _compare(engine(), a, b)


@bp.get("/compare/<path:pair>")
def compare_path(pair: str):
    """`/compare/<a>/<b>`: tries every slash as the split, so ids with slashes resolve when unambiguous."""
    eng = engine()
    parts = pair.split("/")
    for i in range(1, len(parts)):
        a, b = "/".join(parts[:i]), "/".join(parts[i:])
        if a in eng.artifacts and b in eng.artifacts:
            return _compare(eng, a, b)
    for i in range(1, len(parts)):
        a, b = eng.resolve("/".join(parts[:i])), eng.resolve("/".join(parts[i:]))
        if a and b:
            return _compare(eng, a, b)
    raise PageError(404, "Comparison not found", f"{pair[:400]!r} does not name two artifacts of the catalog.")


def _compare(eng: Engine, a: str, b: str):
    a, b = eng.resolve(a) or a, eng.resolve(b) or b  # names ("The Stack v2") and ids in any case
    for artifact_id in (a, b):
        _known(eng, artifact_id)
    if a == b:
        raise PageError(422, "Pick two different artifacts", "A comparison needs two different artifacts.")
    data = related.compare(eng, a, b)
    alignment = {x: [row for row in data["capability_alignment"] if row["artifact_id"] == x] for x in (a, b)}
    return render_template("compare.html", c=data, alignment=alignment, shown=SHOWN_CAPABILITIES,
                           active="compare")


@bp.get("/analytics")
def analytics():
    """Times Matched over time, top matched artifacts, weak queries and searches per day."""
    eng = engine()
    store = eng.store
    summary = store.summary()
    top = [{"artifact_id": a, "name": eng.artifacts[a].name if a in eng.artifacts else a, "times_matched": n}
           for a, n in store.top_artifacts(limit=10)]
    series = [charts.Series(t["name"], dict(store.timeline(t["artifact_id"]))) for t in top[:TOP_LINES]]
    days = charts.day_range([d for s in series for d in s.points])
    lines = charts.line_chart(series, days, chart_id="tm-over-time", title="Times Matched per day, top artifacts",
                              desc=f"One line per artifact for the {len(series)} most matched artifacts "
                                   f"over the last {len(days)} days.") if series else None
    per_day = dict(store.searches_per_day())
    search_days = charts.day_range(per_day)
    searches = [(d, per_day.get(d, 0)) for d in search_days]
    columns = charts.column_chart(searches, chart_id="searches-per-day", title="Searches per day",
                                  desc=f"{summary.get('searches', 0)} searches in total; "
                                       f"one bar per day over {len(search_days)} days.",
                                  unit=" searches") if searches else None
    return render_template(
        "analytics.html", summary=summary, artifacts=len(eng.artifacts), top=top, series=series, days=days,
        lines=lines, columns=columns, searches=searches, zero=store.queries("zero_results", limit=10),
        low=store.queries("low_confidence", limit=10), charts=charts, active="analytics")


@bp.get("/widget/similar/<path:artifact_id>")
def widget_similar(artifact_id: str):
    """The embeddable "similar artifacts" list: a small page meant for an iframe on any site."""
    eng = engine()
    _known(eng, artifact_id)
    try:
        k = min(10, max(1, int(request.args.get("k", 5))))
    except ValueError:
        k = 5
    alternatives = alternatives_response(eng, related.similar(eng, artifact_id, k=k))
    return render_template("widget.html", a=eng.artifacts[artifact_id], alternatives=alternatives)
