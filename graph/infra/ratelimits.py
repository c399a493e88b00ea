"""Rate-limit counters in a SQLite file of the data dir, shared by every worker process of the host.

Flask-Limiter keeps its counters per process with `memory://`: with the SQLite match store (no Redis),
N gunicorn workers allowed N times the limit (2 workers let one client through 1,000 requests in 5 s
against 509 for 1). This storage (`matchgraph-sqlite:///<path>`, the default when the store is not
Redis) keeps one fixed-window counter per client and limit in `<data dir>/ratelimits.db`, so a limit is
per client, whichever worker answers. One statement per limit and request (an upsert; no fsync: a counter
lost in a crash only lets a client through a little early).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from limits.storage import Storage

from graph.infra.sqlitedb import SQLiteFile

SCHEME = "matchgraph-sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL)
WITHOUT ROWID;
"""
# a hit: a new window when there is none or it expired, else one more in the current window
_HIT = """
INSERT INTO counters (key, count, expires) VALUES (:key, :amount, :expires)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN counters.expires <= :now THEN excluded.count ELSE counters.count + excluded.count END,
    expires = CASE WHEN counters.expires <= :now THEN excluded.expires ELSE counters.expires END
RETURNING count, expires
"""
JUST_COUNTED_S = 0.25  # how long a thread's own hit answers its next get/get_expiry of the key


def storage_uri(data_dir: str | os.PathLike[str]) -> str:
    return f"{SCHEME}://{Path(data_dir).resolve() / 'ratelimits.db'}"


class SQLiteLimits(Storage):
    """Fixed-window counters (Flask-Limiter's default strategy) in one SQLite table (graph/infra/sqlitedb.py:
    one connection per process, fork-safe)."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **_: object) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.path = Path((uri or "").split("://", 1)[1])
        self.db = SQLiteFile(self.path, _SCHEMA, synchronous="OFF", timeout=5.0)
        self._seen = threading.local()

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """One statement (an upsert that starts a new window when the old one expired); what it returns is
        kept for this thread's next `get`/`get_expiry` of the key, the rate-limit headers of the same
        request, which would otherwise cost two more queries."""
        now = time.time()
        with self.db.use() as c:
            count, expires = c.execute(_HIT, {"key": key, "amount": amount, "now": now,
                                              "expires": now + expiry}).fetchall()[0]
            if int(now) % 64 == 0:  # now and then, forget expired windows
                c.execute("DELETE FROM counters WHERE expires <= ?", (now,))
        seen = getattr(self._seen, "hits", None)
        if seen is None or len(seen) > 16:
            seen = self._seen.hits = {}
        seen[key] = (count, expires, time.monotonic())
        return int(count)

    def _just_counted(self, key: str) -> tuple[int, float] | None:
        hit = getattr(self._seen, "hits", {}).get(key)
        if hit is None or time.monotonic() - hit[2] > JUST_COUNTED_S or hit[1] <= time.time():
            return None
        return hit[0], hit[1]

    def get(self, key: str) -> int:
        seen = self._just_counted(key)
        if seen is not None:
            return seen[0]
        with self.db.use() as c:
            row = c.execute("SELECT count FROM counters WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        seen = self._just_counted(key)
        if seen is not None:
            return seen[1]
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
        self._seen.hits = {}
        with self.db.use() as c:
            return c.execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._seen.hits = {}
        with self.db.use() as c:
            c.execute("DELETE FROM counters WHERE key = ?", (key,))
