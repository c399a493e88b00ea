"""HTML pages served from the API's own data (search box, artifact, compare, analytics, docs, widget).

Everything is rendered on the server, so each page works without JavaScript; the scripts in
`api/static/` only enhance (search as you type, name suggestions, votes and dwell, widget resizing).
"""

from __future__ import annotations

import collections
import re
from typing import get_args

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from api import apidocs, charts, factview
from api.errors import ApiError, error_response
from api.models import ARTIFACT_TYPES, MAX_SIMILAR, PRICING
from api.serialize import alternatives_response, artifact_response
from api.state import engine, settings
from search.engine import Engine
from search.errors import StoreUnavailable

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

TYPES: tuple[str, ...] = get_args(ARTIFACT_TYPES)
PRICINGS: tuple[str, ...] = get_args(PRICING)
MAX_NAME_CHARS = 200  # the longest id or name one half of a compare URL may be (as `?a=`, `?b=`)
MAX_COMPARE_SEGMENTS = 16  # slashes in a compare URL: two ids of a few segments each, never thousands
MAX_COMPARED = 4  # the compare page takes 2 to 4 artifacts (`?ids=`), as /v1/compare
SHOWN_CAPABILITIES = 8  # the comparison page lists 8 capabilities, then "+N more capabilities"
MIN_CAPABILITY_SCORE = 0.2  # weaker matched capabilities are noise on a card (static/search.js agrees)
STOPWORDS = {"the", "and", "for", "with", "that", "from", "into", "this", "are", "can", "how", "what"}
# paths that belong to the JSON API (their errors stay JSON); every other unknown URL gets an HTML page
API_PATHS = ("/v1/", "/openapi.json", "/healthz", "/readyz", "/metrics", "/apidoc", "/static/")
LABELS = {"adoption": "Adoption", "quality": "Quality", "ecosystem": "Ecosystem",
          "match_graph": "Match Graph", "freshness": "Freshness"}
THEMES = ("light", "dark", "auto")


def _token() -> str | None:
    """`user_token` of a page request (links carry it when the page's script added it); a bad one is ignored
    here (the user falls back to address + User-Agent) rather than failing a page."""
    token = request.args.get("user_token", "")
    return token if token and Engine.valid_token(token) else None


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


@bp.app_errorhandler(404)
def _not_found(exc):
    """Unknown page URLs get a page a person can use; API paths keep the JSON error shape."""
    if request.path.startswith(API_PATHS):
        return error_response(404, getattr(exc, "description", None) or "not found")
    return render_template("error.html", title="Page not found",
                           message="There is no page at this address. Search for what you need, or "
                                   "browse from the links above."), 404


@bp.context_processor
def _chart_helpers() -> dict:
    return {"charts": charts, "api_features": api_features(), "public_url": public_url}


def public_url(endpoint: str, **values: object) -> str:
    """An address other sites may hold (embed snippets, the widget's links): `MATCHGRAPH_PUBLIC_URL` + the
    path, or the bare path while it is unset. Never built from the request's Host header: a forged Host
    would otherwise be written into the snippet (and into any cache that keeps the page)."""
    path = url_for(endpoint, **values)
    base = settings().public_url.rstrip("/")
    return base + path if base else path


def api_features() -> list[str]:
    """Optional API contracts this server has (other issues add them), so the page scripts send only what it
    accepts: `user_token` (search and feedback), `facets` (search) and `suggest` (GET /v1/suggest)."""
    from api.models import FeedbackRequest, SearchQuery

    have = []
    if "user_token" in SearchQuery.model_fields and "user_token" in FeedbackRequest.model_fields:
        have.append("user_token")
    if "facets" in SearchQuery.model_fields:
        have.append("facets")
    if any(rule.rule == "/v1/suggest" for rule in current_app.url_map.iter_rules()):
        have.append("suggest")
    return have


@bp.app_template_filter("plural")
def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 artifact`, `2 artifacts` (the number formatted with thousands separators)."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


@bp.app_template_filter("reason")
def reason(text: str) -> str:
    """A score or alternative reason as people read it: arrows instead of `->`."""
    return str(text).replace(" -> ", " → ")


@bp.app_template_filter("pct")
def pct(value: float) -> int:
    """A 0–1 component as the 0–100 number the pages show (the rank is 0–100 too)."""
    return round(max(0.0, min(1.0, float(value))) * 100)


@bp.app_template_filter("inline_md")
def inline_md(text: str) -> Markup:
    """`text` escaped, with Markdown's `code` spans as <code> (docstrings and docs/api.md use them)."""
    parts = str(text or "").split("`")
    return Markup("").join(escape(p) if i % 2 == 0 else Markup("<code>") + escape(p) + Markup("</code>")
                           for i, p in enumerate(parts))


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
    if eng.canonical(artifact_id) is None:
        raise PageError(404, "Artifact not found", f"No artifact {artifact_id[:200]!r} in the catalog.")


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name, "")
    return value if value in allowed else ""


def _catalog_counts(eng: Engine) -> dict[str, collections.Counter]:
    """Artifacts per type and per pricing, so filters offer only values that can return something."""
    key = (id(eng), eng.generation, len(eng.artifacts))
    if _COUNTS.get("key") != key:
        arts = list(eng.artifacts.values())
        _COUNTS.update(key=key, value={"type": collections.Counter(a.type for a in arts),
                                       "pricing": collections.Counter(a.pricing for a in arts)})
    return _COUNTS["value"]


def _options(allowed: tuple[str, ...], counts: collections.Counter, chosen: str) -> list[tuple[str, int]]:
    return [(v, counts.get(v, 0)) for v in allowed if counts.get(v, 0) or v == chosen]


_COUNTS: dict = {}


def _norm(text: str) -> str:
    """Case-, accent-, punctuation- and separator-insensitive form of a name or id (search.names.compact)."""
    return Engine.name_key(text)


def resolve(eng: Engine, text: str) -> list[str]:
    """Artifact ids that `text` names: the id itself, else an exact name, id or id-tail match ignoring case and
    punctuation ("The Stack v2", "the-stack-v2"), from the engine's name index, else the engine's
    typo-tolerant resolver. Several ids when the name is ambiguous, none when unknown."""
    found = eng.named(text)
    if not found:
        one = eng.resolve(text)
        found = [one] if one in eng.artifacts else []
    return found


def _near_names(eng: Engine, text: str, limit: int = 6) -> list:
    """Artifacts whose name or id contains what was typed: the choices offered when a name is not exact."""
    want = _norm(text)
    if len(want) < 2:
        return []
    found = [a for a in eng.artifacts.values() if want in _norm(a.name) or want in _norm(a.id)]
    return sorted(found, key=lambda a: (len(a.name), a.name.lower()))[:limit]


@bp.get("/artifacts/<path:artifact_id>")
def artifact(artifact_id: str):
    """Scores with their explanation, capabilities and the "Need something different?" alternatives."""
    eng = engine()
    _known(eng, artifact_id)
    if eng.canonical(artifact_id) != artifact_id:  # an old id of a merged record: its page
        return redirect(url_for("pages.artifact", artifact_id=eng.canonical(artifact_id)), 301)
    data = artifact_response(eng, artifact_id)
    alternatives = alternatives_response(eng, eng.similar(artifact_id, k=5))
    try:
        points = eng.timeline(artifact_id)
    except StoreUnavailable:  # the store cannot be read (Redis away, damaged matches.db): the page, no chart
        points = []
    days = charts.day_range([d for d, _ in points])
    by_day = dict(points)
    chart = charts.column_chart([(d, by_day.get(d, 0)) for d in days], chart_id="timeline",
                                title=f"Times Matched per day: {data['name']}",
                                desc=f"{data['times_matched']} matches in total, over {len(days)} days.",
                                unit=" matches") if points else None
    embed_src = public_url("static", filename="widget.js")
    widget_src = public_url("pages.widget_similar", artifact_id=artifact_id)
    sort = _choice("offers", tuple(factview.OFFER_SORTS)) or "input"
    named = {x: eng.artifacts[x].name for x in data["datasets"] + data["evaluated_models"] if x in eng.artifacts}
    return render_template("artifact.html", a=data, alternatives=alternatives, chart=chart,
                           timeline=[(d, by_day.get(d, 0)) for d in days], embed_src=embed_src,
                           widget_src=widget_src, components=_components(data["scores"]), types=TYPES,
                           facts=factview.facts_panel(data), usage=factview.usage(data["signals"]),
                           offers=factview.offers(data["signals"], sort), offer_sort=sort,
                           benchmarks=factview.benchmarks(data["signals"]), links=factview.links(data),
                           named=named)


def _components(scores: dict) -> list[dict]:
    return [{"key": k, "label": LABELS[k], **scores["explanation"][k]} for k in LABELS]


@bp.get("/compare")
def compare():
    """The comparison page for `?a=&b=` or `?ids=a,b,c` (2 to 4 ids or names); the picker form without them.

    Names resolve to ids ("The Stack v2" → bigcode/the-stack-v2) and redirect to the canonical URL; an
    unknown or ambiguous name shows the form again with the closest names (or its candidates) to choose from."""
    ids = ",".join(request.args.getlist("ids"))  # `?ids=a,b,c`, or the search page's checkboxes (`ids=a&ids=b`)
    if ids.strip():
        return _compare_ids(ids)
    a, b = request.args.get("a", "").strip()[:200], request.args.get("b", "").strip()[:200]
    if not a and not b:
        return render_template("compare_form.html", active="compare", a="", b="", problems={})
    eng = engine()
    ids, problems = {}, {}
    for side, text in (("a", a), ("b", b)):
        found = resolve(eng, text) if text else []
        if len(found) == 1:
            ids[side] = found[0]
        else:
            problems[side] = _problem(eng, text, found)
    if problems:
        return render_template("compare_form.html", active="compare", a=a, b=b, problems=problems), \
            404 if any(not p["ambiguous"] for p in problems.values()) else 200
    if (ids["a"], ids["b"]) != (a, b):
        return redirect(url_for("pages.compare", a=ids["a"], b=ids["b"]), 303)
    return _compare(eng, [a, b])


def _problem(eng: Engine, text: str, found: list[str]) -> dict:
    choices = [eng.artifacts[i] for i in found] or _near_names(eng, text)
    return {"text": text, "ambiguous": len(found) > 1, "choices": choices}


def _compare_ids(text: str):
    """`?ids=a,b,c`: each name or id resolved; an ambiguous or unknown one offers its candidates, each a link
    to the comparison with that position replaced."""
    texts = [t.strip()[:200] for t in text.split(",") if t.strip()]
    if not 2 <= len(texts) <= MAX_COMPARED:
        raise PageError(422, "Compare 2 to 4 artifacts", f"A comparison takes 2 to {MAX_COMPARED} artifacts; "
                                                         f"{len(texts)} were given.")
    eng = engine()
    found = [resolve(eng, t) for t in texts]
    problems = {i: _problem(eng, t, f) for i, (t, f) in enumerate(zip(texts, found, strict=True)) if len(f) != 1}
    if problems:
        for i, problem in problems.items():
            problem["links"] = [(art, ",".join(texts[:i] + [art.id] + texts[i + 1:])) for art in problem["choices"]]
        status = 404 if any(not p["ambiguous"] for p in problems.values()) else 200
        return render_template("compare_form.html", active="compare", a="", b="", problems={},
                               many=problems, texts=texts), status
    ids = [f[0] for f in found]
    if ids != texts:
        return redirect(url_for("pages.compare", ids=",".join(ids)), 303)
    return _compare(eng, ids)


@bp.get("/compare/<path:pair>")
def compare_path(pair: str):
    """`/compare/<a>/<b>`: tries every slash as the split, so ids with slashes resolve when unambiguous.

    Bounded work: a path longer than two names, or with more than MAX_COMPARE_SEGMENTS segments, names no
    pair (404 at once), and a half longer than one name is never resolved. (Before: `/compare/` + `a/` x
    2,000 resolved every split with typo tolerance: 30-60 s of one worker thread per request.)"""
    eng = engine()
    parts = pair.split("/", MAX_COMPARE_SEGMENTS) if len(pair) <= 2 * MAX_NAME_CHARS + 1 else []
    if len(parts) > MAX_COMPARE_SEGMENTS:
        parts = []
    splits = [("/".join(parts[:i]), "/".join(parts[i:])) for i in range(1, len(parts))]
    splits = [(a, b) for a, b in splits if len(a) <= MAX_NAME_CHARS and len(b) <= MAX_NAME_CHARS]
    for a, b in splits:
        if a in eng.artifacts and b in eng.artifacts:
            return _compare(eng, [a, b])
    for a, b in splits:
        a, b = eng.resolve(a), eng.resolve(b)
        if a and b:
            return _compare(eng, [a, b])
    raise PageError(404, "Comparison not found", f"{pair[:400]!r} does not name two artifacts of the catalog.")


def _compare(eng: Engine, ids: list[str]):
    ids = [eng.resolve(x) or x for x in ids]  # names ("The Stack v2") and ids in any case
    for artifact_id in ids:
        _known(eng, artifact_id)
    if len(set(ids)) != len(ids):
        raise PageError(422, "Pick different artifacts", "A comparison needs different artifacts.")
    data = eng.compare(*ids)
    alignment = {x: [row for row in data["capability_alignment"] if row["artifact_id"] == x] for x in ids}
    alternatives = {x: alternatives_response(eng, [alt for alt in eng.similar(x, k=len(ids) + 2)
                                                   if alt.artifact_id not in ids][:3]) for x in ids}
    return render_template("compare.html", c=data, alignment=alignment, shown=SHOWN_CAPABILITIES,
                           alternatives=alternatives, rows={r["key"]: r for r in data["rows"]},
                           components={k: v for k, v in LABELS.items() if k != "adoption"},
                           winners={n["key"]: n["winner"] for n in data["needs"] if n["winner"]},
                           credits=_merged_credits(data["credits"]),
                           bench_rows=sum(r["key"].startswith("benchmark:") for r in data["rows"]),
                           title=" vs ".join(data["names"][x] for x in ids), active="compare")


def _merged_credits(by_artifact: dict[str, list[dict]]) -> list[dict]:
    """Each source once, in the order the artifacts name them."""
    seen: dict[str, dict] = {}
    for credits in by_artifact.values():
        for credit in credits:
            seen.setdefault(credit["source"], credit)
    return list(seen.values())


@bp.get("/docs")
def docs():
    """The API reference: every operation of the OpenAPI document, its schemas and a recorded example."""
    from api.spec import spec

    ops = apidocs.build(spec.spec)
    tags: dict[str, list[dict]] = {}
    for op in ops:
        tags.setdefault((op["tags"] or ["other"])[0], []).append(op)
    return render_template("docs.html", ops=ops, tags=tags, others=apidocs.others(spec.spec),
                           info=spec.spec["info"], active="docs")


@bp.get("/widget/similar/<path:artifact_id>")
def widget_similar(artifact_id: str):
    """The embeddable "similar artifacts" list: a small page meant for an iframe on any site.

    Options: `k` (1–10 alternatives), `type` (only that artifact type), `theme` (light, dark or auto). An
    unknown id or an outage shows a one-line message inside the widget, never the site's error page."""
    try:
        k = min(MAX_SIMILAR, max(1, int(request.args.get("k", 5))))
    except ValueError:
        k = 5
    kind = _choice("type", TYPES)
    theme = _choice("theme", THEMES) or "light"
    try:
        eng = engine()
        if artifact_id not in eng.artifacts:
            return _widget_message(theme, 404, "This artifact is not in the catalog.", link=True)
        alternatives = alternatives_response(eng, eng.similar(artifact_id, k=k,
                                                                  types=[kind] if kind else ()))
    except (ApiError, StoreUnavailable):
        return _widget_message(theme, 503, "Similar artifacts are unavailable right now. Try again soon.",
                               headers={"Retry-After": "5"})
    resp = render_template("widget.html", a=eng.artifacts[artifact_id], alternatives=alternatives,
                           kind=kind, theme=theme)
    return resp, 200, _WIDGET_HEADERS


# The widget may be framed by any page, including a local file (`frame-ancestors *` does not match
# file: or data: pages, so the directive is left out rather than widened).
_WIDGET_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                              "script-src 'self'"}


def _widget_message(theme: str, status: int, message: str, link: bool = False, headers: dict | None = None):
    html = render_template("widget_message.html", message=message, link=link, theme=theme)
    return html, status, {**_WIDGET_HEADERS, **(headers or {})}


from api import page_analytics, page_search  # noqa: E402, F401  (their routes are on `bp`; they import from here)
