"""The Redis store on a real Redis Cluster: three masters on loopback ports, created with
`redis-server --cluster-enabled yes` and `redis-cli --cluster create`, torn down always.

The store suite of tests/test_stores.py is imported and collected here, so exactly the same tests run
against `RedisStore(redis+cluster://...)` through the module's own `store` fixture.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rediscluster import MASTERS, Cluster
from test_stores import (  # noqa: F401 - collected here against the cluster store below
    search,
    test_a_vote_claimed_again_gets_the_answer_it_got_the_first_time,
    test_capability_edges_and_exposure,
    test_concurrent_writers_lose_nothing,
    test_counts_survive_restart,
    test_day_buckets_since_and_top_order,
    test_feedback_fills_and_updates_edges,
    test_intents_polling,
    test_match_scores_replace_all,
    test_queries_by_kind,
    test_rebuild_equals_incremental,
    test_rebuild_under_concurrent_writers,
    test_rejected_feedback_writes_nothing,
    test_times_matched_and_capabilities,
)

from graph.events import FeedbackEvent
from graph.store import open_store
from graph.store.base import MatchStore
from graph.store.redis import RedisStore
from graph.store.spool import SpoolingStore

# Outside CI a machine without Redis binaries skips; in CI (CI set) a missing binary fails the run.
pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and (shutil.which("redis-server") is None or shutil.which("redis-cli") is None),
    reason="redis-server and redis-cli are needed to create a cluster")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture
def store(cluster: Cluster) -> Iterator[MatchStore]:
    """What test_stores.py's `store` fixture gives, on the cluster: an empty RedisStore."""
    cluster.flush()
    s = RedisStore(cluster.url, prefix="mgtest")
    assert s.cluster
    yield s
    s.close()
    cluster.flush()


def _master_stats(cluster: Cluster) -> list[tuple[int, int]]:
    """(keys, write commands processed) per master."""
    out = []
    for port in cluster.ports:
        client = redis.Redis(port=port)
        stats = client.info("commandstats")
        writes = sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))
        out.append((client.dbsize(), writes))
        client.close()
    return out


def test_the_store_spreads_over_the_three_masters(cluster: Cluster, store: RedisStore) -> None:
    """Keys are hashed by what they describe (the intent), over 16 shards whose slots are spread evenly:
    each master holds a fair share of the keys and runs a fair share of the write scripts, and the
    sums read back over all shards are exact."""
    info = redis.Redis(port=cluster.ports[0]).cluster("nodes")
    assert sum(1 for v in info.values() if "master" in v["flags"]) == MASTERS
    assert store.n == 16
    slots = {redis.Redis(port=cluster.ports[0]).cluster("keyslot", sh.tag) for sh in store.shards}
    assert len(slots) == 16
    before = _master_stats(cluster)
    n = 300
    for j in range(n):
        store.record_search(search(f"s{j}", ["a", f"own-{j % 7}"], intent=f"intent-{j}", query=f"q{j % 50}"))
        if j % 3 == 0:
            store.record_feedback(FeedbackEvent(f"s{j}", "a", "click", 1.0 + j))
    after = _master_stats(cluster)
    keys = [k for k, _ in after]
    writes = [w1 - w0 for (_, w0), (_, w1) in zip(before, after, strict=True)]
    print(f"\nkeys per master {keys}, write scripts per master {writes}")
    for k, w in zip(keys, writes, strict=True):
        assert 0.15 <= k / sum(keys) <= 0.60
        assert 0.15 <= w / sum(writes) <= 0.60
    assert store.times_matched(["a", "own-0"]) == {"a": n, "own-0": len(range(0, n, 7))}
    assert store.summary()["searches"] == n and store.summary()["clicks"] == len(range(0, n, 3))
    assert store.summary()["intents"] == n and store.summary()["matched_artifacts"] == 8
    assert store.top_artifacts(2) == [("a", n), ("own-0", len(range(0, n, 7)))]
    assert [q.searches for q in store.queries("top", 3)] == [6, 6, 6]


def test_open_store_on_the_cluster_is_spooled(cluster: Cluster, tmp_path: Path) -> None:
    cluster.flush()
    s = open_store(cluster.url + "?prefix=mgopen", tmp_path)
    try:
        assert isinstance(s, SpoolingStore) and isinstance(s.authoritative(), RedisStore)
        assert s.authoritative().cluster and s.ping()
        s.record_search(search("s1", ["a"]))
        assert s.times_matched(["a"]) == {"a": 1} and s.status()["spooled"] == 0
    finally:
        s.close()
        cluster.flush()


def test_a_master_killed_mid_traffic_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    """Failover without a replica: a master is SIGKILLed while a host records; the cluster refuses writes
    (its slots are down), the host's spool takes them (fsync'd), the master comes back from its AOF, the
    spool drains, and every count is exact: nothing lost, nothing applied twice (idempotency keys)."""
    from graph.store import open_store

    c = Cluster(tmp_path / "nodes", appendonly=True)
    try:
        c.start()
        store = open_store(c.url + "?prefix=mgfail", tmp_path / "data", spool_retry_s=0.2)
        assert isinstance(store, SpoolingStore)
        n = 90
        for j in range(n):
            if j == n // 3:
                c.kill(1)
            store.record_search(search(f"s{j}", ["a", f"own-{j % 3}"], intent=f"intent-{j}"))
            store.record_feedback(FeedbackEvent(f"s{j}", "a", "click", 1.0 + j))
        assert store.status()["spooled"] > 0, "the dead master's writes went to the spool"
        c.restart(1)
        deadline = time.monotonic() + 60
        while store.status()["spooled"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.status()["spooled"] == 0
        primary = store.authoritative()
        assert primary.times_matched(["a", "own-0", "own-1"]) == {"a": n, "own-0": n // 3, "own-1": n // 3}
        summary = primary.summary()
        assert (summary["searches"], summary["clicks"], summary["intents"]) == (n, n, n)
        snapshot = primary.snapshot()
        primary.rebuild()
        assert primary.snapshot() == snapshot
        store.close()
    finally:
        c.stop()
