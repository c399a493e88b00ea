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

from test_reliability import RedisServer

from graph.dedup import Dedup
from graph.events import SearchEvent, Served
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
