"""Faults: Redis going away under load, SIGKILL during ingest and index saves, corrupt index files,
SQLite behind several gunicorn workers, and a smoke run of the load test (bench/load.py).

Redis-backed tests start their own redis-server on a spare loopback port (killed with SIGKILL on
purpose); the store-suite and idempotency tests use the shared Redis at 127.0.0.1:6379 (db 14).
"""

from __future__ import annotations

import collections
import json
import logging
import multiprocessing as mp
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from conftest import busy_thread, small_records

from bench.servers import RedisServer, free_port
from graph.catalog import Artifact
from graph.events import FeedbackEvent, SearchEvent, Served
from graph.infra import generation_commit
from graph.store import open_store, redis_client_options
from graph.store.base import MatchStore, NotServed, StoreUnavailable, UnknownSearch
from graph.store.redis import RedisStore
from graph.store.spool import SpoolingStore
from search.index import VectorIndex
from search.lexical import tokenize

SHARED_REDIS = "redis://127.0.0.1:6379/14"
T0 = 1_699_920_000.0


# --- a redis-server of our own (bench/servers.py) -----------------------------------------------------
@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


# --- an engine over the small catalog on a given store -----------------------------------------------
def small_catalog_file(folder: Path, extra: int = 30) -> Path:
    path = folder / "small.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in small_records(extra)))
    return path


def make_engine(embedder, data_dir: Path, store: MatchStore | None = None, store_url: str = ""):
    from graph.settings import Settings
    from search.engine import Engine

    return Engine(Settings.load(data_dir=data_dir, store_url=store_url), embedder=embedder, store=store)


# =====================================================================================================
# Redis goes away mid-load
# =====================================================================================================
QUERIES = [
    "extract the answer span to a question from a passage", "generate python code from a description",
    "detect objects in street images", "segment people in photos", "biomedical named entity recognition",
    "sentence embeddings for semantic similarity", "summarise long news articles", "translate english to german",
    "classify the sentiment of product reviews", "speech recognition for meetings", "question answering model",
    "code completion for many languages", "dataset of source code with permissive licences",
    "find similar sentences without labels", "image classification backbone", "detect faces",
]


class Outage:
    """Client threads sending searches and feedback to the app; records what was answered."""

    def __init__(self, app, seed: int = 7) -> None:
        self.app = app
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.phase = "before"
        self.statuses: collections.Counter = collections.Counter()
        self.bad: list[tuple[str, str, int, str]] = []
        self.latency: dict[str, list[float]] = collections.defaultdict(list)
        self.searches = 0
        self.feedback = 0
        self.clicks = 0
        self.served: collections.Counter = collections.Counter()

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        http = self.app.test_client()
        mine: list[tuple[str, list[str], str]] = []
        sent = 0
        while not self.stop.is_set():
            phase = self.phase
            start = time.perf_counter()
            if mine and rng.random() < 0.4:
                # one feedback event per search, by the search's own identity: every one is the first of its
                # person on its search, so every one counts (a repeat would be logged only: graph/dedup.py)
                sid, served, token = mine.pop(rng.randrange(len(mine)))
                kind = rng.choice(["click", "dwell", "upvote", "downvote"])
                body = {"search_id": sid, "artifact_id": rng.choice(served), "event": kind,
                        "user_token": token}  # the search's own identity: only it may give feedback
                if kind == "dwell":
                    body["dwell_ms"] = rng.randint(1, 10_000)
                resp = http.post("/v1/feedback", json=body)
                op, want = "feedback", 202
            else:
                token = f"u{rng.getrandbits(64):x}"  # each search its own person, on a network of its own
                sent += 1
                resp = http.get("/v1/search", query_string={"q": rng.choice(QUERIES), "k": 10, "user_token": token},
                                environ_base={"REMOTE_ADDR": f"{10 + seed}.{(sent >> 8) % 256}.{sent % 256}.1"})
                op, want = "search", 200
            elapsed = time.perf_counter() - start
            with self.lock:
                self.statuses[(phase, op, resp.status_code)] += 1
                self.latency[f"{op} {phase}"].append(elapsed)
                if resp.status_code != want:
                    self.bad.append((phase, op, resp.status_code, resp.get_data(as_text=True)[:300]))
                    continue
                if op == "search":
                    payload = resp.get_json()
                    served = [r["artifact_id"] for r in payload["results"]]
                    self.searches += 1
                    if not payload["low_confidence"]:  # logged, never counted
                        self.served.update(served)
                    if served:
                        mine.append((payload["search_id"], served, token))
                else:
                    self.feedback += 1
                    self.clicks += kind == "click"


@pytest.mark.slow
def test_redis_outage_mid_load_loses_no_event(embedder, tmp_path: Path, own_redis: RedisServer, caplog) -> None:
    """Redis SIGKILLed under load: searches and feedback keep answering 200/202 (never 5xx), events wait
    in the spool, and after Redis returns the counts equal exactly the events that were answered."""
    from api.app import create_app

    caplog.set_level(logging.WARNING, logger="graph.store.spool")
    primary = RedisStore(own_redis.url, prefix="outage", **redis_client_options())
    store = SpoolingStore(primary, tmp_path / "var" / "match-spool.db", retry_interval=0.2)
    # the engine's URL names the same Redis: its shared query-vector cache goes down with it too
    engine = make_engine(embedder, tmp_path / "var", store, store_url=own_redis.url + "?prefix=outage")
    engine.ingest([small_catalog_file(tmp_path / "catalog")])
    app = create_app(engine=engine, RATELIMIT_ENABLED=False)
    load = Outage(app)
    threads = [threading.Thread(target=load.client, args=(i,), daemon=True) for i in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(2.0)
        load.phase = "outage"
        own_redis.kill()
        time.sleep(1.0)
        http = app.test_client()
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.get_data(as_text=True)  # still serving: the spool takes writes
        assert ready.get_json()["checks"]["spool"]["primary"] is False
        summary = http.get("/v1/analytics/summary")  # needs Redis itself: a clean 503, not a 500
        assert summary.status_code == 503 and summary.headers["Retry-After"] == "5"
        assert summary.get_json()["error"]["code"] == "unavailable"
        time.sleep(2.0)
        spooled_during = store.status()["spooled"]
        load.phase = "after"
        restarted = time.monotonic()
        own_redis.start()  # same port and dir: the AOF brings back everything acknowledged before the kill
        time.sleep(2.0)
    finally:
        load.stop.set()
        for t in threads:
            t.join(30)
    deadline = time.monotonic() + 30
    while (s := store.status())["spooled"] or s["parked"] or "match store: replayed" not in caplog.text:
        assert time.monotonic() < deadline, f"spool did not drain: {s}"
        time.sleep(0.1)
    drained_s = time.monotonic() - restarted
    try:
        assert not load.bad, load.bad[:5]
        assert all(code < 500 for (_, _, code) in load.statuses), load.statuses
        outage_ok = sum(n for (phase, _, code), n in load.statuses.items() if phase == "outage" and code < 300)
        assert outage_ok > 20, f"too little traffic during the outage to mean anything: {load.statuses}"
        assert spooled_during > 0 and store.replayed >= spooled_during
        summary = primary.summary()
        assert (summary["searches"], summary["feedback"], summary["clicks"]) == (
            load.searches, load.feedback, load.clicks)
        assert primary.times_matched(list(engine.artifacts)) == {
            a: load.served.get(a, 0) for a in engine.artifacts}
        assert store.status()["rejected"] == 0
        before = primary.snapshot()
        primary.rebuild()  # the log and the derived counts agree: nothing applied twice or half
        assert primary.snapshot() == before
        assert "match store unavailable" in caplog.text and "replayed" in caplog.text
        lat = {k: sorted(v) for k, v in load.latency.items()}
        print(f"\noutage figures: answered {dict(load.statuses)}; spooled during outage {spooled_during}; "
              f"replayed {store.replayed}; spool drained {drained_s:.2f}s after restart; "
              + "; ".join(f"{k} p50 {1000 * v[len(v) // 2]:.0f} ms max {1000 * v[-1]:.0f} ms"
                          for k, v in sorted(lat.items())))
    finally:
        engine.close()


# --- the spool's rules, deterministically (a primary that fails on command) ----------------------------
class Flaky:
    """Proxy to a real RedisStore that can be 'down' (ConnectionError), or apply a write and then lose
    the reply (the ambiguous failure a SIGKILL can cause)."""

    def __init__(self, inner: RedisStore) -> None:
        self.inner = inner
        self.down = False
        self.lose_reply = False

    def __getattr__(self, name: str):
        attr = getattr(self.inner, name)
        if name == "ping":
            return lambda: not self.down and attr()
        if name == "close" or not callable(attr):
            return attr

        def call(*args, **kwargs):
            if self.down:
                raise redis.ConnectionError("Connection refused (simulated)")
            out = attr(*args, **kwargs)
            if name.startswith("record_") and self.lose_reply:
                raise redis.ConnectionError("Connection reset by peer (simulated, after the write)")
            return out

        return call


@pytest.fixture
def shared_redis() -> Iterator[str]:
    client = redis.Redis.from_url(SHARED_REDIS)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"these tests need a Redis server at {SHARED_REDIS}: {exc}")
    client.flushdb()
    yield SHARED_REDIS
    client.flushdb()
    client.close()


def search(sid: str, artifacts: list[str], intent: str = "i1") -> SearchEvent:
    return SearchEvent(sid, intent, "q " + intent, T0, tuple(Served(a, r, 1.0 / r) for r, a in enumerate(artifacts, 1)))


def test_redis_writes_are_idempotent(shared_redis: str) -> None:
    """A write retried after a lost reply counts once (the spool and redis-py retries rely on it)."""
    store = RedisStore(shared_redis, prefix="idem")
    try:
        assert store.record_search(search("s1", ["a", "b"])) == 1
        assert store.record_search(search("s1", ["a", "b"])) == 1
        fb = FeedbackEvent("s1", "a", "click", T0 + 1)
        assert store.record_feedback(fb) == 2
        assert store.record_feedback(fb) == 2
        assert store.record_feedback(FeedbackEvent("s1", "a", "click", T0 + 2)) == 3  # a second, real click
        assert store.summary()["searches"] == 1 and store.summary()["clicks"] == 2
        assert store.times_matched(["a"]) == {"a": 1}
        store.clear()
        assert store.record_search(search("s1", ["a"])) == 1
        assert store.record_feedback(fb) == 2  # clear() forgets identities too
    finally:
        store.close()


def test_record_many_is_one_round_trip_with_per_event_results(shared_redis: str) -> None:
    """The spool's fast replay path: results in order, refusals per event, duplicates acknowledged."""
    store = RedisStore(shared_redis, prefix="many")
    try:
        bad = SearchEvent("s0", "i", "q", T0, (Served("a", 0, 1.0),))  # rank 0: refused before sending
        results = store.record_many([
            search("s1", ["a", "b"]), FeedbackEvent("s1", "a", "click", T0 + 1), bad,
            FeedbackEvent("nope", "a", "click", T0 + 2), FeedbackEvent("s1", "zzz", "click", T0 + 3),
            search("s1", ["a", "b"]), FeedbackEvent("s1", "a", "click", T0 + 1)])
        assert results[:2] == [1, 2] and results[5:] == [1, 2]
        assert [type(r) for r in results[2:5]] == [ValueError, UnknownSearch, NotServed]
        assert store.summary()["searches"] == 1 and store.summary()["clicks"] == 1
    finally:
        store.close()


def test_spool_orders_replays_and_counts_ambiguous_failures_once(shared_redis: str, tmp_path: Path,
                                                                 caplog) -> None:
    caplog.set_level(logging.WARNING, logger="graph.store.spool")
    flaky = Flaky(RedisStore(shared_redis, prefix="spool"))
    store = SpoolingStore(flaky, tmp_path / "spool.db", replay=False)
    try:
        store.record_search(search("before", ["a", "b"]))
        store.put_match_scores({"a": 0.5})
        assert store.times_matched(["a", "b"]) == {"a": 1, "b": 1}
        # Redis applies the write but the reply is lost: spooled anyway, replayed, counted once
        flaky.lose_reply = True
        assert store.record_feedback(FeedbackEvent("before", "a", "click", T0 + 1)) == 0
        flaky.lose_reply = False
        assert store.flush() == 1 and store.status()["spooled"] == 0
        flaky.lose_reply = True
        assert store.record_search(search("ambiguous", ["a"])) == 0
        flaky.lose_reply = False
        assert store.flush() == 1
        flaky.down = True
        store.record_search(search("during", ["b", "c"], intent="i2"))
        store.record_feedback(FeedbackEvent("during", "c", "upvote", T0 + 2))  # its search is only spooled
        store.record_feedback(FeedbackEvent("before", "b", "click", T0 + 3))  # known here: checked locally
        with pytest.raises(NotServed):
            store.record_feedback(FeedbackEvent("during", "zzz", "click", T0 + 4))
        with pytest.raises(NotServed):
            store.record_feedback(FeedbackEvent("before", "zzz", "click", T0 + 4))
        # the serving path degrades to last-known values; analytics answer StoreUnavailable (API: 503)
        assert store.times_matched(["a", "b", "new"]) == {"a": 1, "b": 1, "new": 0}  # last known
        assert store.match_scores() == {"a": 0.5}
        assert store.intents() == [] and store.intent_edges(["i1"]) == {}
        with pytest.raises(StoreUnavailable):
            store.summary()
        assert store.get_search("during") == search("during", ["b", "c"], intent="i2")
        assert store.ping(), "ready while the spool takes writes"
        assert store.status()["spooled"] == 3 and store.flush() == 0
        flaky.down = False
        assert store.flush() == 3
        assert store.status() == {"primary": True, "spooled": 0, "parked": 0, "rejected": 0, "replayed": 5,
                                  "request_probes": 4}  # this test calls flush() itself
        s = flaky.inner.summary()
        assert (s["searches"], s["feedback"], s["clicks"]) == (3, 3, 2)
        assert flaky.inner.times_matched(["a", "b", "c"]) == {"a": 2, "b": 2, "c": 1}
        assert [type(e).__name__ for _, e in flaky.inner.events()] == [
            "SearchEvent", "FeedbackEvent", "SearchEvent", "SearchEvent", "FeedbackEvent", "FeedbackEvent"]
        assert "match store unavailable" in caplog.text
    finally:
        store.close()


def test_spool_record_many_is_one_call_or_one_append(shared_redis: str, tmp_path: Path) -> None:
    """Batches through the spool: one primary call while Redis answers; during an outage (or while older
    events wait) one spool append, with the same per-event refusals as single writes; a lost reply spools
    the batch and the replay counts it once."""
    flaky = Flaky(RedisStore(shared_redis, prefix="spoolmany"))
    store = SpoolingStore(flaky, tmp_path / "spool.db", replay=False, orphan_after=0.0)
    calls: list[int] = []
    real = flaky.inner.record_many
    flaky.inner.record_many = lambda events: calls.append(len(events)) or real(events)
    try:
        got = store.record_many([search("s1", ["a", "b"]), FeedbackEvent("s1", "a", "click", T0 + 1),
                                 FeedbackEvent("nope", "a", "click", T0 + 2),
                                 FeedbackEvent("s1", "zzz", "click", T0 + 3), FeedbackEvent("s1", "a", "poke", T0 + 4)])
        assert got[:2] == [1, 2] and [type(r) for r in got[2:]] == [UnknownSearch, NotServed, ValueError]
        assert calls == [4, 1]  # one round trip, and one retry of the unknown search (as a single write does)
        flaky.down = True
        got = store.record_many([search("s2", ["a", "b"], intent="i2"), FeedbackEvent("s2", "b", "click", T0 + 5),
                                 FeedbackEvent("s2", "zzz", "click", T0 + 6),  # its search is known here
                                 FeedbackEvent("s1", "b", "upvote", T0 + 7),
                                 FeedbackEvent("elsewhere", "a", "click", T0 + 8)])  # checked on replay
        assert got[:2] == [0, 0] and isinstance(got[2], NotServed) and got[3:] == [0, 0]
        assert store.status()["spooled"] == 4
        flaky.down = False
        assert store.record_many([FeedbackEvent("s2", "a", "upvote", T0 + 9)]) == [0]  # queued behind the others
        flaky.lose_reply = True  # Redis applies the batch, the reply is lost: spooled anyway
        assert store.flush() == 0
        flaky.lose_reply = False
        assert store.flush() == 4 and store.status()["rejected"] == 1
        assert store.record_many([FeedbackEvent("s2", "a", "click", T0 + 10)])[0] > 0  # direct again
        s = flaky.inner.summary()
        assert (s["searches"], s["feedback"], s["clicks"]) == (2, 5, 3)
    finally:
        store.close()


def test_feedback_on_a_search_spooled_elsewhere_waits_for_it(shared_redis: str, tmp_path: Path, caplog) -> None:
    """Two API hosts, each with its own spool: feedback on host B for a search only host A has spooled is
    parked until A replays the search; feedback nobody can place is rejected after `orphan_after`, logged."""
    caplog.set_level(logging.WARNING, logger="graph.store.spool")
    a_primary, b_primary = Flaky(RedisStore(shared_redis, prefix="hosts")), Flaky(RedisStore(shared_redis,
                                                                                            prefix="hosts"))
    host_a = SpoolingStore(a_primary, tmp_path / "a.db", replay=False)
    host_b = SpoolingStore(b_primary, tmp_path / "b.db", replay=False, orphan_after=30)
    try:
        a_primary.down = b_primary.down = True
        host_a.record_search(search("sa", ["x", "y"]))
        host_b.record_feedback(FeedbackEvent("sa", "y", "click", T0 + 1))  # unknown here: checked on replay
        host_b.record_feedback(FeedbackEvent("nobody", "x", "click", T0 + 2))
        a_primary.down = b_primary.down = False
        assert host_b.flush() == 0
        assert host_b.status()["parked"] == 2 and host_b.status()["spooled"] == 0
        assert host_b.record_search(search("sb", ["z"])) > 0, "parked rows do not hold up new writes"
        assert host_a.flush() == 1
        host_b._sql(lambda c: c.execute("UPDATE spool SET retry_at = 0"), write=True)  # due now
        host_b.orphan_after = 0.0
        host_b.flush()
        s = host_b.status()
        assert (s["parked"], s["rejected"]) == (0, 1)
        assert [(k, e["search_id"]) for k, e, _ in host_b.rejected()] == [("feedback", "nobody")]
        assert a_primary.inner.summary()["clicks"] == 1
        assert "rejected spooled event" in caplog.text
    finally:
        host_a.close()
        host_b.close()


def test_spool_survives_a_restart_of_the_api(shared_redis: str, tmp_path: Path) -> None:
    """Events spooled by a process that then dies are replayed by the next one to open the spool."""
    flaky = Flaky(RedisStore(shared_redis, prefix="restart"))
    flaky.down = True
    first = SpoolingStore(flaky, tmp_path / "spool.db", replay=False)
    first.record_search(search("s1", ["a"]))  # then the process dies without closing anything
    again = SpoolingStore(RedisStore(shared_redis, prefix="restart"), tmp_path / "spool.db", retry_interval=0.05)
    try:
        deadline = time.monotonic() + 10
        while again.status()["spooled"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert again.authoritative().times_matched(["a"]) == {"a": 1}
    finally:
        again.close()


def test_open_store_spools_redis_with_short_timeouts(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    store = open_store(f"redis://127.0.0.1:{port}/0?prefix=nowhere", tmp_path)
    try:
        assert isinstance(store, SpoolingStore) and store.spool_path == tmp_path / "match-spool.db"
        start = time.perf_counter()
        assert store.record_search(search("s1", ["a"])) == 0  # spooled, fast
        assert store.times_matched(["a"]) == {"a": 0}
        assert time.perf_counter() - start < 2.0
        assert store.status()["spooled"] == 1
    finally:
        store.close()


# --- the whole store suite through the spool, Redis up -------------------------------------------------
from test_stores import (  # noqa: E402 - collected here against the spooled store below
    test_capability_edges_and_exposure,
    test_concurrent_writers_lose_nothing,
    test_day_buckets_since_and_top_order,
    test_feedback_fills_and_updates_edges,
    test_intents_polling,
    test_match_scores_replace_all,
    test_queries_by_kind,
    test_rebuild_equals_incremental,
    test_rejected_feedback_writes_nothing,
    test_times_matched_and_capabilities,
)

SPOOLED_SUITE = (test_capability_edges_and_exposure, test_concurrent_writers_lose_nothing,
                 test_day_buckets_since_and_top_order, test_feedback_fills_and_updates_edges, test_intents_polling,
                 test_match_scores_replace_all, test_queries_by_kind, test_rebuild_equals_incremental,
                 test_rejected_feedback_writes_nothing, test_times_matched_and_capabilities)


@pytest.fixture
def store(shared_redis: str, tmp_path: Path) -> Iterator[MatchStore]:
    """The store suite of tests/test_stores.py, run against SpoolingStore(RedisStore) with Redis up."""
    s = SpoolingStore(RedisStore(shared_redis, prefix="mgspool"), tmp_path / "spool.db")
    yield s
    assert s.status()["spooled"] == 0, "nothing may be spooled while Redis answers"
    s.close()


# =====================================================================================================
# SIGKILL in the middle of an ingest or an index save
# =====================================================================================================
def _versions() -> tuple[list[Artifact], list[Artifact]]:
    """Two catalogs: B deletes 5 artifacts of A, rewrites a capability of 5 others and adds 3."""
    a = [Artifact.from_record(r) for r in small_records(60)]
    records = small_records(60)[5:]
    for r in records[:5]:
        caps = r["capabilities"]
        caps[0] = dict(caps[0], description=(caps[0].get("description", "") + " Now also in version two.").strip())
    for i in range(3):
        records.append({"id": f"crash/new-{i}", "name": f"New artifact {i}", "type": "tool",
                        "capabilities": [{"title": f"brand new capability {i}",
                                          "description": f"Does new thing number {i} for crash tests."}]})
    return a, [Artifact.from_record(r) for r in records]


def canonical(artifacts: list[Artifact]) -> bytes:
    return "".join(json.dumps(a.to_record(), ensure_ascii=False) + "\n"
                   for a in sorted(artifacts, key=lambda a: a.id)).encode()


@pytest.fixture(scope="module")
def crash_catalogs(embedder):
    a, b = _versions()
    texts = [c.text for x in (a, b) for art in x for c in art.capabilities]
    embedder.encode(texts)  # every vector cached now: the forked writers never run the model
    return a, b


def assert_consistent(data_dir: Path, embedder, versions: dict[bytes, str]) -> str:
    """The committed generation is one whole version: catalog, graph, index and vectors agree."""
    folder = generation_commit.current(data_dir)
    assert folder is not None
    catalog = (folder / "catalog.jsonl").read_bytes()
    assert catalog in versions, "catalog is neither the old nor the new version"
    artifacts = [Artifact.from_record(json.loads(line), validate=False) for line in catalog.decode().splitlines()]
    caps = {c.id: c for a in artifacts for c in a.capabilities}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["artifacts"], manifest["capabilities"]) == (len(artifacts), len(caps))
    index = VectorIndex.load(folder)  # raises IndexCorrupt on any half-written file
    assert set(index.ids()) == set(caps)
    graph = json.loads((folder / "graph.json").read_text())
    assert {n["id"] for n in graph["nodes"] if n["kind"] == "capability"} == set(caps)
    cached = embedder.cache.get_many([embedder.cache_key(c.text) for c in caps.values()])
    assert len(cached) == len({embedder.cache_key(c.text) for c in caps.values()}), "a vector is missing"
    return versions[catalog]


def _writer(data_dir: str, embedder, plan: str, arg: int, a: list[Artifact], b: list[Artifact]) -> None:
    """Forked child: commit generations; `plan` 'step' = SIGKILL itself just before the arg-th durable
    step (fsync, rename, replace) of one apply, 'loop' = apply B, A, B, ... until killed from outside."""
    logging.disable(logging.CRITICAL)
    engine = make_engine(embedder, Path(data_dir))
    current = {x.id for x in engine.artifacts.values()}
    target, other = (b, a) if current == {x.id for x in a} else (a, b)

    def apply(version: list[Artifact]) -> None:
        ids = {x.id for x in version}
        engine.apply(upserts=version, deletes=[i for i in engine.artifacts if i not in ids])

    if plan == "step":
        count = [0]
        originals = {name: getattr(os, name) for name in ("fsync", "rename", "replace")}

        def wrap(name):
            def step(*args, **kwargs):
                count[0] += 1
                if count[0] == arg:
                    os.kill(os.getpid(), signal.SIGKILL)
                return originals[name](*args, **kwargs)
            return step

        for name in originals:
            setattr(os, name, wrap(name))
        apply(target)
        os._exit(0)
    while True:
        apply(target)
        target, other = other, target


def _run_writer(data_dir: Path, embedder, plan: str, arg: int, catalogs, kill_after: float | None = None) -> int:
    ctx = mp.get_context("fork")  # fork on purpose: the child inherits the loaded model, as gunicorn workers do
    proc = ctx.Process(target=_writer, args=(str(data_dir), embedder, plan, arg, *catalogs))
    with busy_thread(lambda: (tokenize(["busy parent"]), embedder.cache.get_many(["busy"]))):
        proc.start()  # while another thread holds tqdm's and the vector cache's locks now and then
    if kill_after is not None:
        time.sleep(kill_after)
        os.kill(proc.pid, signal.SIGKILL)
    proc.join(60)
    if proc.is_alive():
        proc.kill()
        pytest.fail(f"writer hung ({plan} {arg})")
    return proc.exitcode


@pytest.fixture
def crash_dir(embedder, crash_catalogs, tmp_path: Path) -> Path:
    a, _ = crash_catalogs
    engine = make_engine(embedder, tmp_path / "var")
    engine.apply(upserts=a)
    engine.close()
    return tmp_path / "var"


@pytest.mark.slow
def test_sigkill_at_every_durable_step_of_an_ingest(embedder, crash_catalogs, crash_dir: Path, caplog) -> None:
    """Kill the writer just before each fsync/rename/replace of one ingest (catalog, graph, index files,
    generation folder, CURRENT pointer): the data dir always holds the old or the new version, whole."""
    a, b = crash_catalogs
    versions = {canonical(a): "old", canonical(b): "new"}
    seen: list[str] = []
    for step in range(1, 200):
        code = _run_writer(crash_dir, embedder, "step", step, crash_catalogs)
        state = assert_consistent(crash_dir, embedder, versions)
        assert not list(generation_commit.current(crash_dir).glob(".*")), "no temp file inside a committed generation"
        if code == 0:
            assert state == "new"
            break
        assert code == -signal.SIGKILL
        assert not (seen and seen[-1] == "new" and state == "old"), "once new, never old again"
        seen.append(state)
        if state == "new":  # killed after the swap (pruning): move the target back for the next step
            engine = make_engine(embedder, crash_dir)
            engine.apply(upserts=a, deletes=[i for i in engine.artifacts if i not in {x.id for x in a}])
            engine.close()
    else:
        pytest.fail("the ingest never completed")
    print(f"\nSIGKILL before each of {len(seen)} durable steps: old {seen.count('old')}, new {seen.count('new')}")
    assert len(seen) >= 10
    with caplog.at_level(logging.WARNING):
        engine = make_engine(embedder, crash_dir)
    assert "rebuilding" not in caplog.text, "no committed index was ever half written"
    assert engine.search("brand new capability 2", k=1, record=False).hits[0].artifact.id == "crash/new-2"
    engine.apply(upserts=a, deletes=[i for i in engine.artifacts if i not in {x.id for x in a}])
    assert not list(crash_dir.glob(".gen-*")), "staging folders of killed writers are cleaned up"
    assert len(list(crash_dir.glob("gen-*"))) <= generation_commit.KEEP
    engine.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_of_repeated_ingests(embedder, crash_catalogs, crash_dir: Path) -> None:
    a, b = crash_catalogs
    versions = {canonical(a): "old", canonical(b): "new"}
    rng = random.Random(20240611)
    states = []
    for _ in range(8):
        code = _run_writer(crash_dir, embedder, "loop", 0, crash_catalogs, kill_after=rng.uniform(0.2, 1.5))
        assert code == -signal.SIGKILL
        states.append(assert_consistent(crash_dir, embedder, versions))
        assert not list(generation_commit.current(crash_dir).glob(".*")), "no temp file inside a committed generation"
    print(f"\nSIGKILL at 8 random moments: {states}")
    engine = make_engine(embedder, crash_dir)
    assert engine.search("question answering", k=3, record=False).hits
    engine.close()


@pytest.mark.parametrize("damage", ["flip", "ids-missing", "meta-garbage"])
def test_damaged_index_is_detected_and_rebuilt(embedder, crash_catalogs, crash_dir: Path, damage: str,
                                              caplog) -> None:
    """Truncation is covered in test_engine.py; a flipped byte (same size), a missing id map and garbage
    meta are detected by the checksums and rebuilt from the catalog and vector cache, with a log line."""
    folder = generation_commit.current(crash_dir)
    if damage == "flip":
        raw = bytearray((folder / "index.faiss").read_bytes())
        raw[len(raw) // 2] ^= 0x40
        (folder / "index.faiss").write_bytes(bytes(raw))
    elif damage == "ids-missing":
        (folder / "index.ids.json").unlink()
    else:
        (folder / "index.meta.json").write_bytes(b"\x00\xff not json")
    batches = embedder.forward_batches
    with caplog.at_level(logging.WARNING, logger="search"):
        engine = make_engine(embedder, crash_dir)
    assert f"index of {folder.name} is unusable" in caplog.text and "rebuilding it from the catalog" in caplog.text
    assert embedder.forward_batches == batches, "vectors come from the cache, not the model"
    assert set(VectorIndex.load(folder).ids()) == set(engine.capabilities)  # saved back, whole
    assert engine.search("question answering", k=3, record=False).hits
    engine.close()


# =====================================================================================================
# gunicorn: several workers on SQLite, and the load test
# =====================================================================================================
@pytest.fixture(scope="module")
def load_source(embedder, tmp_path_factory) -> Path:
    """A pre-ingested small data dir for the gunicorn runs (catalog, index and vector cache)."""
    from search.vectorcache import VectorCache

    root = tmp_path_factory.mktemp("load")
    engine = make_engine(embedder, root / "var")
    engine.ingest([small_catalog_file(root / "catalog", extra=100)])
    cache = VectorCache(root / "var" / "vectors.db")
    keys = [embedder.cache_key(c.text) for c in engine.capabilities.values()]
    cache.put_many(embedder.cache.get_many(keys))
    cache.close()
    engine.close()
    return root / "var"


@pytest.mark.slow
def test_sqlite_store_under_three_gunicorn_workers(load_source: Path) -> None:
    """The default SQLite store shared by 3 worker processes: no 'database is locked' reaches a client,
    no count is lost (WAL, BEGIN IMMEDIATE, 30 s busy timeout)."""
    from bench.load import run

    report = run(clients=8, seconds=4, store="", workers=3, threads=4, source=load_source)
    assert report["errors"] == 0, (report["error_kinds"], report["server_log_tail"])
    assert "database is locked" not in report["server_log_tail"]
    assert report["searches"] > 10 and report["feedback"] > 0
    assert report["counts_exact"], report


@pytest.mark.slow
def test_load_smoke_with_a_redis_outage(load_source: Path) -> None:
    """bench/load.py end to end, small: gunicorn 2 workers on a Redis of its own that is SIGKILLed for the
    middle third of the run; no error reaches a client and the counts come out exact after the replay."""
    from bench.load import format_report, run

    report = run(clients=4, seconds=6, workers=2, source=load_source, outage=True)
    print("\n" + format_report(report))
    assert report["errors"] == 0 and not report["hung_clients"], report["error_kinds"]
    assert report["latency_ms"]["search (outage)"]["n"] > 0
    assert report["counts_exact"], {k: v for k, v in report.items() if k != "server_log_tail"}
    assert report["spool"]["spooled"] == report["spool"]["parked"] == report["spool"]["rejected"] == 0
