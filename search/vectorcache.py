"""A persistent key -> float32 vector cache in SQLite, so a restart never re-embeds unchanged text."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Self

import numpy as np

from graph.infra.sqlitedb import SQLiteFile

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
        # NORMAL: WAL stays consistent; losing a cache row is harmless. One connection per process,
        # fork-safe, one lock (graph/infra/sqlitedb.py).
        # a damaged file is moved aside and the cache starts empty (it is only a cache)
        self.db = SQLiteFile(self.path, _SCHEMA, synchronous="NORMAL", timeout=timeout, recover=self._set_aside)
        with self.db.use():  # the schema now, so a bad path fails at open
            pass

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
        with self.db.use() as conn:
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
        with self.db.write() as conn:  # BEGIN IMMEDIATE: the write lock up front, no deadlock between writers
            conn.executemany("INSERT OR REPLACE INTO vectors (key, dim, vec) VALUES (?, ?, ?)", rows)

    def __len__(self) -> int:
        with self.db.use() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VectorCache({str(self.path)!r})"


class QueryVectors:
    """The vector cache as the query-vector cache's second level when the store is not Redis (issue 32).

    Every recorded search's vector is written here by the worker that served it (`IntentMemory.remember`,
    keyed by `Embedder.cache_key` of the normalised query, the text `encode_query` is given), so a query
    that any worker of the data dir served before, in this run or an earlier one, skips the model: one
    primary-key read (~0.1 ms) instead of a forward pass. `put` writes nothing: recorded searches are
    already written, and a write per unrecorded search would cost more than it saves. Reads that fail are
    misses (it is only a cache)."""

    def __init__(self, embedder) -> None:  # search.embedder.Embedder: its persistent cache, read at each get
        self.embedder = embedder
        self.hits = self.misses = 0

    def get(self, cache_key: str, dim: int) -> np.ndarray | None:
        cache = self.embedder.cache
        if cache is None:
            return None
        try:
            vec = cache.get_many([cache_key]).get(cache_key)
        except Exception as exc:  # noqa: BLE001 - a cache: any failure is a miss
            log.warning("query-vector read from the vector cache failed: %s", exc)
            vec = None
        if vec is None or vec.shape != (dim,):
            self.misses += 1
            return None
        self.hits += 1
        return vec

    def put(self, cache_key: str, vector: np.ndarray) -> None:
        return None

    def close(self) -> None:  # the vector cache is the embedder's, closed with it
        return None
