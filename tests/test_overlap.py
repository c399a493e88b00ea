"""Issue 32: a pool thread gathers what needs no hits while the request thread scans the index
(search/overlap.py). Answers are unchanged (tests/test_pipeline_identical.py); these check that the two really
run at once, that a failed scan fails the search, and that the pool works in a forked child (gunicorn)."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from search import overlap
from search.lexical import LexicalIndex


def test_bm25_scores_while_the_index_scans(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan waits until BM25 has scored the query: run one after the other, the search would wait forever
    (here: the scan gives up after 10 s and the search fails)."""
    engine.search("warm up", record=False)  # the match decision probes the index once per view, first
    bm25_done = threading.Event()
    bm25_threads: list[str] = []
    capabilities = engine.view().index
    index_type = type(capabilities)
    real_search, real_scores = index_type.search_numbered, LexicalIndex.scores

    def scan(self, queries, k):
        if self is not capabilities:  # the learned intents' own index
            return real_search(self, queries, k)
        if not bm25_done.wait(10):
            raise AssertionError("BM25 did not score while the index scanned")
        return real_search(self, queries, k)

    def scores(self, query, limit=200):
        out = real_scores(self, query, limit)
        bm25_threads.append(threading.current_thread().name)
        bm25_done.set()
        return out

    monkeypatch.setattr(index_type, "search_numbered", scan)
    monkeypatch.setattr(LexicalIndex, "scores", scores)
    result = engine.search("question answering over passages", record=False)
    assert result.hits
    assert bm25_threads and all(name.startswith("matchgraph-overlap") for name in bm25_threads)


def test_a_failed_scan_fails_the_search(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    capabilities, real_search = engine.view().index, type(engine.view().index).search_numbered

    def broken(self, queries, k):
        if self is not capabilities:
            return real_search(self, queries, k)
        raise RuntimeError("scan failed")

    monkeypatch.setattr(type(engine.view().index), "search_numbered", broken)
    with pytest.raises(RuntimeError, match="scan failed"):
        engine.search("question answering over passages", record=False)


def _in_child(queue) -> None:
    queue.put(overlap.start(sum, [1, 2, 3]).result(timeout=10))


def test_the_pool_works_in_a_forked_child() -> None:
    """A pool made in the parent has no threads in a forked child: the child makes its own."""
    assert overlap.start(threading.current_thread).result(timeout=10) is not threading.current_thread()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_in_child, args=(queue,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert queue.get(timeout=1) == 6
