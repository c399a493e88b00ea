"""WAL checkpoints from a thread of their own, so the request whose commit crosses SQLite's threshold does not pay.

Why: in WAL mode SQLite copies the log back into the database file (a checkpoint, with an fsync of the log and
of the file under `synchronous=NORMAL`) inside the commit that takes the log past `wal_autocheckpoint` pages
(1,000 by default). Recording a search dirties ~45 pages, so about one search in twenty paid for the others:
measured on the bundled catalog (300 recorded searches, loaded 2-core VM), the commit of a search took p50 0.14
ms but p99 25-50 ms, and a search's recording 1.8-2.9 ms on average against 0.8-1.1 ms with no checkpoints at
all (issue 32, BENCHMARKS.md).

So a file opened with `checkpoint_in_background=True` (graph/infra/sqlitedb.py; the match store) gets, per
process, one daemon thread with its own connection that runs `PRAGMA wal_checkpoint(PASSIVE)` every
`EVERY_S`: passive, it never waits for or blocks a writer or a reader, and what it cannot copy yet (a reader
still on an older snapshot) it copies on a later turn. The request connection's `wal_autocheckpoint` is raised
to `BACKSTOP_PAGES`, so a commit checkpoints by itself only if this thread has fallen that far behind (or is
gone): the log stays bounded either way. Durability is unchanged: a commit is what it was (NORMAL: it
survives a crash of the process), and a checkpoint syncs the log before it copies it.

Fork: the thread's lock is held across fork() (graph/infra/forksafe.py `hold=True`), so no child is forked
while this thread is inside SQLite; in the child the parent's connection is parked, never used or closed,
and the child's first use of the file starts a thread of its own.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from graph.infra.forksafe import reset_after_fork

log = logging.getLogger(__name__)
EVERY_S = 0.25
BACKSTOP_PAGES = 20_000  # ~80 MB of log at 4 KiB pages: where a commit checkpoints by itself after all


class Checkpointer:
    """The background checkpoints of one SQLite file in this process."""

    def __init__(self, path: Path, parked: list[sqlite3.Connection],
                 open_existing: Callable[[Path], sqlite3.Connection]) -> None:
        self.path = path
        self._parked = parked  # where a connection inherited through fork goes (never used or closed there)
        self._open = open_existing  # graph/infra/sqlitedb.py: never creates a file that is gone
        self._lock = threading.Lock()
        reset_after_fork(self, "_lock", hold=True)
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pid = -1
        self.checkpoints = 0  # turns that found frames to copy (tests read it)
        # the SQLiteFile this serves, held weakly: a file object dropped without close() ends the thread
        self.owner: Callable[[], object | None] | None = None

    def start(self) -> None:
        """Start this process's thread if it has none (called when the file's connection is opened)."""
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        self.forget_parent()
        self._pid = os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), daemon=True,
                                        name=f"wal-checkpoint {self.path.name}")
        self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        wal, seen = Path(f"{self.path}-wal"), None
        while not stop.wait(EVERY_S):
            if self.owner is not None and self.owner() is None:  # the file's object is gone, unclosed
                self._close()
                return
            try:
                st = wal.stat()
                now = (st.st_size, st.st_mtime_ns)
            except OSError:
                now = None
            if now is None or now == seen:  # nothing written since the last turn: no SQLite call at all
                continue
            with self._lock:
                if stop.is_set():
                    return
                try:
                    if self._conn is None:
                        self._conn = self._open(self.path)
                    busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames > 0 and copied > 0:
                        self.checkpoints += 1
                    if not busy and copied >= frames:
                        seen = now
                except sqlite3.Error as exc:  # a later turn (or the backstop) does it
                    log.debug("background checkpoint of %s: %s", self.path, exc)

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def forget_parent(self) -> None:
        """In a forked child: the parent's connection parked, no thread (the child starts its own)."""
        if self._pid != -1 and self._pid != os.getpid():
            if self._conn is not None:
                self._parked.append(self._conn)
            self._conn, self._thread, self._pid = None, None, -1

    def stop(self) -> None:
        """Stop this process's thread and close its connection (the file is being closed)."""
        if self._pid != os.getpid():
            self.forget_parent()
            return
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self._close()
        self._thread, self._pid = None, -1
