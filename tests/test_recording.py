"""Recording a served search (issue 32): cheaper on the request path, the same stored state.

`SQLiteStore._apply_search` writes one statement per table (`executemany` over the served artifacts and their
capabilities) where it wrote one per row. These tests keep the previous row-by-row code as the reference and
hold that every table of the match store ends byte for byte the same, through incremental recording and a
rebuild, and that a search's record is committed and visible to another process before `record_search`
returns (feedback from any worker uses its search_id at once).
"""

from __future__ import annotations

import multiprocessing as mp
import random
import sqlite3
from pathlib import Path

import pytest
from conftest import small_engine
from test_stores import T0, random_history

from graph.events import FeedbackEvent, SearchEvent, Served, examination
from graph.store.base import day_of
from graph.store.sqlite import SQLiteStore


class RowByRow(SQLiteStore):
    """The store as it recorded a search before issue 32: one statement per derived row."""

    def _apply_search(self, c: sqlite3.Connection, seq: int, ev: SearchEvent) -> None:
        day = day_of(ev.ts)
        zero, low, empty = int(ev.zero_results), int(ev.low_confidence), int(ev.filtered_empty)
        evidence = ev.evidence
        self._bump(c, "searches")
        for name, flag in (("zero_result_searches", zero), ("low_confidence_searches", low),
                           ("filtered_empty_searches", empty), ("preview_searches", ev.preview),
                           ("settled_searches", evidence)):
            if flag:
                self._bump(c, name)
        c.execute("INSERT INTO searches_day (day, n) VALUES (?, 1) ON CONFLICT (day) DO UPDATE SET n = n + 1",
                  (day,))
        c.execute("INSERT INTO intents (intent_id, text, searches, seq) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT (intent_id) DO UPDATE SET searches = searches + excluded.searches",
                  (ev.intent_id, ev.query, int(evidence), seq))
        c.execute("INSERT INTO query_log (query, searches, zero_results, low_confidence, last_ts, filtered_empty, "
                  "users) VALUES (?, 1, ?, ?, ?, ?, ?) ON CONFLICT (query) DO UPDATE SET searches = searches + 1, "
                  "zero_results = zero_results + excluded.zero_results, "
                  "low_confidence = low_confidence + excluded.low_confidence, "
                  "last_ts = MAX(last_ts, excluded.last_ts), "
                  "filtered_empty = filtered_empty + excluded.filtered_empty, users = users + excluded.users",
                  (ev.query, zero, low, float(ev.ts), empty, int(ev.new_user and evidence)))
        if not evidence:
            return
        for s in ev.served:
            counted = s.rank <= ev.k
            if counted:
                c.execute("INSERT INTO artifact_tm (artifact_id, n) VALUES (?, 1) "
                          "ON CONFLICT (artifact_id) DO UPDATE SET n = n + 1", (s.artifact_id,))
                c.execute("INSERT INTO artifact_day (artifact_id, day, n) VALUES (?, ?, 1) "
                          "ON CONFLICT (artifact_id, day) DO UPDATE SET n = n + 1", (s.artifact_id, day))
            c.execute("INSERT INTO artifact_edges (intent_id, artifact_id, impressions, exposure) "
                      "VALUES (?, ?, 1, ?) ON CONFLICT (intent_id, artifact_id) DO UPDATE SET "
                      "impressions = impressions + 1, exposure = exposure + excluded.exposure",
                      (ev.intent_id, s.artifact_id, examination(s.rank)))
            for cid, sim in s.capabilities:
                if counted:
                    c.execute("INSERT INTO capability_tm (capability_id, n) VALUES (?, 1) "
                              "ON CONFLICT (capability_id) DO UPDATE SET n = n + 1", (cid,))
                c.execute("INSERT INTO capability_edges (intent_id, capability_id, times, max_sim) "
                          "VALUES (?, ?, 1, ?) ON CONFLICT (intent_id, capability_id) DO UPDATE SET "
                          "times = times + 1, max_sim = max(max_sim, excluded.max_sim)",
                          (ev.intent_id, cid, float(sim)))


def tables(path: Path) -> dict[str, list[tuple]]:
    """Every table of a store file, rows in key order (floats compared exactly)."""
    with sqlite3.connect(path) as c:
        names = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {n: sorted(c.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}


def edge_cases() -> list[SearchEvent | FeedbackEvent]:
    """What the random history does not draw: ranks beyond k (served, not counted), a capability served
    under two artifacts of one search, a repeated capability, logged-only searches, and feedback after."""
    caps = (("c#1", 0.5), ("c#2", 0.25))
    served = (Served("a", 1, 0.9, caps), Served("b", 2, 0.8, (("c#1", 0.75),)),
              Served("c", 3, 0.7, (("c#3", 0.1), ("c#3", 0.2))), Served("d", 4, 0.6, caps))
    return [
        SearchEvent("e1", "i-edge", "edge query", T0, served, k=2, top_score=0.9, user="u1", settled=True,
                    new_user=True),
        SearchEvent("e2", "i-edge", "edge query", T0 + 1, served, k=3, top_score=0.9, user="u2", settled=True),
        SearchEvent("e3", "i-edge", "edge query", T0 + 2, served, k=10, top_score=0.9, user="u3", preview=True),
        SearchEvent("e4", "i-other", "zero", T0 + 3, (), k=10),
        SearchEvent("e5", "i-low", "low", T0 + 4, served[:1], k=10, low_confidence=True, user="u4"),
        FeedbackEvent("e1", "c", "click", T0 + 5, user="u1"),
        FeedbackEvent("e2", "d", "upvote", T0 + 6, user="u2"),
    ]


def replay(store: SQLiteStore, seed: int) -> None:
    random_history(store, random.Random(seed), 160)
    for ev in edge_cases():
        (store.record_search if isinstance(ev, SearchEvent) else store.record_feedback)(ev)


def test_one_statement_per_table_stores_what_row_by_row_stored(tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        new, old = SQLiteStore(tmp_path / f"new{seed}.db"), RowByRow(tmp_path / f"old{seed}.db")
        replay(new, seed)
        replay(old, seed)
        assert tables(new.path) == tables(old.path)
        assert sum(len(rows) for rows in tables(new.path).values()) > 100  # the comparison saw real data
        new.rebuild()  # the rebuild's shadow tables go through the same code
        old.rebuild()
        assert tables(new.path) == tables(old.path)
        new.close()
        old.close()


def _feedback_from_another_process(path: str, search_id: str, out) -> None:  # type: ignore[no-untyped-def]
    store = SQLiteStore(path)
    try:
        out.put(store.record_feedback(FeedbackEvent(search_id, "a", "click", T0 + 10, user="u9")))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(repr(exc))
    finally:
        store.close()


def test_a_recorded_search_is_visible_to_another_process_when_record_search_returns(tmp_path: Path) -> None:
    """The search_id of a response is used at once by feedback from any worker: the record is committed
    before `record_search` returns, not queued behind it."""
    store = SQLiteStore(tmp_path / "m.db")
    ctx = mp.get_context("spawn")
    for i in range(3):
        sid = f"visible-{i}"
        store.record_search(SearchEvent(sid, "i1", "q", T0 + i, (Served("a", 1, 0.9, ()),), k=10,
                                        top_score=0.9, user="u9", settled=True))
        out = ctx.Queue()
        proc = ctx.Process(target=_feedback_from_another_process, args=(str(store.path), sid, out))
        proc.start()
        got = out.get(timeout=60)
        proc.join(60)
        assert isinstance(got, int), got  # a sequence number, not UnknownSearch
    assert store.times_matched(["a"]) == {"a": 3}
    store.close()


# --- WAL checkpoints off the request path (graph/infra/walcheckpoint.py) ----------------------------------------
def _wal_threads(name: str = "") -> list:
    """Live checkpointer threads (of files called `name`, when given: other tests' stores may be alive)."""
    import threading

    return [t for t in threading.enumerate() if t.is_alive() and t.name.startswith("wal-checkpoint")
            and (not name or t.name == f"wal-checkpoint {name}")]


def _many(store: SQLiteStore, n: int, prefix: str) -> None:
    served = tuple(Served(f"a{r}", r, 0.9, tuple((f"a{r}#{c}", 0.5) for c in range(2))) for r in range(1, 11))
    for i in range(n):
        store.record_search(SearchEvent(f"{prefix}{i}", f"i{i}", f"q {i}", T0 + i, served, k=10, top_score=0.9,
                                        user=f"u{i}", settled=True))


def test_checkpoints_run_in_a_thread_of_their_own_not_in_a_commit(tmp_path: Path) -> None:
    import time

    from graph.infra import walcheckpoint

    store = SQLiteStore(tmp_path / "own-thread.db")
    _many(store, 200, "s")
    with store.db.use() as c:  # a commit checkpoints by itself only past the backstop
        assert c.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == walcheckpoint.BACKSTOP_PAGES
    deadline = time.monotonic() + 20
    while store.db.checkpointer.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.db.checkpointer.checkpoints > 0  # the log was copied back by the checkpointer
    assert store.times_matched(["a1"]) == {"a1": 200}
    assert len(_wal_threads("own-thread.db")) == 1
    store.close()
    assert not _wal_threads("own-thread.db")  # closing the store stops it
    reopened = SQLiteStore(tmp_path / "own-thread.db")
    assert reopened.times_matched(["a1"]) == {"a1": 200}
    reopened.close()


def test_a_store_dropped_without_close_takes_its_checkpointer_along(tmp_path: Path) -> None:
    import gc
    import time

    store = SQLiteStore(tmp_path / "dropped.db")
    _many(store, 5, "d")
    assert len(_wal_threads("dropped.db")) == 1
    del store
    gc.collect()
    deadline = time.monotonic() + 10
    while _wal_threads("dropped.db") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _wal_threads("dropped.db")


def _child_records(path: str, out) -> None:  # type: ignore[no-untyped-def]
    store = SQLiteStore(path)
    try:
        _many(store, 50, "child")
        out.put((store.times_matched(["a1"])["a1"], len(_wal_threads("forked.db"))))
    finally:
        store.close()


def test_a_child_forked_while_the_checkpointer_runs_records_and_checkpoints_on_its_own(tmp_path: Path) -> None:
    """The parent's checkpointer is busy when the child is forked (a writer keeps it copying): the child
    opens the same file, records and gets a checkpointer of its own, never the parent's connection."""
    import threading

    store = SQLiteStore(tmp_path / "forked.db")
    _many(store, 20, "p")
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            _many(store, 1, f"bg{i}-")
            i += 1

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        ctx = mp.get_context("fork")
        for _ in range(3):
            out = ctx.Queue()
            proc = ctx.Process(target=_child_records, args=(str(store.path), out))
            proc.start()
            counted, threads = out.get(timeout=60)
            proc.join(60)
            assert proc.exitcode == 0
            assert counted >= 70 and threads == 1
    finally:
        stop.set()
        writer.join(30)
    store.close()


@pytest.mark.slow
def test_feedback_from_another_gunicorn_worker_finds_the_search_at_once(embedder, tmp_path: Path) -> None:
    """2 real gunicorn workers: the search is answered by one while the other is frozen, and its feedback,
    sent the moment the answer arrives, by the other while the first is frozen: 202 every time (the record
    is committed and visible before the response), and the clicks are counted exactly."""
    import os
    import signal

    from bench.servers import Gunicorn, call, children

    small_engine(embedder, tmp_path).close()
    server = Gunicorn(tmp_path / "var", workers=2, threads=2)
    try:
        server.wait_ready()
        workers = sorted(children(server.proc.pid))
        assert len(workers) == 2, workers
        for searcher, other in (workers, workers[::-1], workers):
            os.kill(other, signal.SIGSTOP)
            try:
                status, body = call(server.port, "GET", "/v1/search?q=find+and+box+the+objects+in+a+photo&k=3")
            finally:
                os.kill(other, signal.SIGCONT)
            assert status == 200 and body["recorded"], body
            os.kill(searcher, signal.SIGSTOP)
            try:
                status, answer = call(server.port, "POST", "/v1/feedback", {
                    "search_id": body["search_id"], "artifact_id": body["results"][0]["artifact_id"],
                    "event": "click"})
            finally:
                os.kill(searcher, signal.SIGCONT)
            assert status == 202, answer
        summary = call(server.port, "GET", "/v1/analytics/summary")[1]
    finally:
        server.stop()
    assert summary["clicks"] == 3, summary
