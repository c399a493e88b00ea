"""A persistent key -> float32 vector cache in SQLite, so a restart never re-embeds unchanged text."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Self

import numpy as np

from graph.store.sqlite import INHERITED_CONNECTIONS, connect

log = logging.getLogger(__name__)
_CHUNK = 500  # keys per IN (...) query; well under SQLite's bound-parameter limit
_DTYPE = np.dtype("<f4")  # fixed little-endian so a cache file is portable between machines

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    key TEXT PRIMARY KEY,
    dim INTEGER NOT NULL,
    vec BLOB NOT NULL
) WITHOUT ROWID;
"""


class VectorCache:
    """SQLite table key -> raw float32 bytes; WAL + busy_timeout so several processes can share one file.

    Values are stored with `tobytes()` and read with `frombuffer()`: no pickle, nothing executable on load.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        # A connection must not cross fork(): reopen lazily in a child process.
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self._conn is not None:  # the parent's: closing it here could checkpoint its WAL under it
            INHERITED_CONNECTIONS.append(self._conn)
        # NORMAL: WAL stays consistent; losing a cache row is harmless
        try:
            conn = connect(self.path, _SCHEMA, synchronous="NORMAL", timeout=self._timeout)
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc):
                raise
            self._set_aside(exc)
            conn = connect(self.path, _SCHEMA, synchronous="NORMAL", timeout=self._timeout)
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _set_aside(self, exc: Exception) -> None:
        """A damaged cache file is only a cache: move it (and its WAL) aside and start an empty one; the
        vectors are embedded again as they are needed."""
        stamp = f"damaged-{int(time.time())}-{os.getpid()}"
        log.warning("vector cache %s is unreadable (%s): moved aside to %s.%s, starting an empty cache",
                    self.path, exc, self.path.name, stamp)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}{suffix}", f"{self.path}.{stamp}{suffix}")

    def get_many(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors for the keys that are present; absent or malformed rows are simply misses."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, np.ndarray] = {}
        with self._lock:
            conn = self._connect()
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(f"SELECT key, dim, vec FROM vectors WHERE key IN ({marks})", chunk)
                for key, dim, blob in rows:
                    if dim > 0 and len(blob) == dim * _DTYPE.itemsize:
                        out[key] = np.frombuffer(blob, dtype=_DTYPE).astype(np.float32)
        return out

    def put_many(self, items: Mapping[str, np.ndarray]) -> None:
        """Insert or replace all items in one transaction (one fsync, atomic for concurrent readers)."""
        rows = []
        for key, vec in items.items():
            arr = np.ascontiguousarray(vec, dtype=_DTYPE)
            if arr.ndim != 1 or arr.size == 0:
                raise ValueError(f"cache values must be non-empty 1-D vectors, got {arr.shape} for {key!r}")
            rows.append((key, int(arr.size), arr.tobytes()))
        if not rows:
            return
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")  # take the write lock up front: no deadlock between writers
            try:
                conn.executemany("INSERT OR REPLACE INTO vectors (key, dim, vec) VALUES (?, ?, ?)", rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return int(self._connect().execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VectorCache({str(self.path)!r})"
