"""The stages of a search that do not need the index's hits, on a pool thread while the request thread scans.

Why: after the model, the largest piece of a search is FAISS scanning the capability vectors (memory-bound,
one core, ~1-3 ms at 15k-100k capabilities), and FAISS releases the GIL while it scans. BM25, the query's
directions and the evidence of similar past searches need the query (and its vector) but not the scan's
hits, so a pool thread computes them while the request thread scans: on two cores the search waits for the
longer of the two instead of their sum, and does the same work. Answers are unchanged: every stage computes
what it did before, from the same inputs (tests/test_pipeline_identical.py).

Which thread does what matters under the GIL: the thread that starts second needs the GIL to run, and a
thread running Python keeps it for up to the switch interval (5 ms). The request thread submits the Python
work, then enters FAISS within microseconds and lets go of the GIL there, so the pool thread runs at once.
(The other way round, the scan waited for the request thread's Python to block or be preempted: measured
no gain at 15k capabilities.)

The pool is per process (made on first use, and again in a forked child: its threads do not cross fork) and
has a thread per concurrent request a worker serves (`MAX_THREADS`), so concurrent searches never queue
behind each other.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
MAX_THREADS = 8  # searches overlapped at once per process: at least the threads a gunicorn worker serves on

_pool: ThreadPoolExecutor | None = None
_pid = 0
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _pool, _lock
    _pool, _lock = None, threading.Lock()  # the parent's threads are not in the child


os.register_at_fork(after_in_child=_after_fork_in_child)


def _executor() -> ThreadPoolExecutor:
    global _pool, _pid
    pool = _pool
    if pool is not None and _pid == os.getpid():
        return pool
    with _lock:
        if _pool is None or _pid != os.getpid():
            _pool, _pid = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="matchgraph-overlap"), os.getpid()
        return _pool


def start(fn: Callable[..., T], *args: object) -> Future[T]:
    """Run `fn(*args)` on the pool; `.result()` returns its value or raises its exception."""
    return _executor().submit(fn, *args)
