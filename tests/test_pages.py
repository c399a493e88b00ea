"""Reference pages: server-rendered checks with Flask's test client (the no-JavaScript path) and
real-browser checks in Debian's Chromium driven by Playwright (marked `browser`).

Screenshots of every page (desktop and a 390px phone) go to test-artifacts/pages/.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock
from urllib.parse import quote

import pytest
from conftest import ROOT, small_records

BERT = "bert-large-uncased-whole-word-masking-finetuned-squad"
STACK = "bigcode/the-stack-v2"
QUERY = "extract answers from passages"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "test-artifacts" / "pages"
PHONE = {"width": 390, "height": 844}
HISTORY = ("question answering model", "source code dataset for training", "generate python code",
           "biomedical text embeddings")


# --- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine(embedder, tmp_path_factory: pytest.TempPathFactory):
    """One engine over small_records() for the whole module (ingest embeds ~300 capabilities once)."""
    from search.config import Config
    from search.engine import Engine

    folder = tmp_path_factory.mktemp("pages")
    catalog = folder / "small.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in small_records()))
    eng = Engine(Config.from_env(data_dir=folder / "var", store_url=""), embedder=embedder)
    eng.ingest([catalog])
    _backfill(eng)
    yield eng
    eng.close()


def _backfill(eng, days: int = 5) -> None:
    """Searches of earlier days (the clock is patched while they are recorded) so charts have days to draw."""
    now = time.time()
    for ago in range(days, 0, -1):
        for j, query in enumerate(HISTORY):
            for _ in range((ago + j) % 3):
                with mock.patch.object(time, "time", return_value=now - ago * 86_400):
                    eng.search(query)


@pytest.fixture(scope="module")
def app(engine):
    from api.app import create_app

    return create_app(engine=engine)


@pytest.fixture
def client(app):
    return app.test_client()


def _clicks(engine) -> int:
    return engine.store.summary().get("clicks", 0)


def _text(html: str) -> str:
    """Visible text of a page, whitespace collapsed (tags dropped, entities left as they are)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- server-rendered pages (no JavaScript) ---------------------------------------------------------
def test_search_page_works_as_a_plain_get_form(client) -> None:
    empty = client.get("/")
    assert empty.status_code == 200 and empty.mimetype == "text/html"
    page = empty.get_data(as_text=True)
    assert re.search(r'<form[^>]*action="/"[^>]*method="get"', page)
    assert '<label for="q">' in page and 'id="q" name="q"' in page
    assert "search.js" in page and "<script>" not in page  # no inline script: the CSP forbids it

    html = client.get("/", query_string={"q": QUERY}).get_data(as_text=True)
    cards = re.findall(r'<li class="card" data-artifact-id="([^"]+)"', html)
    assert BERT in cards[:3]
    text = _text(html)
    for label in ("Type", "UnfragileRank", "Times Matched", "Matched capabilities"):
        assert label in text
    assert "<mark>Passage</mark>" in html  # matched capabilities show the query's words highlighted
    assert re.search(r'href="/click\?search_id=[0-9a-f]+&amp;artifact_id=', html)
    assert f'value="{QUERY}"' in html


def test_search_page_filters_and_escapes(client) -> None:
    html = client.get("/", query_string={"q": "<script>alert(1)</script> answers", "type": "dataset"}).get_data(
        as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    results = html[html.index('<ol id="results"'):html.index('<template id="card-template">')]
    assert set(re.findall(r'<dd class="card-type">([^<]*)</dd>', results)) == {"dataset"}
    assert '<option value="dataset" selected>' in html


def test_click_link_records_feedback_then_opens_the_artifact(client, engine) -> None:
    html = client.get("/", query_string={"q": QUERY}).get_data(as_text=True)
    search_id = re.search(r'data-search-id="([0-9a-f]+)"', html).group(1)
    before = _clicks(engine)
    resp = client.get("/click", query_string={"search_id": search_id, "artifact_id": BERT})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/artifacts/{BERT}")
    assert _clicks(engine) == before + 1
    stale = client.get("/click", query_string={"search_id": "ffff", "artifact_id": BERT})
    assert stale.status_code == 303 and _clicks(engine) == before + 1
    missing = client.get("/click", query_string={"search_id": search_id, "artifact_id": "no/such"})
    assert missing.status_code == 404 and missing.mimetype == "text/html"


def test_artifact_page_shows_explained_scores_capabilities_and_alternatives(client, engine) -> None:
    from search import related

    resp = client.get(f"/artifacts/{STACK}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    text = _text(html)
    scores = engine.scores(STACK)
    assert f'data-stat="unfragile_rank">{scores.unfragile_rank}<' in html
    for component in ("Adoption", "Quality", "Ecosystem", "Match Graph", "Freshness"):
        assert component in text
    assert scores.components["quality"].reasons[0] in text  # the explanation, not only the number
    art = engine.artifacts[STACK]
    assert art.capabilities[0].title in text and "Unique" in text and "vs alternatives" in text
    assert "Need something different?" in text
    for alt in related.similar(engine, STACK, k=5):
        assert f'href="/artifacts/{alt.artifact_id}"' in html
        assert alt.reasons[0].replace("'", "&#39;") in html
    assert re.search(r'href="/compare\?a=bigcode(/|%2F)the-stack-v2&amp;b=', html)
    assert 'data-artifact="bigcode/the-stack-v2"' in html  # the embed snippet
    assert client.get("/artifacts/no/such").status_code == 404


def test_compare_page_follows_the_seed_layout(client, engine) -> None:
    from search import related

    data = related.compare(engine, BERT, STACK)
    resp = client.get("/compare", query_string={"a": BERT, "b": STACK})
    assert resp.status_code == 200
    text = _text(resp.get_data(as_text=True)).replace("&#39;", "'")
    order = [f"{BERT} vs The Stack v2", data["headline"], "Feature", f"{BERT} Capabilities",
             "The Stack v2 Capabilities", "+3 more capabilities", "Capability alignment", "Verdict",
             data["verdict"], "Need something different?", "Search the match graph →"]
    positions = [text.find(part) for part in order]
    assert -1 not in positions, [p for p, i in zip(order, positions, strict=True) if i < 0]
    assert positions == sorted(positions)
    for row in data["rows"]:
        assert re.search(rf"{re.escape(row['feature'])} {re.escape(row['a'])} {re.escape(row['b'])}", text)
    for row in data["capability_alignment"][:3]:
        assert row["counterpart_title"] in text


def test_compare_routes_resolve_slashed_ids(client) -> None:
    want = client.get("/compare", query_string={"a": BERT, "b": STACK}).get_data(as_text=True)
    assert client.get(f"/compare/{BERT}/{STACK}").get_data(as_text=True) == want
    assert client.get(f"/compare/{STACK}/{BERT}").status_code == 200
    assert client.get("/compare/no/such").status_code == 404
    same = client.get("/compare", query_string={"a": BERT, "b": BERT})
    assert same.status_code == 422 and same.mimetype == "text/html"
    assert '<label for="a">' in client.get("/compare").get_data(as_text=True)
    # names work too (any case, one typo), in the form and in the path
    by_name = client.get("/compare", query_string={"a": BERT.upper(), "b": "The Stack v2"})
    assert by_name.status_code == 200 and by_name.get_data(as_text=True) == want
    assert client.get("/compare", query_string={"a": BERT, "b": "the stak v2"}).get_data(as_text=True) == want
    assert client.get(f"/compare/{BERT}/The Stack v2").status_code == 200


def test_analytics_page_draws_svg_charts_and_lists_weak_queries(client, engine) -> None:
    engine.search("answers from passages", types=["dataset"])
    engine.search("write python code", types=["agent"])  # no agents: a zero-result search
    html = client.get("/analytics").get_data(as_text=True)
    assert html.count('<svg class="chart"') == 2
    assert 'role="img"' in html and "<title id=\"tm-over-time-title\">" in html
    assert re.search(r'data-stat="searches">\d+<', html)
    top = engine.store.top_artifacts(limit=1)[0][0]
    assert f'href="/artifacts/{top}"' in html
    zero = re.search(r'id="zero_results-queries">(.*?)</ol>', html, re.S)
    assert zero and "write python code" in zero.group(1)
    assert "Low-confidence queries" in html and "Searches per day" in html


def test_widget_page_is_embeddable_and_cors_is_on(client) -> None:
    resp = client.get(f"/widget/similar/{STACK}?k=3", headers={"Origin": "http://other.example"})
    assert resp.status_code == 200
    assert resp.get_data(as_text=True).count('class="w-item"') == 3
    assert "frame-ancestors *" in resp.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in resp.headers
    assert resp.headers.get("Access-Control-Allow-Origin") in ("*", "http://other.example")
    api = client.get(f"/v1/artifacts/{STACK}/similar", headers={"Origin": "http://other.example"})
    assert api.headers.get("Access-Control-Allow-Origin") in ("*", "http://other.example")
    script = client.get("/static/widget.js")
    assert script.status_code == 200 and "javascript" in script.mimetype


def test_pages_say_loading_in_html_while_the_engine_loads(app) -> None:
    holder = app.extensions["matchgraph"]
    holder.ready.clear()
    try:
        resp = app.test_client().get("/analytics")
    finally:
        holder.ready.set()
    assert resp.status_code == 503 and resp.mimetype == "text/html" and resp.headers["Retry-After"]
    assert "Still loading" in resp.get_data(as_text=True)


def test_highlight_marks_query_words_and_escapes() -> None:
    from api.pages import highlight

    assert highlight("Passage <b>ranking</b>", "passages rank") == \
        "<mark>Passage</mark> &lt;b&gt;<mark>rank</mark>ing&lt;/b&gt;"
    assert highlight("The answer", "the") == "The answer"


# --- real browser ----------------------------------------------------------------------------------
class _Server:
    """A werkzeug server on a free 127.0.0.1 port, in a daemon thread."""

    def __init__(self, wsgi_app) -> None:
        from werkzeug.serving import make_server

        self.httpd = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.thread.join(5)


@pytest.fixture(scope="module")
def server(app) -> Iterator[str]:
    srv = _Server(app)
    yield srv.url
    srv.stop()


@pytest.fixture(scope="module")
def other_origin(server: str) -> Iterator[str]:
    """A site on another port (so another origin) with the widget's script tag in its page."""
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Another site</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
            f'<body style="font-family: Georgia, serif; background: #fbf8f3; margin: 0">'
            f'<article style="max-width: 640px; margin: 0 auto; padding: 1rem">'
            f'<h1>A blog post about code datasets</h1><p>Code models are only as good as their data.</p>'
            f'<h2>Readers also looked at</h2>'
            f'<script src="{server}/static/widget.js" data-artifact="{STACK}" async></script>'
            f'</article></body></html>').encode()

    def site(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page]

    srv = _Server(site)
    yield srv.url
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield pg
    context.close()
    assert not errors, errors  # no script errors and no CSP violations


def _stat(pg, name: str) -> int:
    return int(pg.locator(f'[data-stat="{name}"]').inner_text().split()[0])


@pytest.mark.browser
def test_type_a_query_click_a_result_and_see_the_counts_change(page, server: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server}/analytics")
    clicks, searches = _stat(page, "clicks"), _stat(page, "searches")

    page.goto(server + "/")
    page.locator("#q").press_sequentially(QUERY, delay=15)
    cards = page.locator("#results .card")
    expect(cards.first).to_be_visible()
    expect(page.locator("#search-status")).to_contain_text(f"match “{QUERY}”")
    expect(page.locator("#results mark").first).to_be_visible()
    assert "q=extract" in page.url  # shareable URL, same as the no-JS form's
    page.screenshot(path=SHOTS / "search-desktop.png", full_page=True)

    page.locator("#q").press("ArrowDown")  # keyboard: into the results
    first = page.locator("#results .card-link").first
    expect(first).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#results .card-link").nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(first).to_be_focused()

    name = first.inner_text()
    listed = int(cards.first.locator(".card-tm").inner_text())
    first.click()
    page.wait_for_url(re.compile(r"/artifacts/"))
    expect(page.locator("h1")).to_have_text(name)
    assert _stat(page, "times_matched") >= listed >= 1
    expect(page.locator("#alts-h")).to_have_text("Need something different?")
    page.screenshot(path=SHOTS / "artifact-desktop.png", full_page=True)

    page.goto(f"{server}/analytics")
    for _ in range(20):  # the click is sent with keepalive; on a slow machine it may land just after
        if _stat(page, "clicks") > clicks:
            break
        page.wait_for_timeout(250)
        page.reload()
    assert _stat(page, "clicks") == clicks + 1
    assert _stat(page, "searches") > searches
    expect(page.locator("#top-artifacts")).to_contain_text(name)
    expect(page.locator("svg.chart").first).to_be_visible()
    page.screenshot(path=SHOTS / "analytics-desktop.png", full_page=True)


@pytest.mark.browser
def test_search_without_javascript_is_a_plain_form(browser, server: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    pg.goto(server + "/")
    pg.fill("#q", "question answering")
    pg.press("#q", "Enter")
    pg.wait_for_url(re.compile(r"\?q=question"))
    assert pg.locator("#results .card").count() >= 3
    pg.locator("#results .card-link").first.click()
    pg.wait_for_url(re.compile(r"/artifacts/"))
    context.close()


@pytest.mark.browser
def test_open_a_comparison_and_read_the_verdict(page, server: str, engine) -> None:
    from playwright.sync_api import expect

    from search import related

    data = related.compare(engine, BERT, STACK)
    page.goto(f"{server}/compare?a={BERT}&b={quote(STACK, safe='')}")
    expect(page.locator('[data-testid="headline"]')).to_have_text(data["headline"])
    expect(page.locator('[data-testid="verdict"]')).to_have_text(data["verdict"])
    expect(page.locator("table.features tbody tr")).to_have_count(len(data["rows"]))
    more = page.locator("details.more summary")
    expect(more).to_have_text("+3 more capabilities")
    more.click()
    expect(page.locator("details.more .capability").first).to_be_visible()
    page.screenshot(path=SHOTS / "compare-desktop.png", full_page=True)


@pytest.mark.browser
def test_widget_works_on_a_page_of_another_origin(page, server: str, other_origin: str) -> None:
    from playwright.sync_api import expect

    page.goto(other_origin + "/")
    frame = page.frame_locator("iframe.matchgraph-similar")
    expect(frame.locator(".w-item")).to_have_count(5)
    expect(frame.locator("h1")).to_contain_text("The Stack v2")
    box = page.locator("iframe.matchgraph-similar")
    page.wait_for_function("document.querySelector('iframe.matchgraph-similar').style.height !== ''")
    height = box.bounding_box()["height"]
    inner = frame.locator("body").evaluate("b => b.ownerDocument.documentElement.scrollHeight")
    assert abs(height - inner) <= 2  # resized to its content by postMessage
    url = f"{server}/v1/artifacts/{STACK}/similar?k=3"
    with page.expect_response(url) as response:  # a cross-origin fetch only succeeds with CORS headers
        fetched = page.evaluate("async (url) => { const r = await fetch(url); return {type: r.type, "
                                "body: await r.json()}; }", url)
    assert response.value.headers["access-control-allow-origin"] in ("*", other_origin)
    assert fetched["type"] == "cors" and len(fetched["body"]["alternatives"]) == 3
    page.screenshot(path=SHOTS / "widget-other-origin.png", full_page=True)


@pytest.mark.browser
def test_pages_fit_a_phone_and_label_their_controls(browser, server: str) -> None:
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)
    pg = context.new_page()
    pages = {"search": f"/?q={quote(QUERY)}", "artifact": f"/artifacts/{BERT}",
             "compare": f"/compare?a={BERT}&b={quote(STACK, safe='')}", "analytics": "/analytics",
             "widget": f"/widget/similar/{STACK}"}
    for name, path in pages.items():
        pg.goto(server + path)
        width = pg.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} scrolls sideways on a phone ({width}px)"
        unlabeled = pg.evaluate("""[...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden' && !e.labels.length && !e.getAttribute('aria-label')).length""")
        assert unlabeled == 0, f"{name} has unlabeled controls"
        assert pg.locator("h1").count() == 1
        pg.screenshot(path=SHOTS / f"{name}-phone.png", full_page=True)
    context.close()
