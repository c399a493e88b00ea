"""Old ids keep working after entity resolution merged their records (issue 23, graph/aliases.py).

`GET /v1/artifacts/<old id>` answers with the merged artifact (canonical `artifact_id`, `aliases` listing
the old ids); PUT or DELETE on an old id answers 409 naming the canonical id; old ids are names search
and suggest know; what was recorded under an old id counts for the canonical artifact, read at once and
after a rebuild from the event log. Real engine, real SQLite store, the bundled catalog's records.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import small_records

from graph.aliases import AliasMap
from graph.catalog import Artifact
from graph.events import FeedbackEvent, SearchEvent, Served

ROOT = Path(__file__).resolve().parents[1]
KEY = "alias-admin-key"
OPUS = "anthropic/claude-opus-4-7"
GPT4O = "openai/gpt-4o"


def _bundled(*ids: str) -> list[dict]:
    rows = {}
    for path in sorted((ROOT / "data" / "catalog").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record["id"] in ids:
                rows[record["id"]] = record
    return [rows[i] for i in ids]


@pytest.fixture(scope="module")
def engine(embedder, tmp_path_factory):
    from graph.settings import Settings
    from search.engine import Engine

    root = tmp_path_factory.mktemp("aliases")
    records = _bundled(OPUS, GPT4O, "openai/gpt-4o-mini", "openai/gpt-4.1") + small_records(10)
    catalog = root / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in records))
    eng = Engine(Settings.load(data_dir=root / "var", store_url=""), embedder=embedder)
    eng.ingest([catalog])
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def client(engine):
    from api.app import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATCHGRAPH_API_KEY", KEY)
        yield create_app(engine=engine, RATELIMIT_ENABLED=False, CORS_ORIGINS="*").test_client()


def test_claude_opus_4_7_is_one_artifact_with_one_offer_per_provider(client) -> None:
    body = client.get(f"/v1/artifacts/{OPUS}").get_json()
    assert body["artifact_id"] == OPUS
    providers = [o["provider"] for o in body["signals"]["offers"]]
    assert len(providers) == len(set(providers)) > 10
    assert [o["provider"] for o in body["signals"]["offers"] if o.get("maker")] == ["Anthropic"]
    assert {"model/us.anthropic.claude-opus-4-7", "model/global.anthropic.claude-opus-4-7-v1-0"} <= set(body["aliases"])


def test_an_old_id_answers_with_the_merged_artifact_and_refuses_writes(client) -> None:
    old = "model/us.anthropic.claude-opus-4-7"
    resp = client.get(f"/v1/artifacts/{old}")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["artifact_id"] == OPUS and old in body["aliases"]
    auth = {"Authorization": f"Bearer {KEY}"}
    record = dict(_bundled(OPUS)[0], id=old)
    put = client.put(f"/v1/artifacts/{old}", json=record, headers=auth)
    assert put.status_code == 409 and OPUS in put.get_json()["error"]["message"], put.get_data(as_text=True)
    assert put.get_json()["error"]["field"] == "id"
    delete = client.delete(f"/v1/artifacts/{old}", headers=auth)
    assert delete.status_code == 409 and OPUS in delete.get_json()["error"]["message"]
    assert client.get(f"/v1/artifacts/{OPUS}").status_code == 200, "the canonical record is untouched"
    similar = client.get(f"/v1/artifacts/{old}/similar?k=3").get_json()
    assert similar["artifact_id"] == OPUS and OPUS not in [a["artifact_id"] for a in similar["alternatives"]]


def test_search_and_suggest_show_one_gpt_4o(client) -> None:
    results = client.get("/v1/search?q=gpt-4o&k=10&record=false").get_json()["results"]
    assert results[0]["artifact_id"] == GPT4O
    assert [r["name"] for r in results].count("GPT-4o") == 1
    suggestions = client.get("/v1/suggest?q=gpt-4o").get_json()
    items = suggestions["suggestions"] if isinstance(suggestions, dict) else suggestions
    assert [s["name"] for s in items].count("GPT-4o") == 1
    by_alias = client.get("/v1/search?q=model/openai-gpt-4o&k=3&record=false").get_json()["results"]
    assert by_alias[0]["artifact_id"] == GPT4O, "an old id is a name search knows"


def _record(aid: str, title: str, **extra) -> Artifact:
    return Artifact.from_record({"id": aid, "name": extra.pop("name", aid), "type": "model",
                                 "capabilities": [{"title": title, "description": f"{title} for documents."}],
                                 **extra})


REDIS_DB14 = "redis://127.0.0.1:6379/14"


@pytest.fixture(params=["sqlite", "redis"])
def store_engine(request, embedder, tmp_path):
    """An engine on a SQLite store, or on the real Redis (db 14, a key prefix of its own, removed after)."""
    import uuid

    from graph.settings import Settings
    from search.engine import Engine

    prefix = f"aliastest-{uuid.uuid4().hex[:8]}"
    url = f"{REDIS_DB14}?prefix={prefix}" if request.param == "redis" else ""
    eng = Engine(Settings.load(data_dir=tmp_path / "var", store_url=url), embedder=embedder)
    yield eng
    eng.store.clear()
    eng.close()


def test_counts_recorded_under_a_merged_id_count_for_the_canonical_one_and_survive_a_rebuild(store_engine) -> None:
    eng = store_engine
    eng.apply(upserts=[_record("acme/old-name", "Invoice parsing"), _record("acme/other", "Speech synthesis")])
    served = (Served("acme/old-name", 1, 0.9, ((eng.artifacts["acme/old-name"].capabilities[0].id, 0.9),)),)
    for i in range(3):
        eng.store.record_search(SearchEvent(f"s{i}", f"intent{i}", f"parse invoices {i}", 1.0 + i, served))
    eng.store.record_feedback(FeedbackEvent("s0", "acme/old-name", "click", 5.0))
    assert eng.times_matched(["acme/old-name"]) == {"acme/old-name": 3}
    # the catalog now merges the old record into a canonical one
    eng.apply(upserts=[_record("acme/new-name", "Invoice parsing", aliases=["acme/old-name"])],
              deletes=["acme/old-name"])
    assert eng.canonical("acme/old-name") == "acme/new-name"
    assert eng.times_matched(["acme/new-name"]) == {"acme/new-name": 3}, "read at once, before a rebuild"
    eng.rebuild()
    assert eng.store.times_matched(["acme/new-name", "acme/old-name"]) == {"acme/new-name": 3, "acme/old-name": 0}
    assert eng.times_matched(["acme/new-name"]) == {"acme/new-name": 3}, "counted once, not twice"
    edges = eng.store.intent_edges(["intent0"])["intent0"]
    assert set(edges) == {"acme/new-name"} and edges["acme/new-name"].clicks == 1, "match edges and feedback too"


def test_alias_map_maps_events_and_refuses_live_ids() -> None:
    live = [_record("a/new", "x", aliases=["a/old", "a/live"]), _record("a/live", "y")]
    aliases = AliasMap.from_artifacts(live)
    assert aliases.mapping == {"a/old": "a/new"}, "an alias that is a live id is not one"
    event = SearchEvent("s", "i", "q", 1.0, (Served("a/old", 1, 0.5, (("a/old#abc", 0.5),)), Served("a/new", 2, 0.4)))
    mapped = aliases.map_event(event)
    assert [s.artifact_id for s in mapped.served] == ["a/new"], "one artifact served once, at its better rank"
    assert mapped.served[0].capabilities == (("a/new#abc", 0.5),)
    assert aliases.map_event(FeedbackEvent("s", "a/old", "click", 1.0)).artifact_id == "a/new"


def test_the_page_of_an_old_id_redirects_to_the_canonical_page(client) -> None:
    resp = client.get("/artifacts/model/us.anthropic.claude-opus-4-7")
    assert resp.status_code == 301 and resp.headers["Location"].endswith(f"/artifacts/{OPUS}")
