"""Issue 12: every acknowledged write survives, one bad record never takes search down, safe by default.

Each test here reproduced its bug before the fix (docs/reliability.md, section "Found adversarially", lists the
before/after numbers). Multi-process behaviour runs on real gunicorn workers (bench.servers.Gunicorn, the
Procfile's gthread workers) and a Redis of its own (bench.servers.RedisServer).
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT, small_records

from graph.infra import generation_commit

API_KEY = "test-key-12"


def record(artifact_id: str, text: str, **extra) -> dict:
    return {"id": artifact_id, "name": artifact_id, "type": "tool",
            "capabilities": [{"title": text, "description": f"{text} for issue twelve tests"}], **extra}


def committed_ids(data_dir: Path) -> set[str]:
    """Artifact ids of the committed catalog, read from disk as a fresh process would."""
    folder = generation_commit.current(data_dir)
    assert folder is not None
    with open(folder / "catalog.jsonl", encoding="utf-8") as fh:
        return {json.loads(line)["id"] for line in fh}


@pytest.fixture(scope="module")
def source(embedder, tmp_path_factory) -> Path:
    """A pre-ingested small data dir whose vector cache already holds every catalog vector."""
    from graph.settings import Settings
    from search.engine import Engine
    from search.vectorcache import VectorCache

    root = tmp_path_factory.mktemp("durable")
    catalog = root / "small.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in small_records()))
    engine = Engine(Settings.load(data_dir=root / "var", store_url=""), embedder=embedder)
    engine.ingest([catalog])
    cache = VectorCache(root / "var" / "vectors.db")
    cache.put_many(embedder.cache.get_many([embedder.cache_key(c.text) for c in engine.capabilities.values()]))
    cache.close()
    engine.close()
    return root / "var"


@pytest.fixture
def data_dir(source: Path, tmp_path: Path) -> Path:
    """A private copy of the source data dir (tests write into it)."""
    import shutil

    target = tmp_path / "var"
    shutil.copytree(source, target)
    return target


# =====================================================================================================
# 1. writers are serialised across processes
# =====================================================================================================
@pytest.mark.slow
def test_concurrent_admin_puts_on_two_gunicorn_workers_are_all_committed(data_dir: Path) -> None:
    """Before: 12 concurrent PUTs x 3 rounds on 2 workers gave 500s (staging rename collisions) and lost
    acknowledged artifacts. After: every PUT answers 200 and every acknowledged artifact is committed."""
    from bench.servers import Gunicorn

    server = Gunicorn(data_dir, workers=2, threads=4, settings={"api_key": API_KEY})
    statuses: list[tuple[str, int, str]] = []
    try:
        server.wait_ready()

        def put(artifact_id: str) -> tuple[str, int, str]:
            import http.client

            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            body = json.dumps(record(artifact_id, f"convert {artifact_id.replace('-', ' ')} records"))
            conn.request("PUT", f"/v1/artifacts/{artifact_id}", body=body,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"})
            resp = conn.getresponse()
            text = resp.read().decode(errors="replace")
            conn.close()
            return artifact_id, resp.status, text[:300]

        with ThreadPoolExecutor(12) as pool:
            for round_ in range(2):
                statuses += pool.map(put, [f"durable-put-{round_}-{i}" for i in range(12)])
        acknowledged = {a for a, status, _ in statuses if status == 200}
        failed = [(a, status, text) for a, status, text in statuses if status != 200]
    finally:
        tail = server.tail()
        server.stop()
    print(f"\n{len(statuses)} PUTs: {len(acknowledged)} x 200, failures {failed[:3]}; "
          f"missing after commit: {sorted(acknowledged - committed_ids(data_dir))}")
    assert not failed, (failed[:3], tail)
    assert acknowledged <= committed_ids(data_dir)


def test_a_write_that_starts_from_an_older_generation_keeps_the_other_writers_artifact(make_engine, data_dir):
    """Before: a CLI ingest that read gen N, embedded for a while and committed gen N+2 dropped what an
    admin PUT committed as gen N+1 meanwhile. Two engines on one data dir (two processes in production):
    while A embeds, B writes; A's commit must keep B's artifact, and B's write must not be lost."""
    a = make_engine(data_dir)
    b = make_engine(data_dir)
    b_done = threading.Event()
    errors: list[BaseException] = []

    def b_writes() -> None:
        from graph.catalog import Artifact

        try:
            b.apply(upserts=[Artifact.from_record(record("written-by-b", "merge two calendars"))])
        except BaseException as exc:  # reported below
            errors.append(exc)
        b_done.set()

    real_encode = a.embedder.encode
    started = []

    def slow_encode(texts, **kw):  # B writes while A is between reading the catalog and committing
        if not started:
            started.append(threading.Thread(target=b_writes))
            started[0].start()
            b_done.wait(5)  # with the writer lock, B waits for A instead (and finishes after A)
        return real_encode(texts, **kw)

    a.embedder.encode = slow_encode
    try:
        from graph.catalog import Artifact

        a.apply(upserts=[Artifact.from_record(record("written-by-a", "schedule team meetings"))])
    finally:
        a.embedder.encode = real_encode
    started[0].join(60)
    assert not errors, errors
    ids = committed_ids(data_dir)
    assert {"written-by-a", "written-by-b"} <= ids, sorted(ids - set(a.artifacts))


# =====================================================================================================
# 2. one bad record never takes search down; a failed search is not recorded
# =====================================================================================================
def admin_app(engine, **settings):
    from api.app import create_app

    return create_app(engine=engine, RATELIMIT_ENABLED=False, **settings)


@pytest.mark.parametrize("value", [10**400, -1, 1.5, "many"])
def test_out_of_range_signals_are_refused_with_422_naming_the_field(make_engine, data_dir, monkeypatch, value):
    """Before: signals.downloads = 10**400 was accepted by PUT (200) and by ingest."""
    monkeypatch.setenv("MATCHGRAPH_API_KEY", API_KEY)
    engine = make_engine(data_dir)
    client = admin_app(engine).test_client()
    body = record("huge-downloads", "count things", signals={"downloads": value})
    resp = client.put("/v1/artifacts/huge-downloads", data=json.dumps(body), content_type="application/json",
                      headers={"Authorization": f"Bearer {API_KEY}"})
    assert resp.status_code == 422, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"]["field"] == "signals.downloads"
    from graph.catalog import CatalogError
    from graph.loader import load_artifacts

    bad = data_dir.parent / "bad.jsonl"
    bad.write_text(json.dumps(body) + "\n")
    with pytest.raises(CatalogError, match="signals.downloads"):
        load_artifacts([bad])


def test_stored_junk_signals_never_break_search_artifacts_similar_compare_or_pages(make_engine, data_dir, caplog):
    """Before: one stored record with signals.downloads = 10**400 made search, the artifact, similar, compare
    and the pages answer 500 for the whole catalog (OverflowError in math.log1p)."""
    from graph.catalog import Artifact

    engine = make_engine(data_dir)
    junk = {"junk-huge": 10**400, "junk-nan": float("nan"), "junk-inf": float("inf"), "junk-negative": -7,
            "junk-string": "lots"}
    engine.apply(upserts=[Artifact.from_record(record(a, "extract answers from passages",
                                                      signals={"downloads": v, "stars": v}), validate=False)
                          for a, v in junk.items()]
                 + [Artifact.from_record(record("junk-fields", "extract answers from passages", updated_at=20240101,
                                                description=None, signals={"formats": 7}), validate=False)])
    client = admin_app(engine).test_client()
    other = "deepset/roberta-base-squad2"
    for url in ["/v1/search?q=extract+answers+from+passages", "/v1/artifacts/junk-huge",
                "/v1/artifacts/junk-huge/similar", f"/v1/compare?a=junk-huge&b={other}", "/v1/artifacts",
                "/?q=extract+answers", "/artifacts/junk-nan", f"/compare?a=junk-inf&b={other}"]:
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code, resp.get_data(as_text=True)[:300])
    scores = engine.scores("junk-huge")
    assert 0 <= scores.unfragile_rank <= 100
    assert engine.scores("junk-nan").components["adoption"].value == 0.0
    assert 0 <= engine.scores("junk-fields").unfragile_rank <= 100  # a non-string date, no description
    assert "clamped" in caplog.text


def test_a_search_that_fails_is_not_recorded(make_engine, data_dir, monkeypatch):
    """Before: the match edges were recorded before the response was built, so a search that answered 500
    still counted as a match. The failure is injected into building the response."""
    engine = make_engine(data_dir)
    client = admin_app(engine).test_client()
    assert client.get("/v1/search?q=extract+answers+from+passages").status_code == 200
    before = engine.store.summary()["searches"]

    def broken(*args, **kwargs):
        raise RuntimeError("injected: the response could not be built")

    monkeypatch.setattr(engine, "scorebook", broken)
    resp = client.get("/v1/search?q=extract+answers+from+passages")
    assert resp.status_code == 500
    monkeypatch.undo()
    assert engine.store.summary()["searches"] == before
    assert client.get("/v1/search?q=extract+answers+from+passages").status_code == 200
    assert engine.store.summary()["searches"] == before + 1


# =====================================================================================================
# 7. HEAD records nothing
# =====================================================================================================
def test_head_search_records_nothing(make_engine, data_dir):
    """Before: HEAD /v1/search (and HEAD /?q=) recorded a search and counted as a match."""
    engine = make_engine(data_dir)
    client = admin_app(engine).test_client()
    before = engine.store.summary()["searches"]
    assert client.head("/v1/search?q=extract+answers+from+passages").status_code == 200
    assert client.head("/?q=extract+answers+from+passages").status_code == 200
    assert engine.store.summary()["searches"] == before
    assert client.get("/v1/search?q=extract+answers+from+passages").status_code == 200
    assert engine.store.summary()["searches"] == before + 1


# =====================================================================================================
# 3. safe by default: no CORS on admin routes; no key -> no writes unless explicitly allowed, and then
#    only from direct local programs
# =====================================================================================================
def test_without_a_key_writes_are_refused_unless_local_writes_are_allowed(make_engine, data_dir, monkeypatch):
    """Before: with no key a loopback PUT was accepted by default, and a proxy that set only
    X-Forwarded-Host/Proto (or a page's fetch carrying Origin) passed."""
    monkeypatch.delenv("MATCHGRAPH_API_KEY", raising=False)
    monkeypatch.delenv("MATCHGRAPH_LOCAL_WRITES", raising=False)
    engine = make_engine(data_dir)
    body = record("local-write", "rename photo files")

    def put(client, **headers):
        return client.put("/v1/artifacts/local-write", data=json.dumps(body), content_type="application/json",
                          headers=headers)

    default = admin_app(engine).test_client()
    resp = put(default)
    assert resp.status_code == 403 and resp.get_json()["error"]["field"] == "Authorization"
    assert default.delete("/v1/artifacts/deepset/roberta-base-squad2").status_code == 403

    monkeypatch.setenv("MATCHGRAPH_LOCAL_WRITES", "1")
    local = admin_app(engine).test_client()
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"X-Forwarded-Host": "a.example"},
                    {"X-Forwarded-Proto": "https"}, {"Forwarded": "for=203.0.113.9"}, {"Via": "1.1 proxy"},
                    {"X-Real-IP": "203.0.113.9"}, {"Sec-Fetch-Site": "cross-site"}):
        resp = put(local, **headers)
        assert resp.status_code == 403, (headers, resp.get_data(as_text=True)[:200])
    assert "local-write" not in engine.artifacts
    assert put(local).status_code == 200  # a direct local program (curl, a script) in opt-in local mode


def test_admin_routes_never_get_cors(make_engine, data_dir, monkeypatch):
    """Before: the CORS preflight granted PUT and DELETE to any origin on /v1/artifacts/<id>."""
    monkeypatch.setenv("MATCHGRAPH_API_KEY", API_KEY)
    engine = make_engine(data_dir)
    client = admin_app(engine, CORS_ORIGINS="*").test_client()
    origin = {"Origin": "https://evil.example"}
    artifact = "/v1/artifacts/deepset/roberta-base-squad2"
    for path, method in ((artifact, "PUT"), (artifact, "DELETE"), ("/v1/artifacts:batch", "POST")):
        pre = client.options(path, headers={**origin, "Access-Control-Request-Method": method,
                                            "Access-Control-Request-Headers": "authorization,content-type"})
        assert "Access-Control-Allow-Origin" not in pre.headers, (path, method, dict(pre.headers))
        assert method not in pre.headers.get("Access-Control-Allow-Methods", "")
    resp = client.delete(artifact, headers={**origin, "Authorization": f"Bearer {API_KEY}"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    # reads and feedback keep CORS for widgets on other sites
    assert client.get("/v1/artifacts/bigcode/the-stack-v2", headers=origin).headers["Access-Control-Allow-Origin"]
    pre = client.options("/v1/feedback", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert pre.headers.get("Access-Control-Allow-Origin")


# =====================================================================================================
# 4. CURRENT naming a missing generation: fall back, never bootstrap over it, never prune what is served
# =====================================================================================================
def test_current_naming_a_missing_generation_falls_back_to_the_newest_complete_one(make_engine, data_dir,
                                                                                    caplog):
    """Before: CURRENT -> a missing folder made the data dir look empty; the server bootstrapped the bundled
    catalog over it and pruned the older generations (a whole catalog lost)."""
    import logging

    from api.state import bootstrap_catalog

    served = generation_commit.current(data_dir).name
    ids = committed_ids(data_dir)
    (data_dir / "CURRENT").write_text("gen-000099")
    caplog.set_level(logging.ERROR)
    engine = make_engine(data_dir)
    assert engine.generation == served and set(engine.artifacts) == ids
    assert "gen-000099" in caplog.text and "newest complete generation" in caplog.text
    bootstrap_catalog(engine)  # the server's start-up path: must not replace the catalog
    assert set(engine.artifacts) == ids and (data_dir / served).is_dir()


def test_no_bootstrap_into_a_data_dir_whose_generations_are_all_gone(make_engine, data_dir):
    import shutil

    from api.state import RefusedBootstrap, bootstrap_catalog

    for folder in data_dir.glob("gen-*"):
        shutil.rmtree(folder)
    engine = make_engine(data_dir)
    assert engine.artifacts == {}
    with pytest.raises(RefusedBootstrap, match="not bootstrapping"):
        bootstrap_catalog(engine)
    assert not list(data_dir.glob("gen-*"))


# =====================================================================================================
# 10. damaged files: the catalog is checksummed with a fallback, a damaged cache is rebuilt, and every
#     such error names the file
# =====================================================================================================
def test_a_damaged_catalog_falls_back_to_the_previous_complete_generation(make_engine, data_dir, caplog):
    """Before: a damaged catalog.jsonl had no checksum (a flipped byte inside a string loaded silently)
    and no fallback; the error named no file."""
    import logging

    from graph.catalog import Artifact

    first = generation_commit.current(data_dir).name
    writer = make_engine(data_dir)
    writer.apply(upserts=[Artifact.from_record(record("after-first", "transcribe podcasts"))])
    newest = generation_commit.current(data_dir)
    catalog = newest / "catalog.jsonl"
    data = bytearray(catalog.read_bytes())
    at = data.index(b"transcribe podcasts")
    data[at:at + 10] = b"TRANSCRIBE"  # still valid JSON: only a checksum can tell
    catalog.write_bytes(bytes(data))
    caplog.set_level(logging.WARNING)
    engine = make_engine(data_dir)
    assert engine.generation == first and "after-first" not in engine.artifacts
    assert str(catalog) in caplog.text and f"serving {first} instead of {newest.name}" in caplog.text
    assert engine.degraded_reasons() and newest.name in engine.degraded_reasons()[0]  # issue 25: and /readyz says so
    assert engine.search("extract answers from passages", record=False).hits


def test_a_damaged_vector_cache_is_rebuilt_and_a_damaged_match_store_is_named(make_engine, data_dir, caplog):
    """Before: random bytes in vectors.db (a cache) or matches.db stopped start-up with "file is not a
    database", naming neither."""
    import logging
    import os

    (data_dir / "vectors.db").write_bytes(os.urandom(8192))
    for extra in ("vectors.db-wal", "vectors.db-shm"):
        (data_dir / extra).unlink(missing_ok=True)
    caplog.set_level(logging.WARNING)
    engine = make_engine(data_dir)
    assert "vectors.db" in caplog.text and "moved aside" in caplog.text
    assert engine.search("extract answers from passages", record=False).hits
    engine.close()

    (data_dir / "matches.db").write_bytes(os.urandom(8192))
    for extra in ("matches.db-wal", "matches.db-shm"):
        (data_dir / extra).unlink(missing_ok=True)
    # issue 26: a damaged match store no longer stops the host: it serves without recording, degraded,
    # and the reason names the file (before issue 26: DatabaseError naming matches.db at start)
    engine = make_engine(data_dir)
    try:
        reasons = engine.degraded_reasons()
        assert any("matches.db" in r and "not a database" in r for r in reasons), reasons
        assert engine.search("extract answers from passages").hits
    finally:
        engine.close()


# =====================================================================================================
# 8. every route serves the current generation
# =====================================================================================================
def test_every_route_serves_what_another_process_committed(make_engine, data_dir):
    """Before: after `python -m api ingest`, GET /v1/artifacts/<new> answered 404 until someone searched."""
    from graph.catalog import Artifact

    server_engine = make_engine(data_dir)
    client = admin_app(server_engine).test_client()
    assert client.get("/v1/artifacts/ingested-elsewhere").status_code == 404
    cli = make_engine(data_dir)  # what `python -m api ingest` does in its own process
    cli.apply(upserts=[Artifact.from_record(record("ingested-elsewhere", "caption short videos"))])
    for url in ("/v1/artifacts/ingested-elsewhere", "/v1/artifacts/ingested-elsewhere/similar",
                "/artifacts/ingested-elsewhere", "/v1/compare?a=ingested-elsewhere&b=bigcode/the-stack-v2"):
        assert client.get(url).status_code == 200, url
    cli.delete(["ingested-elsewhere"])
    assert client.get("/v1/artifacts/ingested-elsewhere").status_code == 404


# =====================================================================================================
# 11. invalid dates, over-long URLs, rate limits per client
# =====================================================================================================
@pytest.mark.parametrize("date", ["2026-02-30", "2026-01-01T25:61:61+99:99", "2025-13-01"])
def test_impossible_dates_are_refused(make_engine, data_dir, monkeypatch, date):
    """Before: 2026-02-30 and ...T25:61:61+99:99 fitted the schema's pattern and were stored."""
    monkeypatch.setenv("MATCHGRAPH_API_KEY", API_KEY)
    engine = make_engine(data_dir)
    client = admin_app(engine).test_client()
    body = record("dated", "index invoices", updated_at=date)
    resp = client.put("/v1/artifacts/dated", data=json.dumps(body), content_type="application/json",
                      headers={"Authorization": f"Bearer {API_KEY}"})
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "updated_at", resp.get_data()[:300]
    body["updated_at"] = "2024-02-29T23:59:59Z"
    assert client.put("/v1/artifacts/dated", data=json.dumps(body), content_type="application/json",
                      headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200


@pytest.mark.slow
def test_over_long_urls_get_the_json_error_shape_from_gunicorn(data_dir) -> None:
    """Before: a URL over gunicorn's request-line limit (4094 bytes) got gunicorn's HTML 400 page."""
    import socket

    from bench.servers import Gunicorn, call

    server = Gunicorn(data_dir, workers=1, threads=2, app="api.app:create_app()")
    try:
        server.wait_ready()
        status, body = call(server.port, "GET", "/v1/search?k=3&q=" + "long+question+" * 400)  # 5.6 kB
        assert status in (200, 422) and body, (status, body)  # the app saw it (q may be over its own limit)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"GET /v1/search?q=" + b"x" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
    finally:
        server.stop()
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414") and b"application/json" in head, raw[:300]
    error = json.loads(payload)["error"]
    assert error["code"] == "too_long" and error["field"] == "URL"


def test_a_process_that_exits_while_its_engine_loads_waits_for_the_load_and_exits_cleanly(data_dir: Path) -> None:
    """Before: the engine loads in a daemon thread; a process ending meanwhile (a test run, a worker told
    to stop) finalized under it, and the thread, back from ONNX Runtime's session set-up, was unwound
    through C++ frames: "terminate called without an active exception", exit status 134 (2 runs of 3 of
    `pytest tests/test_api.py`). After: at exit the loader is stopped and joined first."""
    import subprocess
    import sys

    code = ("import logging, sys\n"
            "from api.app import create_app\n"
            "app = create_app(sys.argv[1])\n"
            "holder = app.extensions['matchgraph']\n"
            "print('ready at exit:', holder.ready.is_set(), flush=True)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHGRAPH_") or k == "MATCHGRAPH_ONNX_DIR"}
    env.update(MATCHGRAPH_BOOTSTRAP="0", MATCHGRAPH_LOG_LEVEL="INFO", MATCHGRAPH_STORE="")
    proc = subprocess.run([sys.executable, "-c", code, str(data_dir)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=240)
    assert "ready at exit: False" in proc.stdout  # the script ends while the engine is still loading
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "engine ready" in proc.stderr, proc.stderr[-2000:]  # the load was let to finish, then the exit


@pytest.mark.slow
def test_rate_limits_are_per_client_not_per_worker_on_the_sqlite_store(data_dir: Path) -> None:
    """Before: with the SQLite store each gunicorn worker counted on its own (memory://), so 2 workers let
    a client through twice the limit. After: the counters live in the data dir, shared by the workers."""
    import os
    import signal

    from bench.servers import Gunicorn, call, children

    server = Gunicorn(data_dir, workers=2, threads=2, settings={"rate_limit": "15/minute"})
    statuses: dict[int, list[int]] = {}
    try:
        server.wait_ready()
        workers = sorted(children(server.proc.pid))
        assert len(workers) == 2, workers
        # Which worker accepts a fresh connection is up to the kernel (one may take them all): freeze the
        # other one, so each worker is certain to answer its own share of the client's requests.
        for answering, frozen, count in ((workers[0], workers[1], 20), (workers[1], workers[0], 25)):
            os.kill(frozen, signal.SIGSTOP)
            try:
                assert call(server.port, "GET", "/readyz")[1]["checks"]["pid"] == answering
                statuses[answering] = [call(server.port, "GET", "/v1/artifacts?limit=1")[0] for _ in range(count)]
            finally:
                os.kill(frozen, signal.SIGCONT)
    finally:
        server.stop()
    first, second = (statuses[w] for w in workers)
    print(f"\nlimit 15/minute, one client: worker 1 answered {first.count(200)} x 200 and {first.count(429)} x 429, "
          f"then worker 2 {second.count(200)} x 200 and {second.count(429)} x 429")
    assert first.count(200) == 15 and first.count(429) == 5, first
    assert second.count(429) == 25, second  # per worker, it would have let 15 more through
    statuses = first + second
    assert statuses.count(200) == 15 and statuses.count(429) == 30, statuses


def test_sqlite_rate_limit_windows_count_across_workers_and_expire(tmp_path: Path) -> None:
    """The counters' semantics, with two storages on one file standing for two workers: one fixed window
    per key, counted by both, reset when it expires; each worker's headers (get/get_expiry right after
    its own hit) read what its hit counted."""
    import time as _time

    from limits import parse
    from limits.strategies import FixedWindowRateLimiter

    from graph.infra import ratelimits as ratelimit

    uri = ratelimit.storage_uri(tmp_path)
    one, two = ratelimit.SQLiteLimits(uri), ratelimit.SQLiteLimits(uri)
    limit = parse("5/second")
    first, second = FixedWindowRateLimiter(one), FixedWindowRateLimiter(two)
    hits = [first.hit(limit, "client") if i % 2 else second.hit(limit, "client") for i in range(8)]
    assert hits == [True] * 5 + [False] * 3
    stats = first.get_window_stats(limit, "client")
    assert stats.remaining == 0 and _time.time() < stats.reset_time <= _time.time() + 1.01
    assert first.hit(limit, "other") and two.get(limit.key_for("other")) == 1  # per client
    _time.sleep(1.05)  # the window expired: a new one, counted from 1
    assert second.hit(limit, "client") and one.get(limit.key_for("client")) == 1
    assert first.get_window_stats(limit, "client").remaining == 4
    one.clear(limit.key_for("client"))
    assert one.get(limit.key_for("client")) == 0
    _time.sleep(ratelimit.JUST_COUNTED_S)  # another worker's own last hit answers it only that long
    assert two.get(limit.key_for("client")) == 0


# =====================================================================================================
# 5. a hung Redis: probing in one background thread, requests straight to the spool
# =====================================================================================================
@pytest.mark.slow
def test_a_frozen_redis_under_load_never_holds_requests_for_a_probe(source: Path) -> None:
    """Before: with Redis SIGSTOPped under load, circuit-breaker probes of ~4 s ran on request threads
    (requests took 9-11 s). After: no probe runs on a request thread, no error reaches a client, and the
    counts are exact once Redis answers again. Latencies are printed (bench.load --stall measures them)."""
    from bench.load import format_report, run

    report = run(clients=6, seconds=12, workers=2, threads=4, source=source, stall=5)
    print("\n" + format_report(report))
    assert report["errors"] == 0 and not report["hung_clients"], report["error_kinds"]
    assert report["latency_ms"]["search (stall)"]["n"] > 0
    assert report["request_probes"] and set(report["request_probes"].values()) == {0}, report["request_probes"]
    assert report["counts_exact"], {k: v for k, v in report.items() if k != "server_log_tail"}


def test_following_a_frozen_catalog_feed_leaves_the_engine_free(embedder, data_dir: Path, tmp_path: Path) -> None:
    """Before: the catalog follower (a thread polling the shared feed every second) read Redis while it
    held the engine's lock, so with Redis frozen every search waited out the follower's socket timeout,
    again after every poll. After: the feed is read outside the lock; the lock is only taken to apply
    what was read. Checked with a real redis-server frozen by SIGSTOP."""
    import signal

    from bench.servers import RedisServer
    from graph.settings import Settings
    from search.engine import Engine

    server = RedisServer(tmp_path / "redis").start()
    engine = None
    try:
        engine = Engine(Settings.load(data_dir=data_dir, store_url=server.url, redis_timeout=3.0),
                        embedder=embedder)
        assert engine.feed is not None
        inside = threading.Event()
        for name in ("changes", "version", "head"):  # note when the follower is inside a feed read
            real = getattr(engine.feed, name)

            def entered(*args, _real=real, **kwargs):
                inside.set()
                return _real(*args, **kwargs)

            setattr(engine.feed, name, entered)
        server.proc.send_signal(signal.SIGSTOP)
        follower = threading.Thread(target=_follow, args=(engine,))
        follower.start()
        assert inside.wait(10)
        free = engine._lock.acquire(blocking=False)  # what every search takes for the index section
        if free:
            engine._lock.release()
        server.proc.send_signal(signal.SIGCONT)
        follower.join(30)
        assert free, "the follower held the engine lock while waiting on a frozen Redis"
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGCONT)
        if engine is not None:
            engine.close()
        server.stop()


def test_one_frozen_redis_costs_one_timeout_for_every_client_of_it(tmp_path: Path) -> None:
    """Before: the match store, the query cache, the catalog feed and the rate limiter each found out on
    their own, each by waiting out its socket timeout, so one request could wait two or three timeouts.
    After: the first timeout opens the server's circuit for every client in the process; the others fail
    at once without sending (CircuitOpen); one background ping closes it when Redis answers again."""
    import multiprocessing
    import signal

    import redis

    from bench.servers import RedisServer
    from graph.infra import redishealth
    from graph.infra.redisurl import split_redis_url
    from search.querycache import RedisQueryCache

    server = RedisServer(tmp_path / "redis").start()
    try:
        parsed = split_redis_url(server.url)
        store_like = parsed.client(socket_timeout=1.0, retry=None)
        cache = RedisQueryCache(server.url, timeout_s=1.0)
        assert store_like.ping() and cache.get("k", 4) is None
        circuit = redishealth.circuit("127.0.0.1", server.port)
        assert not circuit.is_open
        server.proc.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(redis.TimeoutError):
                store_like.get("x")  # the one request that waits out its timeout
            assert circuit.is_open and circuit.opened == 1
            with pytest.raises(redishealth.CircuitOpen):
                store_like.get("x")  # nothing is sent while the circuit is open
            assert cache.get("k2", 4) is None and cache.errors == 1  # a miss at once, not a timeout
            with pytest.raises(redishealth.CircuitOpen):
                parsed.client(socket_timeout=1.0).ping()  # a client made later shares the circuit
            # a forked child starts with closed circuits (its parent's prober did not follow it)
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(1) as pool:
                assert pool.apply(_circuit_open_in_child, (server.port,)) is False
        finally:
            server.proc.send_signal(signal.SIGCONT)
        for _ in range(200):  # the background ping closes it (every PROBE_S)
            if not circuit.is_open:
                break
            threading.Event().wait(0.05)
        assert not circuit.is_open and circuit.opened == 1
        assert store_like.set("x", "1") and store_like.get("x") == b"1"
    finally:
        server.stop()


def _circuit_open_in_child(port: int) -> bool:
    from graph.infra import redishealth

    return redishealth.circuit("127.0.0.1", port).is_open


def _follow(engine) -> None:
    try:
        engine.follow()
    except Exception:  # a timeout on the frozen Redis: what matters is the lock
        pass


# =====================================================================================================
# 9. Redis authentication and configuration errors are fatal at start and make /readyz 503
# =====================================================================================================
def test_a_wrong_redis_password_is_fatal_at_start_and_makes_readyz_503(embedder, data_dir, tmp_path) -> None:
    """Before: a wrong password was treated as an outage: /readyz said ready while every event spooled
    forever and analytics answered 503."""
    import redis

    from api.app import create_app
    from bench.servers import RedisServer
    from graph.settings import Settings
    from graph.store import open_store
    from graph.store.spool import StoreConfigError
    from search.engine import Engine

    server = RedisServer(tmp_path / "redis").start()
    try:
        redis.Redis(port=server.port).config_set("requirepass", "right-secret")
        wrong = f"redis://:wrong-secret@127.0.0.1:{server.port}/0"
        with pytest.raises(StoreConfigError, match="(?i)pass"):
            open_store(wrong, data_dir)
        # the server: the engine does not start, /readyz is 503 and says why
        app = create_app(config=Settings.load(data_dir=data_dir, store_url=wrong), bootstrap=False,
                         RATELIMIT_ENABLED=False)
        client = app.test_client()
        import time

        deadline = time.monotonic() + 60
        while True:
            resp = client.get("/readyz")
            if "pass" in json.dumps(resp.get_json()).lower() or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        app.extensions["matchgraph"].stop()  # no more retries once Redis is gone
        assert resp.status_code == 503 and "StoreConfigError" in resp.get_json()["checks"]["error"], resp.get_json()

        # a password rotated while running: writes still land in the spool (nothing lost), /readyz is 503
        right = f"redis://:right-secret@127.0.0.1:{server.port}/0"
        engine = Engine(Settings.load(data_dir=data_dir, store_url=right), embedder=embedder)
        client = create_app(engine=engine, RATELIMIT_ENABLED=False).test_client()
        assert client.get("/readyz").status_code == 200
        redis.Redis(port=server.port, password="right-secret").config_set("requirepass", "rotated")
        engine.store.primary.r.connection_pool.disconnect()  # a new connection must authenticate again
        assert client.get("/v1/search?q=extract+answers").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.get_json()
        assert "AuthenticationError" in ready.get_json()["checks"]["spool"]["error"]
        assert engine.store.status()["spooled"] == 1
        engine.close()
    finally:
        server.stop()


# =====================================================================================================
# 6. slow request bodies cannot starve `python -m api serve`
# =====================================================================================================
@pytest.mark.slow
def test_clients_trickling_bodies_do_not_starve_python_m_api_serve(data_dir: Path, tmp_path: Path) -> None:
    """Before: 4 connections trickling a body held the 4 threads of `python -m api serve` and a search
    timed out after 20 s. After: the search is answered while they trickle, and each of them gets a JSON
    408 once its body deadline passes (MATCHGRAPH_BODY_TIMEOUT_S, 3 s here)."""
    import socket
    import time

    from bench.servers import ApiServe

    server = ApiServe(tmp_path / "serve.log", settings={
        "data_dir": data_dir, "body_timeout_s": 3, "rate_limit": "100000/second", "recompute_every": 0})
    port = server.port
    slow: list[socket.socket] = []
    try:
        server.wait_ready(300)
        for _ in range(6):  # more slow clients than the old default had threads
            s = socket.create_connection(("127.0.0.1", port), timeout=60)
            s.sendall(b"POST /v1/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{")
            slow.append(s)
        time.sleep(0.5)
        for s in slow:  # still trickling
            s.sendall(b" ")
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request("GET", "/v1/search?q=extract+answers+from+passages&k=3")
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()[:300]
        conn.close()
        answers = []
        for s in slow:
            raw = b""
            try:
                while chunk := s.recv(65536):
                    raw += chunk
            except OSError:
                pass
            answers.append(raw)
        assert all(a.startswith(b"HTTP/1.1 408") and b'"code": "timeout"' in a for a in answers), answers[:2]
    finally:
        for s in slow:
            s.close()
        server.stop()
