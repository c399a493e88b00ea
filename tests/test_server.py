"""The real server: gunicorn with 2 workers and the Redis store on loopback, driven over HTTP.

Needs Redis at 127.0.0.1:6379 (db 15 is flushed): when Redis is down this test fails, it never skips.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from conftest import small_records

REDIS_URL = "redis://127.0.0.1:6379/15"
READY_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def data_dir(embedder, tmp_path_factory) -> Path:
    """A data dir ingested with the small catalog (vectors cached there, so workers never re-embed)."""
    from graph.settings import Settings
    from search.engine import Engine

    root = tmp_path_factory.mktemp("server")
    catalog = root / "small.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in small_records()))
    eng = Engine(Settings.load(data_dir=root / "var", store_url=""), embedder=embedder)
    eng.ingest([catalog])
    eng.close()
    return root / "var"


@pytest.fixture(scope="module")
def redis15():
    import redis

    r = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    r.flushdb()  # raises when Redis is down: the test fails, never skips
    yield r
    r.flushdb()
    r.close()


@pytest.fixture(scope="module")
def server(data_dir, redis15, tmp_path_factory):
    """gunicorn (bench.servers.Gunicorn: the Procfile's) on a free loopback port; yields (base URL, pids seen
    ready); always stopped."""
    from bench.servers import Gunicorn

    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with Gunicorn(data_dir, store=REDIS_URL, workers=2, log_path=log_path, timeout=120) as proc:
        try:
            proc.wait_ready(READY_TIMEOUT_S)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"gunicorn not ready (ready pids {proc.ready_pids}): {exc}")
        yield proc.base, proc.ready_pids


def get(base: str, path: str, **params) -> dict:
    resp = requests.get(base + path, params=params, timeout=30)
    assert resp.status_code == 200, (path, resp.status_code, resp.text[:500])
    return resp.json()


@pytest.mark.slow
def test_search_feedback_artifact_compare_analytics_over_http(server, redis15):
    base, pids = server
    assert len(pids) == 2
    assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
    ready = get(base, "/readyz")
    assert ready["checks"]["artifacts"] == len(small_records()) and ready["checks"]["store"] is True

    # several searches, each on its own connection so both workers take some
    queries = ["pull the answer to a question out of a paragraph", "question answering over wikipedia passages",
               "extractive qa model for squad", "answer questions from a document",
               "find the answer span in a text", "reading comprehension model"]
    served: dict[str, int] = {}
    searches = []
    for q in queries:
        body = get(base, "/v1/search", q=q, k=5)
        assert body["results"], q
        searches.append(body)
        for r in body["results"] if not body["low_confidence"] else ():  # low confidence: logged, not counted
            served[r["artifact_id"]] = served.get(r["artifact_id"], 0) + 1
    assert {r["artifact_id"] for r in searches[0]["results"][:3]} & {
        "bert-large-uncased-whole-word-masking-finetuned-squad", "deepset/roberta-base-squad2",
        "distilbert-base-uncased-distilled-squad"}

    # feedback on every search: whichever worker gets it finds the search in the shared store
    for body in searches:
        resp = requests.post(f"{base}/v1/feedback", json={"search_id": body["search_id"], "artifact_id":
                                                          body["results"][0]["artifact_id"], "event": "click"},
                             timeout=30)
        assert resp.status_code == 202, resp.text
    bad = requests.post(f"{base}/v1/feedback", json={"search_id": "0" * 32, "artifact_id": "x", "event": "click"},
                        timeout=30)
    assert bad.status_code == 404 and bad.json()["error"]["field"] == "search_id"

    # counts are exact whichever worker answers
    for _ in range(8):
        s = get(base, "/v1/analytics/summary")
        assert s["searches"] == len(queries) and s["feedback"] == len(queries) and s["clicks"] == len(queries)
        assert s["matched_artifacts"] == len(served)
    top_id = max(served, key=lambda a: (served[a], a))
    for _ in range(4):
        artifact = get(base, f"/v1/artifacts/{top_id}")
        assert artifact["times_matched"] == served[top_id]
        assert artifact["scores"]["unfragile_rank"] >= 0 and artifact["capabilities"]

    other = next(a for a in served if a != top_id)
    cmp = get(base, "/v1/compare", a=top_id, b=other)
    rows = {r["feature"]: (r["a"], r["b"]) for r in cmp["rows"]}
    assert rows["Times Matched"] == (str(served[top_id]), str(served[other]))
    assert cmp["headline"] and cmp["verdict"] and cmp["capability_alignment"]

    top = get(base, "/v1/analytics/top", limit=100)
    assert {i["artifact_id"]: i["times_matched"] for i in top["items"]} == served
    timeline = get(base, f"/v1/analytics/artifacts/{top_id}/timeline")
    assert sum(p["times_matched"] for p in timeline["points"]) == served[top_id]
    assert {i["query"] for i in get(base, "/v1/analytics/queries", kind="top", limit=100)["items"]} == set(queries)

    similar = get(base, f"/v1/artifacts/{top_id}/similar", k=3)
    assert len(similar["alternatives"]) == 3 and top_id not in [a["artifact_id"] for a in similar["alternatives"]]
    assert requests.get(f"{base}/v1/search", params={"q": "x" * 4001}, timeout=30).status_code == 422
    assert requests.get(f"{base}/openapi.json", timeout=30).json()["openapi"].startswith("3.")
    assert "matchgraph_http_requests_total" in requests.get(f"{base}/metrics", timeout=30).text

    # the state lives in Redis (db 15), query vectors too
    assert redis15.exists("{mg}:seq") and int(redis15.get("{mg}:seq")) == 2 * len(queries)
    assert len(list(redis15.scan_iter("{mg}:qv:*"))) == len(queries)
