"""Embedded backend: one SQLite file in WAL mode, shared safely by many processes.

Every write is a single `BEGIN IMMEDIATE` transaction holding the log insert and all derived
updates, so a crash leaves either both or neither. Readers never block writers (WAL) and see
only committed state; `rebuild` builds the new state beside the live one and swaps it in one commit.

Durability (issue 26): the file runs `synchronous=NORMAL` (WAL): every commit survives a crash of the
process, and a power loss can take the last commits since the WAL was last synced. A search's record is a
side effect of answering it (the answer promises nothing about the count), so searches commit NORMAL: an
fsync per search costs ~10 ms here, a third of a search. Writes the API acknowledges as stored (feedback
202, moderation) commit FULL (`SQLiteFile.write(durable=True)`): fsync'd before the answer, and with them
every earlier commit.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import json
import logging
import random
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from graph.aliases import AliasMap
from graph.events import EdgeStats, FeedbackEvent, SearchEvent, event_from_dict, examination
from graph.infra.sqlitedb import BUSY_TIMEOUT_S, INHERITED_CONNECTIONS, SQLiteFile, connect  # noqa: F401
from graph.store.base import (
    QUERY_KINDS,
    SUMMARY_COUNTERS,
    Intent,
    MatchStore,
    NotServed,
    QueryStat,
    UnknownSearch,
    check_feedback,
    check_search,
    day_of,
    edge_snapshot,
    precheck,
    query_snapshot,
    served_ranks,
    stance_op,
    with_stances,
)
from graph.store.claims import swap_once

log = logging.getLogger(__name__)
_CHUNK = 500  # ids per IN (...) query and events per replay page

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL);
-- index of the log: which search served what, so feedback can be validated and filled
CREATE TABLE IF NOT EXISTS searches (
    search_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, intent_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS search_served (
    search_id TEXT NOT NULL, artifact_id TEXT NOT NULL, rank INTEGER NOT NULL,
    PRIMARY KEY (search_id, artifact_id)) WITHOUT ROWID;
-- derived state (dropped and re-derived by rebuild)
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS artifact_tm (artifact_id TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS capability_tm (capability_id TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS artifact_day (
    artifact_id TEXT NOT NULL, day TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (artifact_id, day)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS artifact_day_by_day ON artifact_day (day);
CREATE TABLE IF NOT EXISTS searches_day (day TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS intents (
    intent_id TEXT PRIMARY KEY, text TEXT NOT NULL, searches INTEGER NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS intents_by_seq ON intents (seq);
CREATE TABLE IF NOT EXISTS artifact_edges (
    intent_id TEXT NOT NULL, artifact_id TEXT NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0, exposure REAL NOT NULL DEFAULT 0.0,
    clicks INTEGER NOT NULL DEFAULT 0, dwell_ms INTEGER NOT NULL DEFAULT 0, dwells INTEGER NOT NULL DEFAULT 0,
    upvotes INTEGER NOT NULL DEFAULT 0, downvotes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (intent_id, artifact_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS capability_edges (
    intent_id TEXT NOT NULL, capability_id TEXT NOT NULL, times INTEGER NOT NULL, max_sim REAL NOT NULL,
    PRIMARY KEY (intent_id, capability_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS query_log (
    query TEXT PRIMARY KEY, searches INTEGER NOT NULL, zero_results INTEGER NOT NULL,
    low_confidence INTEGER NOT NULL, last_ts REAL NOT NULL) WITHOUT ROWID;
-- per-user stance on an intent -> artifact edge (+1 chose, -1 rejected): learning counts users, not events
CREATE TABLE IF NOT EXISTS edge_users (
    intent_id TEXT NOT NULL, artifact_id TEXT NOT NULL, user TEXT NOT NULL, stance INTEGER NOT NULL,
    PRIMARY KEY (intent_id, artifact_id, user)) WITHOUT ROWID;
-- operator moderation: queries kept off public lists; not derived from the log
CREATE TABLE IF NOT EXISTS hidden_queries (query TEXT PRIMARY KEY) WITHOUT ROWID;
-- dedup claims (search.evidence), not derived from the log: kept across rebuilds, expire
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL) WITHOUT ROWID;
-- not derived from the log: written by the scorer, kept across rebuilds
CREATE TABLE IF NOT EXISTS match_scores (artifact_id TEXT PRIMARY KEY, score REAL NOT NULL) WITHOUT ROWID;
"""

_DERIVED = ("counters", "artifact_tm", "capability_tm", "artifact_day", "searches_day", "intents",
            "artifact_edges", "capability_edges", "query_log", "edge_users")
# columns added after the first release: (table, column, declaration); added in place at open
_ADDED_COLUMNS = (("query_log", "filtered_empty", "INTEGER NOT NULL DEFAULT 0"),
                  ("query_log", "users", "INTEGER NOT NULL DEFAULT 0"))
_LOG = ("events", "searches", "search_served")
# a derived table named where SQL writes to it: INSERT INTO t, UPDATE t (never a column, never `DO UPDATE SET`)
_TABLE_AFTER_KEYWORD = re.compile(r"\b((?:INTO|UPDATE|DELETE\s+FROM)\s+)(" + "|".join(_DERIVED) + r")\b")

_FEEDBACK_SQL = {
    "click": "clicks = clicks + 1",
    "dwell": "dwells = dwells + 1, dwell_ms = dwell_ms + ?",
    "upvote": "upvotes = upvotes + 1",
    "downvote": "downvotes = downvotes + 1",
    "unvote": "",  # a withdrawal adds nothing; it takes back the vote it `replaces`
}
_QUERY_ORDER = {"zero_results": "zero_results", "low_confidence": "low_confidence", "top": "searches",
                "filtered_empty": "filtered_empty", "popular": "users"}
_STANCE_SQL = {  # stance_op mode -> upsert of the user's stance
    "set": "INSERT INTO edge_users VALUES (?, ?, ?, ?) ON CONFLICT (intent_id, artifact_id, user) "
           "DO UPDATE SET stance = excluded.stance",
    "nx": "INSERT INTO edge_users VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    "del": "DELETE FROM edge_users WHERE intent_id = ? AND artifact_id = ? AND user = ? AND ? = 0",
}
# the statements recording a search writes (sqlite3 caches a prepared statement per SQL text)
_BUMP_SQL = "INSERT INTO counters (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = n + ?"
_SEARCHES_DAY_SQL = "INSERT INTO searches_day (day, n) VALUES (?, 1) ON CONFLICT (day) DO UPDATE SET n = n + 1"
_INTENT_SQL = ("INSERT INTO intents (intent_id, text, searches, seq) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (intent_id) DO UPDATE SET searches = searches + excluded.searches")
_QUERY_LOG_SQL = ("INSERT INTO query_log (query, searches, zero_results, low_confidence, last_ts, filtered_empty, "
                  "users) VALUES (?, 1, ?, ?, ?, ?, ?) ON CONFLICT (query) DO UPDATE SET searches = searches + 1, "
                  "zero_results = zero_results + excluded.zero_results, "
                  "low_confidence = low_confidence + excluded.low_confidence, "
                  "last_ts = MAX(last_ts, excluded.last_ts), "
                  "filtered_empty = filtered_empty + excluded.filtered_empty, users = users + excluded.users")
_ARTIFACT_TM_SQL = ("INSERT INTO artifact_tm (artifact_id, n) VALUES (?, 1) "
                    "ON CONFLICT (artifact_id) DO UPDATE SET n = n + 1")
_ARTIFACT_DAY_SQL = ("INSERT INTO artifact_day (artifact_id, day, n) VALUES (?, ?, 1) "
                     "ON CONFLICT (artifact_id, day) DO UPDATE SET n = n + 1")
_ARTIFACT_EDGE_SQL = ("INSERT INTO artifact_edges (intent_id, artifact_id, impressions, exposure) "
                      "VALUES (?, ?, 1, ?) ON CONFLICT (intent_id, artifact_id) DO UPDATE SET "
                      "impressions = impressions + 1, exposure = exposure + excluded.exposure")
_CAPABILITY_TM_SQL = ("INSERT INTO capability_tm (capability_id, n) VALUES (?, 1) "
                      "ON CONFLICT (capability_id) DO UPDATE SET n = n + 1")
_CAPABILITY_EDGE_SQL = ("INSERT INTO capability_edges (intent_id, capability_id, times, max_sim) "
                        "VALUES (?, ?, 1, ?) ON CONFLICT (intent_id, capability_id) DO UPDATE SET "
                        "times = times + 1, max_sim = max(max_sim, excluded.max_sim)")
_CLAIM_PRUNE_EVERY = 1000  # about one exchange in this many also deletes expired claims

_QUERY_COLS = "query, searches, zero_results, low_confidence, last_ts, filtered_empty, users"


def _query_stat(row: tuple) -> QueryStat:
    q, s, z, lo, t, fe, u = row
    return QueryStat(q, int(s), int(z), int(lo), float(t), int(fe), int(u))


_SHADOW = "rb_"  # prefix of the tables a rebuild fills beside the live ones
REBUILD_BATCH = 200  # events per rebuild transaction: the longest a recording search waits for the write lock


class _Shadow:
    """A connection whose writes to the derived tables go to their shadows (`rb_<table>`): the same
    `_apply_search` / `_apply_feedback` code fills either."""

    def __init__(self, c: sqlite3.Connection) -> None:
        self.c = c

    def execute(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        return self.c.execute(_shadowed(sql), args)

    def executemany(self, sql: str, rows: Iterable[tuple]) -> sqlite3.Cursor:
        return self.c.executemany(_shadowed(sql), rows)


@functools.lru_cache(maxsize=256)
def _shadowed(sql: str) -> str:
    return _TABLE_AFTER_KEYWORD.sub(lambda m: f"{m.group(1)}{_SHADOW}{m.group(2)}", sql)


def _chunks(items: list[str], n: int = _CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


class SQLiteStore(MatchStore):
    """Match store in one SQLite file; a connection per process, opened lazily (fork-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # WAL + NORMAL: durable across app crashes; one connection per process (graph/infra/sqlitedb.py)
        # checkpoints in a thread of their own: a search's commit never copies the log back (issue 32)
        self.db = SQLiteFile(self.path, _SCHEMA, synchronous="NORMAL", checkpoint_in_background=True)
        with self.db.use() as c:  # create the schema now so configuration errors surface at open
            self._migrate(c)

    # --- connection ------------------------------------------------------------------------
    @staticmethod
    def _migrate(c: sqlite3.Connection) -> None:
        """Add columns a store written by an older version lacks (they start at their defaults)."""
        for table, column, decl in _ADDED_COLUMNS:
            have = {row[1] for row in c.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                try:
                    c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise

    def _tx(self):
        """One write transaction (BEGIN IMMEDIATE ... COMMIT)."""
        return self.db.write()

    def _read(self):
        """A read transaction so multi-statement reads see one consistent snapshot."""
        return self.db.read()

    # --- writing ---------------------------------------------------------------------------
    def record_search(self, event: SearchEvent) -> int:
        check_search(event)
        with self._tx() as c:
            return self._write_search(c, event)

    def record_feedback(self, event: FeedbackEvent) -> int:
        check_feedback(event)
        with self.db.write(durable=True) as c:  # answered 202: on disk first (see the module docstring)
            return self._write_feedback(c, event)

    def record_many(self, events: Sequence[SearchEvent | FeedbackEvent]) -> list[int | Exception]:
        """All events in one transaction (one commit, one write lock); an event that is refused
        (ValueError, UnknownSearch, NotServed) is refused before it writes anything, so the others
        still go in. Any other failure rolls the whole batch back and raises."""
        results = precheck(events)
        if any(r is None for r in results):
            with self.db.write(durable=any(isinstance(ev, FeedbackEvent) for ev in events)) as c:
                for i, ev in enumerate(events):
                    if results[i] is not None:
                        continue
                    try:
                        results[i] = (self._write_search(c, ev) if isinstance(ev, SearchEvent)
                                      else self._write_feedback(c, ev))
                    except (UnknownSearch, NotServed) as exc:
                        results[i] = exc
        return results  # type: ignore[return-value]  # every slot filled above

    def _write_search(self, c: sqlite3.Connection, event: SearchEvent) -> int:
        body = json.dumps(event.to_dict(), ensure_ascii=False)
        seq = c.execute("INSERT INTO events (ts, kind, body) VALUES (?, 'search', ?)",
                        (float(event.ts), body)).lastrowid
        c.execute("INSERT OR REPLACE INTO searches (search_id, seq, intent_id) VALUES (?, ?, ?)",
                  (event.search_id, seq, event.intent_id))
        c.execute("DELETE FROM search_served WHERE search_id = ?", (event.search_id,))
        c.executemany("INSERT INTO search_served (search_id, artifact_id, rank) VALUES (?, ?, ?)",
                      [(event.search_id, a, r) for a, r in served_ranks(event).items()])
        self._apply_search(c, seq, event)
        return seq

    def _write_feedback(self, c: sqlite3.Connection, event: FeedbackEvent) -> int:
        """Validate against the stored search (raising before any write) and record, inside `c`'s transaction."""
        row = c.execute("SELECT intent_id FROM searches WHERE search_id = ?", (event.search_id,)).fetchone()
        if row is None:
            raise UnknownSearch(event.search_id)
        rank = c.execute("SELECT rank FROM search_served WHERE search_id = ? AND artifact_id = ?",
                         (event.search_id, event.artifact_id)).fetchone()
        if rank is None:
            raise NotServed(f"{event.artifact_id} was not served by search {event.search_id}")
        filled = dataclasses.replace(event, intent_id=row[0], rank=rank[0])
        seq = c.execute("INSERT INTO events (ts, kind, body) VALUES (?, 'feedback', ?)",
                        (float(filled.ts), json.dumps(filled.to_dict(), ensure_ascii=False))).lastrowid
        self._apply_feedback(c, filled)
        return seq

    @staticmethod
    def _bump(c: sqlite3.Connection, name: str, by: int = 1) -> None:
        c.execute(_BUMP_SQL, (name, by, by))

    def _apply_search(self, c: sqlite3.Connection, seq: int, ev: SearchEvent) -> None:
        """All derived effects of one search; shared by record_search and rebuild. One statement per table
        (`executemany` over the served artifacts and their capabilities, in the order a row-by-row loop
        wrote them, so every sum is the same): a search touches ~100 rows, and a statement each cost most
        of recording it (issue 32)."""
        day = day_of(ev.ts)
        zero, low, empty = int(ev.zero_results), int(ev.low_confidence), int(ev.filtered_empty)
        evidence = ev.evidence
        c.executemany(_BUMP_SQL, [(name, 1, 1) for name, flag in (
            ("searches", True), ("zero_result_searches", zero), ("low_confidence_searches", low),
            ("filtered_empty_searches", empty), ("preview_searches", ev.preview),
            ("settled_searches", evidence)) if flag])
        c.execute(_SEARCHES_DAY_SQL, (day,))
        c.execute(_INTENT_SQL, (ev.intent_id, ev.query, int(evidence), seq))
        c.execute(_QUERY_LOG_SQL, (ev.query, zero, low, float(ev.ts), empty, int(ev.new_user and evidence)))
        if not evidence:  # logged for analytics only: no Times Matched, edges or exposure
            return
        counted = [s for s in ev.served if s.rank <= ev.k]
        intent = ev.intent_id
        c.executemany(_ARTIFACT_TM_SQL, [(s.artifact_id,) for s in counted])
        c.executemany(_ARTIFACT_DAY_SQL, [(s.artifact_id, day) for s in counted])
        c.executemany(_ARTIFACT_EDGE_SQL, [(intent, s.artifact_id, examination(s.rank)) for s in ev.served])
        c.executemany(_CAPABILITY_TM_SQL, [(cid,) for s in counted for cid, _ in s.capabilities])
        c.executemany(_CAPABILITY_EDGE_SQL, [(intent, cid, float(sim)) for s in ev.served
                                             for cid, sim in s.capabilities])

    def _apply_feedback(self, c: sqlite3.Connection, ev: FeedbackEvent) -> None:
        """Derived effects of one (filled) feedback event; shared by record_feedback and rebuild."""
        if not ev.counted:  # a repeat of this user's click, vote or dwell: logged only
            return
        self._bump(c, "feedback")
        if ev.event == "click":
            self._bump(c, "clicks")
        # feedback on a search that was not evidence (a repeat, a low-confidence search) creates its edge
        c.execute("INSERT INTO artifact_edges (intent_id, artifact_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                  (ev.intent_id, ev.artifact_id))
        args: tuple = (ev.intent_id, ev.artifact_id)
        if ev.event == "dwell":
            args = (int(ev.dwell_ms), *args)
        # a vote replacing this user's opposite vote on the same search and artifact, or an unvote withdrawing it
        sets = [s for s in (_FEEDBACK_SQL[ev.event], ev.replaces and f"{ev.replaces}s = {ev.replaces}s - 1") if s]
        if sets:
            c.execute(f"UPDATE artifact_edges SET {', '.join(sets)} WHERE intent_id = ? AND artifact_id = ?", args)
        mode, stance = stance_op(ev)
        if mode:
            c.execute(_STANCE_SQL[mode], (ev.intent_id, ev.artifact_id, ev.user, stance))

    def exchange(self, key: str, value: str, ttl_s: float, only_if_absent: bool = False) -> str | None:
        now = time.time()
        with self._tx() as c:
            row = c.execute("SELECT value, expires FROM claims WHERE key = ?", (key,)).fetchone()
            previous = row[0] if row is not None and row[1] > now else None
            if previous is None or not only_if_absent:
                c.execute("INSERT OR REPLACE INTO claims (key, value, expires) VALUES (?, ?, ?)",
                          (key, value, now + ttl_s))
            if random.randrange(_CLAIM_PRUNE_EVERY) == 0:
                c.execute("DELETE FROM claims WHERE expires <= ?", (now,))
        return previous

    def exchange_once(self, key: str, value: str, token: str, ttl_s: float) -> str | None:
        now = time.time()
        with self._tx() as c:
            row = c.execute("SELECT value, expires FROM claims WHERE key = ?", (key,)).fetchone()
            answer, stored = swap_once(row[0] if row is not None and row[1] > now else None, value, token)
            if stored is not None:
                c.execute("INSERT OR REPLACE INTO claims (key, value, expires) VALUES (?, ?, ?)",
                          (key, stored, now + ttl_s))
        return answer

    def hide_query(self, query: str, hidden: bool = True) -> None:
        with self.db.write(durable=True) as c:  # an admin write: acknowledged means on disk
            if hidden:
                c.execute("INSERT OR IGNORE INTO hidden_queries (query) VALUES (?)", (query,))
            else:
                c.execute("DELETE FROM hidden_queries WHERE query = ?", (query,))

    def hidden_queries(self) -> set[str]:
        with self._read() as c:
            return {q for (q,) in c.execute("SELECT query FROM hidden_queries")}

    def put_match_scores(self, scores: Mapping[str, float]) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM match_scores")
            c.executemany("INSERT INTO match_scores (artifact_id, score) VALUES (?, ?)",
                          [(a, float(v)) for a, v in scores.items()])

    def rebuild(self, aliases: Mapping[str, str] | None = None) -> None:
        """Re-derive the state beside the live one, then swap (searches keep recording meanwhile).

        The log is replayed into shadow tables (`rb_<table>`) in batches of REBUILD_BATCH events, each its own
        short write transaction, so searches that record wait at most one batch. One last transaction replays
        the events logged meanwhile, drops the live derived tables and renames the shadows over them: readers
        see the old state until that commit and the new one after it, and the write lock is held for the
        catch-up and a few schema edits, not for the replay. (Before: one transaction held the write lock for
        the whole replay; every search waited, 17 s at 60k events, and answered 500 "database is locked" past
        the 30 s busy timeout.) One rebuild at a time per file (a lock file); a rebuild killed half-way
        leaves shadow tables the next one drops. Ids recorded under an alias count for its canonical artifact
        (graph/aliases.py)."""
        with open(self.path.with_name(self.path.name + ".rebuild.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._rebuild_beside(AliasMap(aliases or {}))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _rebuild_beside(self, mapped: AliasMap) -> None:
        started = time.perf_counter()
        with self._tx() as c:
            for table in _DERIVED:
                c.execute(f"DROP TABLE IF EXISTS {_SHADOW}{table}")
                sql = c.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                (table,)).fetchone()[0]
                # the name as stored: `counters`, or `"counters"` once a rename has rewritten it
                c.execute(re.sub(rf'^CREATE TABLE\s+(["`]?){table}\1', f"CREATE TABLE {_SHADOW}{table}", sql))
        last, replayed = 0, 0
        while True:  # the bulk: short transactions, each releasing the write lock
            batch = time.perf_counter()
            with self._tx() as c:
                last, n = self._replay_page(c, last, REBUILD_BATCH, mapped)
            replayed += n
            if n < REBUILD_BATCH:
                break
            # leave the lock free as long as it was held: SQLite's lock is not fair, and a writer polling
            # in its busy handler would otherwise never see it free between two batches
            time.sleep(max(0.01, time.perf_counter() - batch))
        bulk_s = time.perf_counter() - started
        with self._tx() as c:  # the swap: catch up, then rename the shadows over the live tables
            held = time.perf_counter()
            while True:
                last, n = self._replay_page(c, last, _CHUNK, mapped)
                replayed += n
                if not n:
                    break
            for table in _DERIVED:
                c.execute(f"DROP TABLE {table}")
                c.execute(f"ALTER TABLE {_SHADOW}{table} RENAME TO {table}")
            for statement in _SCHEMA.split(";"):
                if "CREATE INDEX" in statement:
                    c.execute(statement)
            held = time.perf_counter() - held
        log.info("rebuild of %s: %d events replayed in %.1f s; the swap held the write lock %.3f s",
                 self.path, replayed, bulk_s, held)

    def _replay_page(self, c: sqlite3.Connection, after: int, limit: int,
                     mapped: AliasMap) -> tuple[int, int]:
        """Apply the log's events after `after` (at most `limit`) to the shadow tables: (last seq, events)."""
        rows = c.execute("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)).fetchall()
        shadow = _Shadow(c)
        for seq, body in rows:
            ev = mapped.map_event(event_from_dict(json.loads(body)))
            if isinstance(ev, SearchEvent):
                self._apply_search(shadow, seq, ev)  # type: ignore[arg-type]  # execute(many) is all it uses
            else:
                self._apply_feedback(shadow, ev)  # type: ignore[arg-type]
        return (rows[-1][0] if rows else after), len(rows)

    def clear(self) -> None:
        with self._tx() as c:
            for table in (*_LOG, *_DERIVED, "match_scores", "claims", "hidden_queries"):
                c.execute(f"DELETE FROM {table}")
            c.execute("DELETE FROM sqlite_sequence WHERE name = 'events'")  # seq restarts at 1

    # --- reading ---------------------------------------------------------------------------
    def get_search(self, search_id: str) -> SearchEvent | None:
        with self._read() as c:
            row = c.execute("SELECT e.body FROM searches s JOIN events e ON e.seq = s.seq "
                            "WHERE s.search_id = ?",
                            (search_id,)).fetchone()
        return None if row is None else SearchEvent.from_dict(json.loads(row[0]))

    def _counts(self, table: str, key: str, ids: Iterable[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(ids))
        out = dict.fromkeys(ids, 0)
        with self._read() as c:
            for part in _chunks(ids):
                marks = ",".join("?" * len(part))
                sql = f"SELECT {key}, n FROM {table} WHERE {key} IN ({marks})"
                out.update(c.execute(sql, part).fetchall())
        return out

    def times_matched(self, artifact_ids: Iterable[str]) -> dict[str, int]:
        return self._counts("artifact_tm", "artifact_id", artifact_ids)

    def capability_times_matched(self, capability_ids: Iterable[str]) -> dict[str, int]:
        return self._counts("capability_tm", "capability_id", capability_ids)

    def top_artifacts(self, limit: int = 10, since: str | None = None) -> list[tuple[str, int]]:
        if limit <= 0:
            return []
        with self._read() as c:
            if since is None:
                rows = c.execute("SELECT artifact_id, n FROM artifact_tm "
                                 "ORDER BY n DESC, artifact_id LIMIT ?", (limit,)).fetchall()
            else:
                rows = c.execute("SELECT artifact_id, SUM(n) AS t FROM artifact_day WHERE day >= ? "
                                 "GROUP BY artifact_id ORDER BY t DESC, artifact_id LIMIT ?",
                                 (since, limit)).fetchall()
        return [(a, int(n)) for a, n in rows]

    def timeline(self, artifact_id: str, since: str | None = None) -> list[tuple[str, int]]:
        with self._read() as c:
            rows = c.execute("SELECT day, n FROM artifact_day WHERE artifact_id = ? AND day >= ? "
                             "ORDER BY day",
                             (artifact_id, since or "")).fetchall()
        return [(d, int(n)) for d, n in rows]

    def searches_per_day(self, since: str | None = None) -> list[tuple[str, int]]:
        with self._read() as c:
            rows = c.execute("SELECT day, n FROM searches_day WHERE day >= ? ORDER BY day",
                             (since or "",)).fetchall()
        return [(d, int(n)) for d, n in rows]

    def queries(self, kind: str, limit: int = 20) -> list[QueryStat]:
        if kind not in QUERY_KINDS:
            raise ValueError(f"unknown query kind {kind!r}; expected one of {QUERY_KINDS}")
        col = _QUERY_ORDER[kind]
        with self._read() as c:
            rows = c.execute(f"SELECT {_QUERY_COLS} FROM query_log "
                             f"WHERE {col} > 0 ORDER BY {col} DESC, query LIMIT ?",
                             (max(limit, 0),)).fetchall()
        return [_query_stat(row) for row in rows]

    def summary(self) -> dict[str, int]:
        with self._read() as c:
            return self._summary(c)

    @staticmethod
    def _summary(c: sqlite3.Connection) -> dict[str, int]:
        counters = dict(c.execute("SELECT name, n FROM counters").fetchall())
        intents = c.execute("SELECT COUNT(*) FROM intents").fetchone()[0]
        matched = c.execute("SELECT COUNT(*) FROM artifact_tm").fetchone()[0]
        out = {k: int(counters.get(k, 0)) for k in SUMMARY_COUNTERS}
        out.update(intents=int(intents), matched_artifacts=int(matched))
        return out

    def intents(self, after_seq: int = 0) -> list[Intent]:
        with self._read() as c:
            rows = c.execute("SELECT intent_id, text, searches, seq FROM intents WHERE seq > ? ORDER BY seq",
                             (after_seq,)).fetchall()
        return [Intent(i, t, int(n), int(s)) for i, t, n, s in rows]

    _EDGE_COLS = "intent_id, artifact_id, impressions, exposure, clicks, dwell_ms, dwells, upvotes, downvotes"

    @staticmethod
    def _edge(row: tuple) -> EdgeStats:
        _, _, imp, expo, clicks, dwell_ms, dwells, up, down = row
        return EdgeStats(int(imp), float(expo), int(clicks), int(dwell_ms), int(dwells), int(up), int(down))

    def intent_edges(self, intent_ids: Iterable[str]) -> dict[str, dict[str, EdgeStats]]:
        out: dict[str, dict[str, EdgeStats]] = {}
        with self._read() as c:
            for part in _chunks(list(dict.fromkeys(intent_ids))):
                marks = ",".join("?" * len(part))
                sql = (f"SELECT {self._EDGE_COLS} FROM artifact_edges WHERE intent_id IN ({marks}) "
                       "ORDER BY intent_id, artifact_id")
                for row in c.execute(sql, part):
                    out.setdefault(row[0], {})[row[1]] = self._edge(row)
                self._add_users(c, out, f"WHERE intent_id IN ({marks})", part)
        return out

    def stance_edges(self, intent_ids: Iterable[str]) -> dict[str, dict[str, EdgeStats]]:
        """One statement: the edges of these intents to artifacts in their `edge_users` (a search's ~30
        neighbour intents hold ~300 edges, of which people took a stance on a few; issue 32)."""
        ids = list(dict.fromkeys(intent_ids))
        if len(ids) > _CHUNK:  # the stances of every chunk decide which edges count: read them all
            return with_stances(self.intent_edges(ids))
        out: dict[str, dict[str, EdgeStats]] = {}
        marks = ",".join("?" * len(ids))
        with self._read() as c:
            sql = (f"SELECT {self._EDGE_COLS} FROM artifact_edges WHERE intent_id IN ({marks}) AND artifact_id IN "
                   f"(SELECT artifact_id FROM edge_users WHERE intent_id IN ({marks})) ORDER BY intent_id, artifact_id")
            for row in c.execute(sql, ids + ids):
                out.setdefault(row[0], {})[row[1]] = self._edge(row)
            if out:
                self._add_users(c, out, f"WHERE intent_id IN ({marks})", ids)
        return out

    @staticmethod
    def _add_users(c: sqlite3.Connection, edges: dict[str, dict[str, EdgeStats]], where: str = "",
                   args: Sequence = ()) -> None:
        for i, a, user, stance in c.execute(f"SELECT intent_id, artifact_id, user, stance FROM edge_users {where} "
                                            "ORDER BY intent_id, artifact_id, user", args):
            edge = edges.get(i, {}).get(a)
            if edge is not None:
                edge.users[user] = int(stance)

    def capability_edges(self) -> Iterator[tuple[str, str, int, float]]:
        with self._read() as c:
            rows = c.execute("SELECT intent_id, capability_id, times, max_sim FROM capability_edges "
                             "ORDER BY intent_id, capability_id").fetchall()
        for i, cid, times, sim in rows:
            yield i, cid, int(times), float(sim)

    def artifact_edges(self) -> Iterator[tuple[str, str, EdgeStats]]:
        yield from ((i, a, e) for i, by in self._all_edges().items() for a, e in by.items())

    def _all_edges(self, c: sqlite3.Connection | None = None) -> dict[str, dict[str, EdgeStats]]:
        if c is None:
            with self._read() as c:
                return self._all_edges(c)
        out: dict[str, dict[str, EdgeStats]] = {}
        for row in c.execute(f"SELECT {self._EDGE_COLS} FROM artifact_edges ORDER BY intent_id, artifact_id"):
            out.setdefault(row[0], {})[row[1]] = self._edge(row)
        self._add_users(c, out)
        return out

    def match_scores(self) -> dict[str, float]:
        with self._read() as c:
            return {a: float(v) for a, v in c.execute("SELECT artifact_id, score FROM match_scores")}

    def events(self, after_seq: int = 0) -> Iterator[tuple[int, SearchEvent | FeedbackEvent]]:
        """Paged so a long log is streamed rather than loaded at once."""
        last = after_seq
        while True:
            with self._read() as c:
                rows = c.execute("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                                 (last, _CHUNK)).fetchall()
            if not rows:
                return
            for seq, body in rows:
                yield int(seq), event_from_dict(json.loads(body))
            last = rows[-1][0]

    def last_seq(self) -> int:
        with self._read() as c:
            row = c.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def snapshot(self) -> dict:
        with self._read() as c:
            tm = {a: int(n) for a, n in c.execute("SELECT artifact_id, n FROM artifact_tm")}
            ctm = {a: int(n) for a, n in c.execute("SELECT capability_id, n FROM capability_tm")}
            days: dict[str, dict[str, int]] = {}
            for a, d, n in c.execute("SELECT artifact_id, day, n FROM artifact_day "
                                     "ORDER BY artifact_id, day"):
                days.setdefault(a, {})[d] = int(n)
            spd = {d: int(n) for d, n in c.execute("SELECT day, n FROM searches_day ORDER BY day")}
            intents = {i: [t, int(n), int(s)] for i, t, n, s in
                       c.execute("SELECT intent_id, text, searches, seq FROM intents ORDER BY seq")}
            aedges = {i: {a: edge_snapshot(e) for a, e in by.items()} for i, by in self._all_edges(c).items()}
            cedges: dict[str, dict[str, list]] = {}
            for i, cid, times, sim in c.execute("SELECT intent_id, capability_id, times, max_sim "
                                                "FROM capability_edges ORDER BY intent_id, capability_id"):
                cedges.setdefault(i, {})[cid] = [int(times), float(sim)]
            queries = {r[0]: query_snapshot(_query_stat(r)) for r in
                       c.execute(f"SELECT {_QUERY_COLS} FROM query_log ORDER BY query")}
            summary = self._summary(c)
        return {"times_matched": tm, "capability_times_matched": ctm, "artifact_days": days,
                "searches_per_day": spd, "intents": intents, "artifact_edges": aedges,
                "capability_edges": cedges, "queries": queries, "summary": summary}

    def ping(self) -> bool:
        try:
            with self._read() as c:
                c.execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    def close(self) -> None:
        self.db.close()
