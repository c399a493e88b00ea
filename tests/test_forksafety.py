"""Nothing a forked child inherits can deadlock it: a lock another thread held at fork() is free in the child.

fork() copies locks in the state they have at that instant but only the forking thread, so a lock held by any
other thread stays held forever in the child. Each test here makes that happen deterministically (a thread
holds the lock while the main thread forks, then lets go), and the child must finish its work. These tests
keep the fork start method on purpose: fork is what they test. A hung child is killed and fails the test.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("short_fork_hold")  # locks are held on purpose while forking here
CHILD_LIMIT_S = 60  # a child that has not finished by then is stuck (it needs a second or two)


@contextmanager
def held_by_another_thread(lock: Any) -> Iterator[None]:
    """`lock` is held by a second thread for the duration of the block, released right after it."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(CHILD_LIMIT_S)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def run_in_forked_child(target: Callable[..., None], *args: Any, lock: Any) -> None:
    """Fork while another thread holds `lock`; the child runs `target(*args)` and must exit 0."""
    ctx = mp.get_context("fork")
    with held_by_another_thread(lock):
        proc = ctx.Process(target=target, args=args)
        proc.start()
    proc.join(CHILD_LIMIT_S)
    if proc.is_alive():
        proc.kill()
        proc.join()
        pytest.fail(f"the forked child hung in {target.__name__} on a lock copied in a held state")
    assert proc.exitcode == 0


def _tokenize() -> None:
    from search.lexical import tokenize

    assert tokenize(["translate english to german"]) == [["translat", "english", "german"]]


def test_tqdm_lock_held_at_fork_does_not_hang_the_child() -> None:
    """bm25s tokenizes every query in `for text in tqdm(..., disable=True)`, and tqdm.__new__ takes tqdm's
    class lock even when disabled: a thread searching while another forks left it held in the child."""
    from tqdm import tqdm

    _tokenize()  # the parent has used tqdm (and made its lock) before forking, as a server has
    run_in_forked_child(_tokenize, lock=tqdm.get_lock())


def test_tqdm_lock_is_safe_under_a_busy_thread() -> None:
    """The realistic case, not forced: one thread tokenizes in a loop while the main thread forks children
    that tokenize too. Timing-dependent (a few forks in a hundred hit the held lock without the fix)."""
    from search.lexical import tokenize

    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            tokenize(["a query tokenized while another thread forks"])

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    ctx = mp.get_context("fork")
    try:
        for _ in range(20):
            proc = ctx.Process(target=_tokenize)
            proc.start()
            proc.join(CHILD_LIMIT_S)
            if proc.is_alive():
                proc.kill()
                pytest.fail("a forked child hung on tqdm's lock")
            assert proc.exitcode == 0
    finally:
        stop.set()
        thread.join(10)


def _cache_roundtrip(cache: Any) -> None:
    cache.put_many({"child": np.ones(4, np.float32)})
    assert set(cache.get_many(["parent", "child"])) == {"parent", "child"}


def test_vector_cache_lock_held_at_fork(tmp_path: Path) -> None:
    from search.vectorcache import VectorCache

    cache = VectorCache(tmp_path / "vectors.sqlite")
    cache.put_many({"parent": np.zeros(4, np.float32)})
    run_in_forked_child(_cache_roundtrip, cache, lock=cache.db.lock)
    cache.close()


def _store_write(store: Any) -> None:
    from graph.events import SearchEvent, Served

    store.record_search(SearchEvent("child-1", "i-child", "child query", 1_700_000_000.0,
                                    (Served("a-child", 1, 0.9),)))


def test_sqlite_store_lock_held_at_fork(tmp_path: Path) -> None:
    from graph.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "match.sqlite")
    store.summary()  # the parent's connection is open before the fork
    run_in_forked_child(_store_write, store, lock=store.db.lock)
    assert store.times_matched(["a-child"]) == {"a-child": 1}
    store.close()


def test_spool_lock_held_at_fork(tmp_path: Path) -> None:
    from graph.store.spool import SpoolingStore
    from graph.store.sqlite import SQLiteStore

    store = SpoolingStore(SQLiteStore(tmp_path / "match.sqlite"), tmp_path / "spool.sqlite", replay=False)
    store.summary()
    run_in_forked_child(_store_write, store, lock=store._lock)
    assert store.times_matched(["a-child"]) == {"a-child": 1}
    store.close()


def _encode_query(embedder: Any) -> None:
    assert embedder.encode_query("a query only the child encodes").shape == (embedder.dim,)


def test_embedder_query_lock_held_at_fork(embedder: Any) -> None:
    embedder.encode_query("warm")
    run_in_forked_child(_encode_query, embedder, lock=embedder._lru_lock)


def test_sqlite_store_used_by_a_thread_while_the_parent_forks(tmp_path: Path) -> None:
    """A thread inside SQLite at fork() holds SQLite's own allocator mutex: the child's first connect waits on
    it forever (seen: sqlite3Malloc -> pthread_mutex_lock). The store's lock is held across fork() for that."""
    from conftest import busy_thread

    from graph.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "match.sqlite")
    ctx = mp.get_context("fork")
    with busy_thread(store.summary):
        for i in range(20):
            proc = ctx.Process(target=_store_write_n, args=(store, i))
            proc.start()
            proc.join(CHILD_LIMIT_S)
            if proc.is_alive():
                proc.kill()
                pytest.fail("a forked child hung inside SQLite")
            assert proc.exitcode == 0
    assert store.summary()["searches"] == 20
    store.close()


def _store_write_n(store: Any, i: int) -> None:
    from graph.events import SearchEvent, Served

    store.record_search(SearchEvent(f"child-{i}", "i-child", "child query", 1_700_000_000.0,
                                    (Served("a-child", 1, 0.9),)))


def _redis_store_write(store: Any) -> None:
    _store_write(store)
    assert store.times_matched(["a-child"])["a-child"] >= 1


def test_redis_store_connection_pool_lock_held_at_fork() -> None:
    """redis-py's ConnectionPool.reset(), which a forked child runs on first use, takes the pool's `_lock`:
    held by another thread of the parent at the fork, the child waited forever (seen in
    test_concurrent_writers_lose_nothing on the Cluster: a child in `ConnectionPool.reset`)."""
    import uuid

    from graph.store.redis import RedisStore

    store = RedisStore("redis://127.0.0.1:6379/13", prefix=f"forksafe-{uuid.uuid4().hex[:8]}")
    try:
        store.summary()  # the parent's pool holds a connection before the fork
        run_in_forked_child(_redis_store_write, store, lock=store.r.connection_pool._lock)
    finally:
        store.clear()
        store.close()


def test_redis_cluster_store_locks_held_at_fork(tmp_path: Path) -> None:
    """The same on a Redis Cluster: every node's pool, and the cluster client's own locks."""
    import uuid

    from rediscluster import Cluster

    from graph.store.redis import RedisStore

    cluster = Cluster(tmp_path / "cluster")
    cluster.start()
    try:
        store = RedisStore(cluster.url, prefix=f"forksafe-{uuid.uuid4().hex[:8]}")
        store.summary()
        node = store.r.get_nodes()[0].redis_connection.connection_pool
        run_in_forked_child(_redis_store_write, store, lock=node._lock)
        run_in_forked_child(_redis_store_write, store, lock=store.r.nodes_manager._lock)
        store.close()
    finally:
        cluster.stop()


def _take_tqdm_lock_and_wait() -> None:
    from tqdm import tqdm

    tqdm.get_lock().acquire()  # as a child tokenizing (bm25s) holds it, when the SIGKILL tests kill it
    threading.Event().wait(60)


def test_a_child_killed_while_holding_tqdms_lock_does_not_block_the_parent() -> None:
    """tqdm's class lock included a process-shared semaphore (multiprocessing.RLock): a forked child killed
    while it held it (the SIGKILL-during-ingest tests kill children that tokenize) left it held for every
    process, and the parent's next tokenize waited forever (seen in a soak run: the suite's main thread in
    `TqdmDefaultWriteLock.acquire`). Now tqdm's lock is per process."""
    import os
    import signal

    from tqdm import tqdm

    _tokenize()
    ctx = mp.get_context("fork")
    child = ctx.Process(target=_take_tqdm_lock_and_wait)
    child.start()
    try:
        for _ in range(200):  # until the child holds it (what it holds, a process-shared lock would show)
            threading.Event().wait(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.join(10)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (_tokenize(), done.set()), daemon=True)
    worker.start()
    assert done.wait(CHILD_LIMIT_S), "tokenizing in the parent waits for a lock a killed child held"
    assert tqdm.get_lock() is not None
