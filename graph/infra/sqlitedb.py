"""One SQLite file shared by threads and processes: the one connection helper every SQLite user goes through
(the match store `graph/store/sqlite.py`, the outage spool `graph/store/spool.py`, the vector cache
`search/vectorcache.py`).

The rules, in one place:
- one connection per process per file, opened lazily, in autocommit mode (transactions are explicit);
- WAL, a long busy timeout, the schema created idempotently at open (retried while another process
  switches the file to WAL);
- one lock per file (re-entrant) around every use: a connection is never used by two threads at once;
- fork-safe: the forking thread holds every open file's lock across fork() (graph/infra/forksafe.py: no thread
  is inside SQLite then); `os.register_at_fork` resets the lock in the child and parks the parent's
  connection (never used or closed in the child: closing it could disturb the parent's WAL locks); a pid
  check catches anything forked before this module was imported;
- writes are `BEGIN IMMEDIATE ... COMMIT` (the write lock up front, so a transaction never fails half-way
  on a lock upgrade), rolled back on any exception; multi-statement reads are one `BEGIN ... COMMIT`
  snapshot;
- a file written on the request path may have its WAL checkpointed from a thread of its own
  (`checkpoint_in_background`, the match store: graph/infra/walcheckpoint.py), never inside a commit.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from graph.infra import walcheckpoint
from graph.infra.forksafe import reset_after_fork
from graph.infra.walcheckpoint import Checkpointer

BUSY_TIMEOUT_S = 30.0

# Connections inherited through fork are never used or closed in the child (closing could
# disturb the parent's WAL locks); they are parked here so garbage collection leaves them alone.
INHERITED_CONNECTIONS: list[sqlite3.Connection] = []


def connect(path: str | os.PathLike[str], schema: str, *, synchronous: str = "NORMAL",
            timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A WAL connection in autocommit mode with a long busy timeout and `schema` created.

    Concurrent openers serialise on the write lock; the schema uses IF NOT EXISTS, so it is idempotent.
    Switching to WAL needs a moment alone with the file and SQLite answers "database is locked" at once,
    without waiting, when another process is doing the same (several gunicorn workers starting together):
    the whole open is retried until `timeout`.
    """
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.executescript("BEGIN IMMEDIATE;" + schema + "COMMIT;")
            return conn
        except sqlite3.DatabaseError as exc:  # OperationalError included
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                # "file is not a database" alone does not say which of the data dir's files it is
                raise type(exc)(f"{path}: {exc}") from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            raise


def connect_existing(path: Path) -> sqlite3.Connection:
    """A plain connection to a database that must exist (`mode=rw`: a file that is gone, moved aside as
    damaged or its data dir removed, is never created again); for the background checkpointer."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None,
                           check_same_thread=False)


_OPEN: weakref.WeakSet[SQLiteFile] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for db in list(_OPEN):
        db._forget_parent()


class SQLiteFile:
    """One SQLite file: this process's connection, its lock, and the transaction helpers."""

    def __init__(self, path: str | os.PathLike[str], schema: str, *, synchronous: str = "NORMAL",
                 timeout: float = BUSY_TIMEOUT_S,
                 recover: Callable[[sqlite3.DatabaseError], None] | None = None,
                 checkpoint_in_background: bool = False) -> None:
        """`recover(exc)`, when given, is called once when the file cannot be opened as a database (not for
        "locked"): e.g. a cache moves the damaged file aside; the open is then tried again.
        `checkpoint_in_background`: WAL checkpoints run in a thread of their own, never inside a commit
        (graph/infra/walcheckpoint.py)."""
        self.path = Path(path)
        self.recover = recover
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.synchronous = synchronous
        self.timeout = timeout
        self.lock = threading.RLock()
        # Held by the forking thread across fork(): a thread inside SQLite at that instant holds SQLite's own
        # allocator mutex, which no lock reset can free; the child's first connect would wait on it forever.
        reset_after_fork(self, "lock", hold=True)
        self.checkpointer = (Checkpointer(self.path, INHERITED_CONNECTIONS, connect_existing)
                             if checkpoint_in_background else None)
        if self.checkpointer is not None:
            self.checkpointer.owner = weakref.ref(self)
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        _OPEN.add(self)

    def _forget_parent(self) -> None:
        """In a forked child: a fresh lock, and the parent's connection parked (never used here)."""
        self.lock = threading.RLock()
        if self._conn is not None:
            INHERITED_CONNECTIONS.append(self._conn)
        self._conn, self._pid = None, -1
        if self.checkpointer is not None:
            self.checkpointer.forget_parent()

    def connection(self) -> sqlite3.Connection:
        """This process's connection (hold `lock` while using it); opened, or reopened after fork, here."""
        pid = os.getpid()
        if self._conn is None or self._pid != pid:
            if self._conn is not None:  # forked without the hook (should not happen): same rule
                INHERITED_CONNECTIONS.append(self._conn)
            try:
                self._conn = connect(self.path, self.schema, synchronous=self.synchronous, timeout=self.timeout)
            except sqlite3.DatabaseError as exc:
                if self.recover is None or "locked" in str(exc):
                    raise
                self.recover(exc)
                self._conn = connect(self.path, self.schema, synchronous=self.synchronous, timeout=self.timeout)
            self._pid = pid
            if self.checkpointer is not None:
                self._conn.execute(f"PRAGMA wal_autocheckpoint = {walcheckpoint.BACKSTOP_PAGES}")
                self.checkpointer.start()
        return self._conn

    @contextmanager
    def use(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock, in autocommit mode (single statements)."""
        if self._pid != -1 and self._pid != os.getpid():
            self._forget_parent()
        with self.lock:
            yield self.connection()

    @contextmanager
    def write(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE, COMMIT, or ROLLBACK on any exception. `durable`: this
        commit is fsync'd (synchronous=FULL for it alone), so it, and every commit before it, survives a
        power loss even on a file that runs NORMAL."""
        with self.use() as c:
            if durable and self.synchronous != "FULL":
                c.execute("PRAGMA synchronous = FULL")
                try:
                    yield from self._transaction(c)
                finally:
                    c.execute(f"PRAGMA synchronous = {self.synchronous}")
            else:
                yield from self._transaction(c)

    @staticmethod
    def _transaction(c: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            if c.in_transaction:  # SQLITE_FULL and I/O errors have rolled it back already
                c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction, so multi-statement reads see one consistent snapshot."""
        with self.use() as c:
            c.execute("BEGIN")
            try:
                yield c
            finally:
                if c.in_transaction:
                    c.execute("COMMIT")

    def close(self) -> None:
        """Close this process's connection (a parent's, inherited through fork, is never closed here)."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        with self.lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn, self._pid = None, -1

    def __repr__(self) -> str:
        return f"SQLiteFile({str(self.path)!r})"


os.register_at_fork(after_in_child=_after_fork_in_child)
