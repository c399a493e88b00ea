"""Rate-limit counters in a SQLite file of the data dir, shared by every worker process of the host.

Flask-Limiter keeps its counters per process with `memory://`: with the SQLite match store (no Redis),
N gunicorn workers allowed N times the limit (2 workers let one client through 1,000 requests in 5 s
against 509 for 1). This storage (`matchgraph-sqlite:///<path>`, the default when the store is not
Redis) keeps one fixed-window counter per client and limit in `<data dir>/ratelimits.db`, so a limit is
per client, whichever worker answers. An upsert per reconciliation (no fsync: a counter lost in a crash
only lets a client through a little early).

Counting first in the process (issue 32): a hit far below its limit is counted in this process's memory
and added to the shared counter later, in one upsert per key every `SYNC_S` seconds or `SYNC_HITS` hits
(whichever comes first), and never more than a quarter of the room left below `HEADROOM` of the limit as
last read; any other hit (one that opens a window, finds the local view stale, or comes near the limit)
goes to the shared counter at once with the hits held, as before. So a client far
from its limits costs no SQLite write per request, and near a limit every worker counts exactly.
Tolerance: the limit can be exceeded only by hits other workers still hold in memory (fewer than
`SYNC_HITS` each) plus what they counted in the last `SYNC_S` seconds beyond the headroom; a client is
never refused early (a refusal always reads the shared counter). tests/test_durability.py checks both
with real gunicorn workers.
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
SYNC_S = 0.1  # a key's hits held in memory are added to the shared counter at least this often
SYNC_HITS = 16  # ... or once this many are held
HEADROOM = 1 / 8  # within this share of the limit (at least 2 hits), every hit is counted in the shared file


def limit_of(key: str) -> int | None:
    """The limit's amount from a `limits` key (`LIMITER/<client>/<endpoint>/<amount>/<multiples>/<unit>`)."""
    parts = key.rsplit("/", 3)
    return int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else None


class _Local:
    """One key's window as this process sees it: the shared count at the last reconciliation, the hits
    counted here since, and when it was read."""

    __slots__ = ("expires", "pending", "read_at", "shared")

    def __init__(self, shared: int, expires: float, read_at: float) -> None:
        self.shared, self.expires, self.read_at, self.pending = shared, expires, read_at, 0


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
        self._local: dict[str, _Local] = {}
        self._local_lock = threading.Lock()
        self._pid = os.getpid()
        self._swept = time.monotonic()

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Count a hit: in this process's memory when the key's window is known, fresh and far from its
        limit, else in the shared file at once (with the hits held here). Returns the count the limiter
        compares with the limit; it is kept for this thread's next `get`/`get_expiry` of the key, the
        rate-limit headers of the same request, which would otherwise cost two more queries."""
        now, mono = time.time(), time.monotonic()
        local = self._count_here(key, amount, now, mono)
        if local is not None:
            count, expires = local
        else:
            with self._local_lock:
                w = self._local.pop(key, None)
            held = w.pending if w is not None and w.expires > now else 0
            count, expires = self._add(key, expiry, amount + held, now)
            with self._local_lock:
                self._local[key] = _Local(count, expires, mono)
        if mono - self._swept > SYNC_S:
            self.sync()
        seen = getattr(self._seen, "hits", None)
        if seen is None or len(seen) > 16:
            seen = self._seen.hits = {}
        seen[key] = (count, expires, time.monotonic())
        return int(count)

    def _count_here(self, key: str, amount: int, now: float, mono: float) -> tuple[int, float] | None:
        """(count, expires) when the hit may be counted in memory, else None (the shared file's turn)."""
        limit = limit_of(key)
        if limit is None:
            return None
        with self._local_lock:
            if self._pid != os.getpid():  # forked: the parent's held hits are the parent's to add
                self._local, self._pid = {}, os.getpid()
            w = self._local.get(key)
            if w is None or w.expires <= now or mono - w.read_at >= SYNC_S:
                return None
            room = limit - max(2, int(limit * HEADROOM)) - w.shared  # below the headroom, as last read
            # hold at most a quarter of that room: another worker's view of it is as old as ours
            if w.pending + amount >= min(SYNC_HITS, max(1, room // 4)):
                return None
            w.pending += amount
            return w.shared + w.pending, w.expires

    def _add(self, key: str, expiry: float, amount: int, now: float) -> tuple[int, float]:
        """One upsert into the shared counter; returns the window's (count, expires) after it."""
        with self.db.use() as c:
            count, expires = c.execute(_HIT, {"key": key, "amount": amount, "now": now,
                                              "expires": now + expiry}).fetchall()[0]
            if int(now) % 64 == 0:  # now and then, forget expired windows
                c.execute("DELETE FROM counters WHERE expires <= ?", (now,))
        return int(count), float(expires)

    def sync(self) -> None:
        """Add every key's held hits to the shared counters (one transaction) and forget expired windows;
        runs from a hit at most every SYNC_S seconds, so a client that stops leaves nothing held for long."""
        now, mono = time.time(), time.monotonic()
        with self._local_lock:
            self._swept = mono
            held = [(k, w.pending) for k, w in self._local.items() if w.pending and w.expires > now]
            for k in [k for k, w in self._local.items() if w.expires <= now or w.pending]:
                del self._local[k]  # a key read again starts from the shared count
        if not held:
            return
        with self.db.write() as c:  # a live window only: held hits of an expired one are void
            c.executemany("UPDATE counters SET count = count + ? WHERE key = ? AND expires > ?",
                          [(n, k, now) for k, n in held])

    def _just_counted(self, key: str) -> tuple[int, float] | None:
        hit = getattr(self._seen, "hits", {}).get(key)
        if hit is None or time.monotonic() - hit[2] > JUST_COUNTED_S or hit[1] <= time.time():
            return None
        return hit[0], hit[1]

    def get(self, key: str) -> int:
        seen = self._just_counted(key)
        if seen is not None:
            return seen[0]
        with self._local_lock:
            w = self._local.get(key)
            held = w.pending if w is not None and w.expires > time.time() else 0
        with self.db.use() as c:
            row = c.execute("SELECT count FROM counters WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
        return (int(row[0]) if row else 0) + held

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
        with self._local_lock:
            self._local.clear()
        with self.db.use() as c:
            return c.execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._seen.hits = {}
        with self._local_lock:
            self._local.pop(key, None)
        with self.db.use() as c:
            c.execute("DELETE FROM counters WHERE key = ?", (key,))
