"""Rate-limit counters in a SQLite file of the data dir, shared by every worker process of the host.

Flask-Limiter keeps its counters per process with `memory://`: with the SQLite match store (no Redis),
N gunicorn workers allowed N times the limit (2 workers let one client through 1,000 requests in 5 s
against 509 for 1). This storage (`matchgraph-sqlite:///<path>`, the default when the store is not
Redis) keeps one fixed-window counter per client and limit in `<data dir>/ratelimits.db`, so a limit is
per client, whichever worker answers. One short write transaction per request (no fsync: a counter lost
in a crash only lets a client through a little early).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from limits.storage import Storage

from graph.sqlitedb import SQLiteFile

SCHEME = "matchgraph-sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL)
WITHOUT ROWID;
"""


def storage_uri(data_dir: str | os.PathLike[str]) -> str:
    return f"{SCHEME}://{Path(data_dir).resolve() / 'ratelimits.db'}"


class SQLiteLimits(Storage):
    """Fixed-window counters (Flask-Limiter's default strategy) in one SQLite table (graph/sqlitedb.py:
    one connection per process, fork-safe)."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **_: object) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.path = Path((uri or "").split("://", 1)[1])
        self.db = SQLiteFile(self.path, _SCHEMA, synchronous="OFF", timeout=5.0)

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with self.db.write() as c:
            row = c.execute("SELECT count, expires FROM counters WHERE key = ?", (key,)).fetchone()
            if row is None or row[1] <= now:
                count = amount
                c.execute("INSERT OR REPLACE INTO counters (key, count, expires) VALUES (?, ?, ?)",
                          (key, count, now + expiry))
                if int(now) % 64 == 0:  # now and then, forget expired windows
                    c.execute("DELETE FROM counters WHERE expires <= ?", (now,))
            else:
                count = row[0] + amount
                c.execute("UPDATE counters SET count = ? WHERE key = ?", (count, key))
        return count

    def get(self, key: str) -> int:
        with self.db.use() as c:
            row = c.execute("SELECT count FROM counters WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        with self.db.use() as c:
            row = c.execute("SELECT expires FROM counters WHERE key = ?", (key,)).fetchone()
        return float(row[0]) if row else time.time()

    def check(self) -> bool:
        try:
            with self.db.use() as c:
                c.execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    def reset(self) -> int | None:
        with self.db.use() as c:
            return c.execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        with self.db.use() as c:
            c.execute("DELETE FROM counters WHERE key = ?", (key,))
