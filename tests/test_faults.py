"""Faults an operator or an attacker meets (issue 26): Redis frozen and killed while the same people repeat
their searches (counts stay exact), a rebuild under search load, a full disk or a damaged matches.db
(health says so; searches are served without recording), and requests built to take a worker for minutes.

Every test uses real parts: a private redis-server on its own port, real SQLite files, a real gunicorn.
"""

from __future__ import annotations

import collections
import random
import signal
import threading
import time
import uuid
from pathlib import Path

from bench.servers import RedisServer
from graph.dedup import Dedup
from graph.events import FeedbackEvent, SearchEvent, Served
from graph.store import redis_client_options
from graph.store.redis import RedisStore
from graph.store.spool import SpoolingStore


# =====================================================================================================
# Exact counts through an outage
# =====================================================================================================
class RepeatedPairs:
    """Client threads recording searches through Dedup + the spool: 80% from new people, 20% a (person,
    query) pair already searched (a reload, Enter after a preview). Only the first of each pair may count."""

    def __init__(self, store: SpoolingStore, queries: int = 12) -> None:
        self.dedup = Dedup(store, settle_window_s=1800.0)
        self.store = store
        self.queries = queries
        self.lock = threading.Lock()
        self.pairs: list[tuple[str, int]] = []
        self.distinct: set[tuple[str, int]] = set()
        self.acknowledged = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def one(self, rng: random.Random) -> None:
        with self.lock:
            if self.pairs and rng.random() < 0.2:
                user, q = rng.choice(self.pairs)
            else:
                user, q = f"user-{rng.getrandbits(48):x}", rng.randrange(self.queries)
                self.pairs.append((user, q))
        ev = SearchEvent(uuid.uuid4().hex, f"intent-{q}", f"query {q}", time.time(),
                         (Served(f"a{q}", 1, 0.9), Served(f"b{q % 3}", 2, 0.8)), user=user)
        self.store.record_search(self.dedup.search(ev))
        with self.lock:  # acknowledged: a 2xx would have gone out now
            self.acknowledged += 1
            self.distinct.add((user, q))

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            try:
                self.one(rng)
            except Exception as exc:  # noqa: BLE001 - counted and shown: a search must never fail here
                self.errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.02)

    def expected_times_matched(self) -> dict[str, int]:
        want: collections.Counter = collections.Counter()
        for _, q in self.distinct:
            want[f"a{q}"] += 1
            want[f"b{q % 3}"] += 1
        return dict(want)


def _drain(store: SpoolingStore, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (s := store.status())["spooled"] or s["parked"]:
        assert time.monotonic() < deadline, f"spool did not drain: {s}"
        time.sleep(0.1)


def test_repeated_searches_count_once_through_a_frozen_and_a_killed_redis(tmp_path: Path) -> None:
    """Redis frozen (SIGSTOP) and later killed while people repeat searches: once the spool has drained,
    settled searches and Times Matched equal the distinct (person, query) pairs exactly, and every
    acknowledged search is in the log. Before: claims fell back to a table per process during the outage,
    so a repeat counted again."""
    server = RedisServer(tmp_path / "redis").start()
    primary = RedisStore(server.url, prefix="pairs", **redis_client_options())
    store = SpoolingStore(primary, tmp_path / "spool" / "match-spool.db", retry_interval=0.2)
    load = RepeatedPairs(store)
    threads = [threading.Thread(target=load.client, args=(i,), daemon=True) for i in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        server.proc.send_signal(signal.SIGSTOP)  # frozen: connections stay open, nothing answers
        time.sleep(3.0)
        server.proc.send_signal(signal.SIGCONT)
        time.sleep(1.5)
        server.kill()  # gone: connections refused
        time.sleep(3.0)
        server.start()  # same port and AOF: everything acknowledged before the kill comes back
        time.sleep(1.5)
        load.stop.set()
        for t in threads:
            t.join(30)
        _drain(store)
        assert not load.errors, load.errors[:5]
        assert store.replayed > 0, "the outage never reached the spool: the test proves nothing"
        summary = primary.summary()
        repeats = load.acknowledged - len(load.distinct)
        assert repeats > 20, f"too few repeated pairs to mean anything ({repeats})"
        print(f"\nacknowledged {load.acknowledged} searches, {len(load.distinct)} distinct pairs, "
              f"{repeats} repeats; stored {summary['searches']}, settled {summary['settled_searches']}; "
              f"replayed {store.replayed}")
        assert summary["searches"] == load.acknowledged  # none lost, none twice
        assert summary["settled_searches"] == len(load.distinct)  # no drift: repeats counted nothing
        want = load.expected_times_matched()
        assert primary.times_matched(list(want)) == want
        assert store.status()["rejected"] == 0
    finally:
        load.stop.set()
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGCONT)
        store.close()
        server.stop()


def test_a_vote_whose_claim_a_frozen_redis_applied_late_counts_once(tmp_path: Path) -> None:
    """A vote sent as Redis froze: its claim (SET ... GET) waited in Redis's socket, the client gave up after
    its timeout and spooled the vote, and Redis applied the claim when it woke. Before: the replay made the
    claim again, found the vote's own kind there, took it for "the same vote again" and counted nothing
    (bench.load --stall: "sent 264 feedback, stored 263"). After: the claim remembers the vote that made it
    (exchange_once), so the replay gets the first answer: the new vote counts, the change of mind replaces."""
    server = RedisServer(tmp_path / "redis").start()
    primary = RedisStore(server.url, prefix="votes", **redis_client_options())
    store = SpoolingStore(primary, tmp_path / "spool" / "match-spool.db", retry_interval=0.2)
    dedup = Dedup(store)
    sid = uuid.uuid4().hex
    try:
        store.record_search(dedup.search(SearchEvent(sid, "intent-v", "vote query", time.time(),
                                                     (Served("a1", 1, 0.9), Served("a2", 2, 0.8)), user="u1")))
        store.record_feedback(dedup.feedback(FeedbackEvent(sid, "a2", "downvote", time.time(), user="u1")))
        for artifact in ("a1", "a2"):  # a new vote; a change of mind (upvote after the downvote)
            server.proc.send_signal(signal.SIGSTOP)
            try:  # the claim is sent, times out (0.5 s), the vote is spooled pending: a 202 would go out now
                store.record_feedback(dedup.feedback(FeedbackEvent(sid, artifact, "upvote", time.time(), user="u1")))
            finally:
                server.proc.send_signal(signal.SIGCONT)  # Redis applies the claim it was holding
            _drain(store)
        assert store.replayed == 2, "the votes never went through the spool: the test proves nothing"
        assert primary.summary()["feedback"] == 3
        edges = primary.intent_edges(["intent-v"])["intent-v"]
        assert (edges["a1"].upvotes, edges["a1"].downvotes) == (1, 0)
        assert (edges["a2"].upvotes, edges["a2"].downvotes) == (1, 0)  # replaced, not added to
        assert edges["a2"].users == {"u1": 1}
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGCONT)
        store.close()
        server.stop()


def test_votes_whose_replay_redis_cut_short_count_once(tmp_path: Path) -> None:
    """The spool's replay makes a batch's claims, then writes the batch. Redis killed between the two: the
    claims are kept (AOF, fsync always), the writes never happened, the rows stay spooled and the next round
    makes their claims again. Before: every vote of the batch then read as "the same vote again" and counted
    nothing (a click, claimed with its own timestamp, already counted once). After: each counts once."""
    server = RedisServer(tmp_path / "redis").start()

    class DiesBeforeTheWrite(RedisStore):  # the real store; Redis is SIGKILLed as the armed batch is written
        armed = False

        def record_many(self, events):  # type: ignore[no-untyped-def]  # MatchStore's signature
            if self.armed:
                self.armed = False
                server.kill()
            return super().record_many(events)

    primary = DiesBeforeTheWrite(server.url, prefix="votes", **redis_client_options())
    store = SpoolingStore(primary, tmp_path / "spool" / "match-spool.db", replay=False)  # replayed by hand

    def replay_until_drained() -> None:
        deadline = time.monotonic() + 30
        while store.flush() == 0 or store.status()["spooled"]:
            assert time.monotonic() < deadline, store.status()
            time.sleep(0.1)

    dedup = Dedup(store)
    sid = uuid.uuid4().hex
    served = tuple(Served(f"a{r}", r, 1.0 / r) for r in range(1, 5))
    try:
        store.record_search(dedup.search(SearchEvent(sid, "intent-v", "vote query", time.time(), served,
                                                     user="u1")))
        store.record_feedback(dedup.feedback(FeedbackEvent(sid, "a4", "downvote", time.time(), user="u1")))
        server.kill()
        for artifact, kind in (("a1", "upvote"), ("a2", "downvote"), ("a3", "click"), ("a4", "upvote")):
            store.record_feedback(dedup.feedback(FeedbackEvent(sid, artifact, kind, time.time(), user="u1")))
        assert store.status()["spooled"] == 4  # pending: their claims wait for Redis
        server.start()
        primary.armed = True
        deadline = time.monotonic() + 30
        while primary.armed:  # rounds until one gets to write (Redis answers again): it makes the claims first
            assert store.flush() == 0 and time.monotonic() < deadline
            time.sleep(0.1)
        assert store.status()["spooled"] == 4, "the replay was not cut short"
        server.start()
        replay_until_drained()
        assert primary.summary()["feedback"] == 5 and primary.summary()["clicks"] == 1
        edges = primary.intent_edges(["intent-v"])["intent-v"]
        assert [(edges[a].upvotes, edges[a].downvotes) for a in ("a1", "a2", "a4")] == [(1, 0), (0, 1), (1, 0)]
        assert edges["a4"].users == {"u1": 1}  # the upvote replaced the downvote
    finally:
        store.close()
        server.stop()


# =====================================================================================================
# Maintenance without downtime: rebuild beside the live state
# =====================================================================================================
REBUILD_SCRIPT = """
import sys, time
from graph.store.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
print("started", flush=True)
store.rebuild()
print("done", flush=True)
"""


def _logged(store, n: int, prefix: str) -> None:
    batch = []
    for i in range(n):
        q = i % 50
        batch.append(SearchEvent(f"{prefix}{i}", f"intent-{q}", f"query {q}", 1_700_000_000.0 + i,
                                 tuple(Served(f"a{(q + r) % 300}", r, 1.0 / r) for r in range(1, 11)),
                                 user=f"user-{i % 977}"))
        if len(batch) == 1000:
            store.record_many(batch)
            batch = []
    if batch:
        store.record_many(batch)


def test_searches_keep_recording_while_sqlite_rebuilds(tmp_path: Path) -> None:
    """`rebuild` in another process over 10k logged searches while this one keeps recording searches (what
    every search does): writes complete *during* the rebuild (the write lock is not held for the replay),
    none fails ("database is locked"), and the swapped-in state includes them: it equals a rebuild run
    alone afterwards. Before: every write waited for the whole rebuild (at most the one in flight when it
    ended got through before the rebuild's own 'done')."""
    import subprocess
    import sys

    from graph.store.sqlite import SQLiteStore

    path = tmp_path / "matches.db"
    store = SQLiteStore(path)
    _logged(store, 10_000, "old-")
    proc = subprocess.Popen([sys.executable, "-c", REBUILD_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout.readline().strip() == "started"
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (proc.stdout.readline(), done.set()), daemon=True)
    waiter.start()
    during, errors, i = 0, [], 0
    while not done.is_set():
        ev = SearchEvent(f"new-{i}", f"intent-{i % 7}", f"query {i % 7}", 1_700_100_000.0 + i,
                         (Served(f"a{i % 300}", 1, 0.9),), user=f"late-{i}")
        try:
            store.record_search(ev)
        except Exception as exc:  # noqa: BLE001 - the failure this test is about
            errors.append(f"{type(exc).__name__}: {exc}")
        if not done.is_set():
            during += 1
        i += 1
        time.sleep(0.005)
    assert proc.wait(60) == 0
    print(f"\n{during} searches recorded while the rebuild ran ({i} in all)")
    assert not errors, errors[:3]
    assert during >= 10, f"only {during} searches got through while the rebuild ran: it holds the write lock"
    swapped = store.snapshot()
    assert swapped["summary"]["searches"] == 10_000 + i
    store.rebuild()  # alone: the state the swap must have produced
    assert store.snapshot() == swapped
    with store.db.use() as c:  # no shadow table is left behind
        assert not c.execute("SELECT name FROM sqlite_master WHERE name LIKE 'rb\\_%' ESCAPE '\\'").fetchall()
    store.close()


# =====================================================================================================
# Health that tells the truth: a full disk, a damaged matches.db
# =====================================================================================================
KEY = "fault-key"
SEARCHES = ["question answering model", "translate english to german", "detect objects in street images",
            "sentence embeddings for semantic similarity", "speech recognition for meetings",
            "summarise long news articles", "code completion for many languages", "image classification backbone"]


def _app(engine):
    from api.app import create_app

    app = create_app(engine=engine, RATELIMIT_ENABLED=False)
    app.extensions["matchgraph.settings"] = app.extensions["matchgraph.settings"].replace(api_key=KEY)
    return app


def _put(http, engine):
    artifact_id = next(iter(engine.artifacts))
    return http.put(f"/v1/artifacts/{artifact_id}", json=engine.artifacts[artifact_id].to_record(),
                    headers={"Authorization": f"Bearer {KEY}"})


def _assert_degraded(http, engine, words: str) -> dict:
    ready = http.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 200 and body["status"] == "degraded", body
    assert any(words in r for r in body["reasons"]), body["reasons"]
    put = _put(http, engine)
    assert put.status_code == 503, put.get_data(as_text=True)[:300]
    assert words in put.get_json()["error"]["message"]
    return body


def test_a_full_disk_serves_searches_without_recording_and_says_so(embedder, tmp_path: Path, caplog) -> None:
    """matches.db may not grow (SQLite's max_page_count: what a full disk looks like to it): every search
    still answers 200, /readyz answers 200 "degraded" naming the reason, admin writes answer 503 with it,
    the reason is logged once (not per request), and the host records again once there is room.
    Before: searches answered 500 ("database or disk is full") and /readyz stayed "ready"."""
    import logging

    from test_reliability import make_engine, small_catalog_file

    caplog.set_level(logging.WARNING)
    engine = make_engine(embedder, tmp_path / "var")
    engine.ingest([small_catalog_file(tmp_path / "catalog")])
    http = _app(engine).test_client()
    try:
        sqlite_store = engine.store.authoritative()
        with sqlite_store.db.use() as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = c.execute("PRAGMA page_count").fetchone()[0]
            c.execute(f"PRAGMA max_page_count = {pages}")  # full: not one page more
        codes = collections.Counter()
        for i in range(40):
            resp = http.get("/v1/search", query_string={"q": f"{SEARCHES[i % len(SEARCHES)]} {i}", "k": 10,
                                                        "user_token": f"full-{i}"})
            codes[resp.status_code] += 1
        assert codes == {200: 40}, codes
        assert engine.store.unrecorded > 0, "the store never filled up: the test proves nothing"
        _assert_degraded(http, engine, "full")
        page = http.get(f"/artifacts/{next(iter(engine.artifacts))}")
        assert page.status_code == 200
        assert caplog.text.count("cannot record") == 1, caplog.text
        with sqlite_store.db.use() as c:
            c.execute("PRAGMA max_page_count = 1073741823")  # room again
        assert http.get("/v1/search", query_string={"q": "detect faces", "user_token": "after"}).status_code == 200
        assert http.get("/readyz").get_json()["status"] == "ok"
        assert "can record again" in caplog.text
    finally:
        engine.close()


def test_a_damaged_matches_db_serves_searches_and_says_so(embedder, tmp_path: Path, caplog) -> None:
    """matches.db cut short (a disk fault, a bad copy), then the host starts: searches and artifact pages
    answer 200 (without Times Matched from the store), /readyz 200 "degraded" with the reason, admin writes
    503. Before: search and artifact pages answered 500 ("database disk image is malformed")."""
    import logging

    from test_reliability import make_engine, small_catalog_file

    caplog.set_level(logging.WARNING)
    engine = make_engine(embedder, tmp_path / "var")
    engine.ingest([small_catalog_file(tmp_path / "catalog")])
    http = _app(engine).test_client()
    for i in range(60):
        http.get("/v1/search", query_string={"q": SEARCHES[i % len(SEARCHES)], "user_token": f"before-{i}"})
    with engine.store.authoritative().db.use() as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.close()
    path = tmp_path / "var" / "matches.db"
    size = path.stat().st_size
    with open(path, "r+b") as fh:  # keep the header and the first pages, lose the rest
        fh.truncate(max(4096 * 3, size // 3))
    engine = make_engine(embedder, tmp_path / "var")
    http = _app(engine).test_client()
    try:
        for q in SEARCHES:
            resp = http.get("/v1/search", query_string={"q": q, "user_token": "after"})
            assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        page = http.get(f"/artifacts/{next(iter(engine.artifacts))}")
        assert page.status_code == 200, page.get_data(as_text=True)[:300]
        body = _assert_degraded(http, engine, "matches.db")
        print("\nreasons:", body["reasons"])
    finally:
        engine.close()


# =====================================================================================================
# Bounded work per request; health that a busy worker cannot starve
# =====================================================================================================
HOSTILE_COMPARE = "/compare/" + "a/" * 2000


def test_compare_path_resolves_a_bounded_number_of_splits(embedder, tmp_path: Path) -> None:
    """`/compare/` + `a/` x 2,000 answers 404 after a bounded number of name resolutions (at most two per
    split of a capped number of segments), and a real pair with a slash in an id still resolves.
    Before: every one of the 2,000 splits resolved both halves with typo tolerance (4,000 calls)."""
    from conftest import small_engine

    engine = small_engine(embedder, tmp_path)
    http = _app(engine).test_client()
    calls = []
    real = engine.resolve

    def counted(text: str):
        calls.append(len(text))
        return real(text)

    engine.resolve = counted  # the real resolver (what the compare route calls), counted
    try:
        resp = http.get(HOSTILE_COMPARE)
        assert resp.status_code == 404
        print(f"\nresolver calls for {HOSTILE_COMPARE.count('/') - 2} segments: {len(calls)}")
        assert len(calls) <= 32 and all(n <= 200 for n in calls), (len(calls), max(calls, default=0))
        a, b = sorted(i for i in engine.artifacts if "/" in i)[:2]
        assert http.get(f"/compare/{a}/{b}").status_code == 200
    finally:
        engine.close()


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthz_answers_while_four_hostile_requests_are_in_flight(embedder, tmp_path: Path) -> None:
    """A 1-worker, 4-thread gunicorn: four `/compare/` requests with 2,000 segments at once, and /healthz
    (on the main port and on the health port) answers meanwhile. The bound is generous (20 s) on purpose:
    before, each such request held a thread for 30-60 s and /healthz waited behind all four."""
    import os
    import subprocess
    import sys

    import requests
    from conftest import small_engine

    small_engine(embedder, tmp_path).close()
    port, health = _port(), _port()
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MATCHGRAPH_", "PROMETHEUS_"))}
    env.update(MATCHGRAPH_DATA_DIR=str(tmp_path / "var"), MATCHGRAPH_LOG_LEVEL="WARNING", PYTHONPATH=str(root),
               MATCHGRAPH_HEALTH_BIND=f"127.0.0.1:{health}", MATCHGRAPH_BOOTSTRAP="0")
    log = open(tmp_path / "gunicorn.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "4",
                             "--worker-class", "gthread", "--bind", f"127.0.0.1:{port}", "--timeout", "120",
                             "api.app:create_app()"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()[-2000:]
            try:
                if requests.get(base + "/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "server not ready"
            time.sleep(0.3)
        results: list = []
        hostile = [threading.Thread(target=lambda: results.append(
            requests.get(base + HOSTILE_COMPARE, timeout=120).status_code), daemon=True) for _ in range(4)]
        for t in hostile:
            t.start()
        time.sleep(0.2)  # all four are in the worker's threads now
        assert requests.get(base + "/healthz", timeout=20).status_code == 200
        side = requests.get(f"http://127.0.0.1:{health}/healthz", timeout=20)
        assert side.status_code == 200 and side.json() == {"status": "ok"}
        assert requests.get(f"http://127.0.0.1:{health}/readyz", timeout=20).status_code == 200
        assert requests.get(f"http://127.0.0.1:{health}/v1/search?q=x", timeout=20).status_code == 404
        for t in hostile:
            t.join(120)
        assert results == [404] * 4
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


# =====================================================================================================
# The small ones: secrets in `config`, the Host header, documented limits
# =====================================================================================================
def test_config_masks_passwords_in_every_url_form(tmp_path: Path) -> None:
    """`python -m api config` (text and --json) never prints a Redis password, whether it is given as
    `user:pass@`, `:pass@`, a password holding `@`, or a query option (`?password=`, `&sentinel_password=`).
    Before: the `?password=` form was printed in clear."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    forms = {"redis://u:pw-one@127.0.0.1:1/0": "pw-one", "redis://:pw-two@127.0.0.1:1/0": "pw-two",
             "rediss://u:pw@three@127.0.0.1:1/0": "three", "redis://127.0.0.1:1/0?password=pw-four": "pw-four",
             "redis://127.0.0.1:1/0?socket_timeout=1&sentinel_password=pw-five": "pw-five"}
    for url, secret in forms.items():
        env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHGRAPH_")}
        env.update(MATCHGRAPH_STORE=url, MATCHGRAPH_RATELIMIT_STORAGE=url, MATCHGRAPH_DATA_DIR=str(tmp_path))
        for extra in ([], ["--json"]):
            out = subprocess.run([sys.executable, "-m", "api", "config", *extra], cwd=root, env=env,
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr[-1000:]
            assert "MATCHGRAPH_STORE" in out.stdout or "store_url" in out.stdout
            assert secret not in out.stdout + out.stderr, (url, extra)
            assert "********" in out.stdout


def test_embed_snippets_never_carry_the_host_header(embedder, tmp_path: Path) -> None:
    """A request with a forged Host gets an artifact page whose embed snippet and widget links name the
    configured public URL (MATCHGRAPH_PUBLIC_URL), or a bare path when it is unset; never the forged host.
    Before: `http://evil.example/static/widget.js` was written into the snippet."""
    from conftest import small_engine

    engine = small_engine(embedder, tmp_path)
    app = _app(engine)
    http = app.test_client()
    artifact_id = next(iter(engine.artifacts))
    try:
        for path in (f"/artifacts/{artifact_id}", f"/widget/similar/{artifact_id}"):
            page = http.get(path, headers={"Host": "evil.example"})
            assert page.status_code == 200
            assert "evil.example" not in page.get_data(as_text=True), path
        settings = app.extensions["matchgraph.settings"]
        app.extensions["matchgraph.settings"] = settings.replace(public_url="https://match.example.org/")
        page = http.get(f"/artifacts/{artifact_id}", headers={"Host": "evil.example"}).get_data(as_text=True)
        assert "evil.example" not in page
        assert 'src="https://match.example.org/static/widget.js"' in page.replace("&#34;", '"') \
            or "https://match.example.org/static/widget.js" in page
    finally:
        engine.close()


def test_documented_query_limit_is_the_enforced_one() -> None:
    """docs/api.md states the `q` limit the API enforces (before: the docs said 1..512, the code 4,000)."""
    from api.models import MAX_QUERY_CHARS, SearchQuery

    docs = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    assert f"`q` 1..{MAX_QUERY_CHARS:,} characters" in docs
    assert SearchQuery.model_fields["q"].metadata[-1].max_length == MAX_QUERY_CHARS
