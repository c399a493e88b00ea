"""Compare that decides and artifact facts (issue 30): the API (`/v1/compare`, 2 to 4 artifacts, numbers with
display strings, 409 with candidates), the pages (facts panel, offers, datasets, credits) with Flask's test
client, and in Chromium at 1280 px and 390 px.

The engine serves real bundled records: GPT-4o and Claude Sonnet 4 with their offers and benchmarks, a
dataset both were evaluated on, two artifacts named "Whisper" (an ambiguous name), a CC-BY-SA library.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, unquote

import pytest
from conftest import DATA, small_records
from test_pages import SHOTS, _readme_shot, allow_console, browser, server  # noqa: F401 (fixtures)

GPT, CLAUDE, CLAUDE45 = "openai/gpt-4o", "anthropic/claude-sonnet-4-0", "anthropic/claude-sonnet-4-5"
GPQA = "bench/gpqa"
WHISPERS = ("genai/whisper", "openai/whisper-1")
IDS = (GPT, CLAUDE, CLAUDE45, GPQA, *WHISPERS, "bench/mmmu")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def records() -> list[dict]:
    rows = [json.loads(line) for f in sorted((DATA / "catalog").glob("*.jsonl")) for line in f.open()]
    chosen = [r for r in rows if r["id"] in IDS]
    chosen.append(next(r for r in rows if "CC-BY-SA" in r["signals"].get("source", "")
                        and r["type"] == "library"))
    return small_records(extra=0)[:3] + chosen


@pytest.fixture(scope="module")
def engine(embedder, tmp_path_factory: pytest.TempPathFactory):
    from graph.settings import Settings
    from search.engine import Engine

    folder = tmp_path_factory.mktemp("compare")
    catalog = folder / "compare.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in records()))
    eng = Engine(Settings.load(data_dir=folder / "var", store_url=""), embedder=embedder)
    eng.ingest([catalog])
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def app(engine):
    from api.app import create_app

    return create_app(engine=engine)


@pytest.fixture
def client(app):
    return app.test_client()


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&amp;", "&")


def _row(body: dict, key: str) -> dict:
    return next(r for r in body["rows"] if r["key"] == key)


# --- API -------------------------------------------------------------------------------------------
def test_compare_api_decides_on_price_and_context(client, engine) -> None:
    body = client.get("/v1/compare", query_string={"a": GPT, "b": CLAUDE}).get_json()
    assert body["ids"] == [GPT, CLAUDE]
    facts = {x: engine.facts(x) for x in (GPT, CLAUDE)}
    for key, fact in (("input_price", "input_usd_per_mtok"), ("output_price", "output_usd_per_mtok"),
                      ("context", "context_tokens")):
        row = _row(body, key)
        assert [v["value"] for v in row["values"]] == [facts[GPT][fact], facts[CLAUDE][fact]]
        assert all(v["display"] and v["display"] != "no data" for v in row["values"])
        assert (row["a"], row["b"]) == tuple(v["display"] for v in row["values"])
    assert _row(body, "input_price")["values"][0]["display"] == "$2.50"
    # GPT-4o $2.50 vs $3.00 input: 17% cheaper; 128K vs Claude's headline 1M context (its largest offer)
    assert "GPT-4o is 17% cheaper on input" in body["verdict"]
    more = round(100 * (facts[CLAUDE]["context_tokens"] - 128_000) / 128_000)
    assert f"Claude Sonnet 4 has {more}% more context" in body["verdict"], body["verdict"]
    needs = {n["key"]: n for n in body["needs"]}
    assert needs["input_price"]["winner"] == GPT and needs["context"]["winner"] == CLAUDE
    for key in ("modalities_in", "modalities_out", "license", "open_weights"):
        assert _row(body, key)
    rank = _row(body, "unfragile_rank")["values"]
    apart = rank[0]["interval"][0] > rank[1]["interval"][1] or rank[1]["interval"][0] > rank[0]["interval"][1]
    assert (body["overall"] is not None) == apart
    if not apart:
        assert body["verdict"].startswith("No overall leader") and "depends on your need" in body["verdict"]
    # a component with no data is null with "no data", never 0
    for row in body["rows"]:
        for cell in row["values"]:
            assert (cell["value"] is None) == (cell["display"] == "no data"), (row["key"], cell)
    # shared benchmarks are rows with their source; the CC-BY credit comes with them
    bench = [r for r in body["rows"] if r["key"].startswith("benchmark:")]
    assert body["shared_benchmarks"] >= len(bench) > 0
    assert all(c["source"] for r in bench for c in r["values"])
    assert any(c["license"] == "CC-BY-4.0" and c["attribution"] for c in body["credits"][GPT])


def test_compare_api_takes_ids_for_three_and_four(client) -> None:
    three = client.get("/v1/compare", query_string={"ids": f"{GPT},{CLAUDE},{CLAUDE45}"})
    assert three.status_code == 200, three.get_data(as_text=True)
    body = three.get_json()
    assert body["ids"] == [GPT, CLAUDE, CLAUDE45] and all(len(r["values"]) == 3 for r in body["rows"])
    assert "the next best" in body["verdict"] or "No need differs" in body["verdict"]
    four = client.get("/v1/compare", query_string={"ids": f"{GPT},{CLAUDE},{CLAUDE45},{GPQA}"})
    assert four.status_code == 200 and len(four.get_json()["ids"]) == 4
    for query, status, field in ((f"ids={GPT}", 422, "ids"), (f"ids={GPT},{CLAUDE},{GPQA},x,y", 422, "ids"),
                                 (f"ids={GPT},{GPT}", 422, "ids[1]"), (f"ids={GPT},nope", 404, "ids[1]"),
                                 (f"ids={GPT},{CLAUDE}&a={GPT}", 422, "ids")):
        resp = client.get("/v1/compare?" + query)
        assert resp.status_code == status and resp.get_json()["error"]["field"] == field, (query, resp.get_json())


def test_compare_api_answers_an_ambiguous_name_with_candidates(client) -> None:
    resp = client.get("/v1/compare", query_string={"a": "whisper", "b": GPT})
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["error"]["code"] == "ambiguous" and body["error"]["field"] == "a"
    assert sorted(c["artifact_id"] for c in body["candidates"]) == sorted(WHISPERS)
    assert client.get("/v1/compare", query_string={"a": "gpt-4o", "b": "claude sonnet 4"}).status_code == 200


def test_artifact_api_carries_credits(client) -> None:
    body = client.get(f"/v1/artifacts/{GPT}").get_json()
    names = {c["source"] for c in body["credits"]}
    assert {"models.dev", "Epoch AI, 'AI Benchmarking'"} <= names


# --- pages (server-rendered, the no-JavaScript path) -----------------------------------------------
def test_compare_page_shows_the_facts_and_decides(client, engine) -> None:
    resp = client.get("/compare", query_string={"a": GPT, "b": CLAUDE})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    text = _text(html)
    data = engine.compare(GPT, CLAUDE)
    assert data["verdict"] in text and "GPT-4o is 17% cheaper on input" in text
    assert "Claude Sonnet 4 has" in text and "more context" in text
    features = re.search(r'<table class="features[^"]*">(.*?)</table>', html, re.S).group(1)
    for key in ("input_price", "output_price", "context", "modalities_in", "modalities_out", "license"):
        row = re.search(rf'<tr data-feature="{key}">(.*?)</tr>', features, re.S)
        assert row, key
        for cell in _row(data, key)["values"]:
            assert cell["display"] in _text(row.group(1)), (key, cell)
    assert "$2.50" in features and "$3.00" in features and "128K tokens" in features
    assert "text, image" in features
    # the winner of a need is marked; a component with no data is never a number
    assert re.search(r'<tr data-feature="input_price">.*?<strong>\$2\.50</strong> <span class="win">best</span>',
                     features, re.S)
    for key in ("quality", "ecosystem", "match_graph", "freshness"):
        row = re.search(rf'<tr class="score-row" data-feature="{key}">(.*?)</tr>', features, re.S).group(1)
        nums = re.findall(r'<span class="score-num">([^<]+)</span>', row)
        want = ["no data" if data["scores"][x][key] is None else str(round(100 * data["scores"][x][key]))
                for x in (GPT, CLAUDE)]
        assert nums == want, key
    # the benchmark numbers are CC-BY (Epoch AI / LLM Stats): their credit is on the page
    credits = html[html.index('data-testid="credits"'):]
    assert "Epoch AI, &#39;AI Benchmarking&#39;. Published online at epoch.ai" in credits
    assert "CC-BY-4.0" in credits and "models.dev" in credits


def test_compare_page_takes_three_by_ids_and_lists_candidates(client, engine) -> None:
    html = client.get("/compare", query_string={"ids": f"{GPT},{CLAUDE},{CLAUDE45}"}).get_data(as_text=True)
    head = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    assert [_text(h).strip() for h in re.findall(r'<th scope="col">(.*?)</th>', head)] == \
        ["Feature", "GPT-4o", "Claude Sonnet 4", "Claude Sonnet 4.5"]
    assert html.count('data-label="Claude Sonnet 4.5"') >= 10
    assert engine.compare(GPT, CLAUDE, CLAUDE45)["verdict"].replace("'", "&#39;") in html
    by_name = client.get("/compare", query_string={"ids": "gpt-4o, claude sonnet 4"})
    assert by_name.status_code == 303
    assert unquote(by_name.headers["Location"]).endswith(f"/compare?ids={GPT},{CLAUDE}")
    ambiguous = client.get("/compare", query_string={"ids": f"whisper,{GPT}"})
    assert ambiguous.status_code == 200
    page = ambiguous.get_data(as_text=True)
    assert "Several artifacts are called “whisper”. Which one?" in page
    links = {unquote(h) for h in re.findall(r'href="(/compare\?ids=[^"]+)"', page)}
    assert {f"/compare?ids={w},{GPT}" for w in WHISPERS} <= links
    two = client.get("/compare", query_string={"a": "whisper", "b": GPT}).get_data(as_text=True)
    assert "Several artifacts are called “whisper”" in two and all(w in two for w in WHISPERS)
    assert client.get("/compare", query_string={"ids": GPT}).status_code == 422


def test_model_page_shows_facts_offers_and_benchmarks_with_credit(client, engine) -> None:
    html = client.get(f"/artifacts/{GPT}").get_data(as_text=True)
    facts = _text(re.search(r'<dl class="facts-panel" data-testid="facts">(.*?)</dl>', html, re.S).group(1))
    for part in ("Maker OpenAI", "Licence", "Open weights no", "Input price $2.50 per million tokens",
                 "Output price $10.00 per million tokens", "Input modalities text, image", "Output modalities text",
                 "Context window 128,000 tokens", "Longest output", "Released", "Updated"):
        assert part in facts, part
    offers = re.search(r'<table class="offers stack" data-testid="offers">(.*?)</table>', html, re.S).group(1)
    providers = re.findall(r'<th scope="row">([^<]+)', offers)
    assert len(providers) == len(engine.artifacts[GPT].signals["offers"])
    assert re.search(r'<tr class="maker">\s*<th scope="row">OpenAI <span class="win">maker</span>', offers)
    inputs = [float(v[1:]) for v in re.findall(r'data-label="Input \$/M">(\$[\d.]+)<', offers)]
    assert inputs == sorted(inputs)  # sorted by input price by default
    by_context = client.get(f"/artifacts/{GPT}", query_string={"offers": "provider"}).get_data(as_text=True)
    names = re.findall(r'<th scope="row">([^<]+)', re.search(r'data-testid="offers">(.*?)</table>', by_context,
                                                             re.S).group(1))
    assert [n.strip().lower() for n in names] == sorted(n.strip().lower() for n in names)
    assert 'aria-sort="ascending">Provider' in by_context
    bench = _text(re.search(r'data-testid="benchmarks">(.*?)</table>', html, re.S).group(1))
    assert "measured" in bench and "Epoch AI" in bench and re.search(r"\d{4}-\d{2}-\d{2}", bench)
    credits = html[html.index('data-testid="credits"'):]
    assert "CC-BY-4.0" in credits and "Published online at epoch.ai" in credits
    evals = _text(re.search(r'data-testid="evaluations">(.*?)</ul>', html, re.S).group(1))
    assert engine.artifacts[GPQA].name in evals


def test_dataset_page_shows_licence_homepage_and_models_evaluated_on_it(client, engine) -> None:
    html = client.get(f"/artifacts/{GPQA}").get_data(as_text=True)
    facts = _text(re.search(r'data-testid="facts">(.*?)</dl>', html, re.S).group(1))
    assert f"Licence {engine.facts(GPQA)['license']}" in facts
    homepage = engine.artifacts[GPQA].signals["homepage"]
    assert f'href="{homepage}"' in html
    evaluated = re.search(r'<h2 id="evals-h">Models evaluated on it</h2>(.*?)</section>', html, re.S).group(1)
    assert f'href="/artifacts/{GPT}"' in evaluated and f'href="/artifacts/{CLAUDE}"' in evaluated
    assert "lm-evaluation-harness" in html[html.index('data-testid="credits"'):]


def test_share_alike_text_is_credited_on_its_page(client, engine) -> None:
    library = next(a for a in engine.artifacts.values() if "CC-BY-SA" in a.signals.get("source", ""))
    html = client.get(f"/artifacts/{library.id}").get_data(as_text=True)
    credits = html[html.index('data-testid="credits"'):]
    assert "CC-BY-SA-4.0" in credits and "Text and numbers from best-of-ml-python by ml-tooling" in credits


# --- real browser: 1280 px and 390 px --------------------------------------------------------------
def _fits(pg, width: int) -> None:
    """Nothing scrolls sideways and no table cell is cut off at `width`."""
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    cut = pg.evaluate(f"""[...document.querySelectorAll('table td, table th')]
        .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > {width} + 1)
        .slice(0, 5).map(e => e.textContent.trim().slice(0, 40))""")
    assert cut == [], cut


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_compare_gpt4o_and_claude_in_chromium(browser, server: str, engine, viewport) -> None:  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    pg = context.new_page()
    pg.goto(f"{server}/compare?a={quote(GPT, safe='')}&b=anthropic%2Fclaude-sonnet-4")
    assert unquote(pg.url).endswith(f"/compare?a={GPT}&b={CLAUDE}")  # the canonical ids
    verdict = pg.locator('[data-testid="verdict"]')
    expect(verdict).to_contain_text("GPT-4o is 17% cheaper on input")
    expect(verdict).to_contain_text(re.compile(r"Claude Sonnet 4 has \d+% more context"))
    for key in ("input_price", "output_price", "context", "modalities_in", "modalities_out", "license"):
        cells = pg.locator(f'tr[data-feature="{key}"] td')
        expect(cells).to_have_count(2)
        for i in range(2):
            expect(cells.nth(i)).to_be_visible()
            assert cells.nth(i).inner_text().strip(), key
    for key in ("quality", "ecosystem", "match_graph", "freshness"):  # no data is never a number
        nums = pg.locator(f'tr[data-feature="{key}"] .score-num').all_inner_texts()
        values = [engine.scores(x).to_dict()[key] for x in (GPT, CLAUDE)]
        want = ["no data" if v is None else str(round(100 * v)) for v in values]
        assert nums == want, key
    expect(pg.locator('[data-testid="credits"]')).to_contain_text("Published online at epoch.ai")
    _fits(pg, viewport["width"])
    assert pg.locator("h1").count() == 1
    name = "compare-models-" + ("phone" if viewport is PHONE else "desktop")
    pg.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    if viewport is PHONE:
        _readme_shot(pg, "compare-models-phone")
    else:
        _readme_shot(pg, "compare-models-desktop")
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_compare_three_and_pick_a_candidate_in_chromium(browser, server: str, viewport) -> None:  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(viewport=viewport)
    pg = context.new_page()
    pg.goto(f"{server}/compare?ids=" + quote(f"{GPT},{CLAUDE},{CLAUDE45}", safe=",/"))
    expect(pg.locator('tr[data-feature="context"] td')).to_have_count(3)
    _fits(pg, viewport["width"])
    pg.goto(f"{server}/compare?ids=" + quote(f"whisper,{GPT}", safe=",/"))
    choice = pg.locator(".choices a", has_text="Whisper").first
    expect(pg.locator(".choices a")).to_have_count(2)
    choice.focus()
    pg.keyboard.press("Enter")  # keyboard: pick the candidate
    expect(pg.locator('[data-testid="verdict"]')).to_be_visible()
    assert pg.locator("table.features thead th").count() == 3
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_artifact_pages_show_offers_and_datasets_in_chromium(browser, server: str, viewport) -> None:  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(viewport=viewport)
    pg = context.new_page()
    pg.goto(f"{server}/artifacts/{GPT}")
    offers = pg.locator('[data-testid="offers"]')
    expect(offers).to_be_visible()
    expect(offers.locator("tr.maker")).to_contain_text("OpenAI")
    _fits(pg, viewport["width"])
    if viewport is DESKTOP:
        _readme_shot(pg, "artifact-offers-desktop")
        sort = pg.locator('[data-testid="offers"] thead a', has_text="Provider")
        sort.focus()
        pg.keyboard.press("Enter")  # sortable from the keyboard
        expect(pg.locator('[data-testid="offers"] th[aria-sort="ascending"]')).to_have_text("Provider")
    pg.screenshot(path=SHOTS / f"artifact-offers-{viewport['width']}.png", full_page=True)
    pg.goto(f"{server}/artifacts/{GPQA}")
    expect(pg.locator('[data-testid="facts"]')).to_contain_text("Licence")
    expect(pg.locator('[data-testid="evaluations"]')).to_contain_text("GPT-4o")
    expect(pg.locator('[data-testid="credits"]')).to_be_visible()
    _fits(pg, viewport["width"])
    pg.screenshot(path=SHOTS / f"dataset-{viewport['width']}.png", full_page=True)
    context.close()
