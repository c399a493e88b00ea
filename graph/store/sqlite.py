"""Embedded backend: one SQLite file in WAL mode, shared safely by many processes.

Every write is a single `BEGIN IMMEDIATE` transaction holding the log insert and all derived
updates, so a crash leaves either both or neither. Readers never block writers (WAL) and see
only committed state, which also makes `rebuild` (one transaction) invisible until it commits.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from graph.events import EdgeStats, FeedbackEvent, SearchEvent, event_from_dict, examination
from graph.sqlitedb import BUSY_TIMEOUT_S, INHERITED_CONNECTIONS, SQLiteFile, connect  # noqa: F401
from graph.store.base import (
    QUERY_KINDS,
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
    served_ranks,
)

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
-- not derived from the log: written by the scorer, kept across rebuilds
CREATE TABLE IF NOT EXISTS match_scores (artifact_id TEXT PRIMARY KEY, score REAL NOT NULL) WITHOUT ROWID;
"""

_DERIVED = ("counters", "artifact_tm", "capability_tm", "artifact_day", "searches_day", "intents",
            "artifact_edges", "capability_edges", "query_log")
_LOG = ("events", "searches", "search_served")

_FEEDBACK_SQL = {
    "click": "clicks = clicks + 1",
    "dwell": "dwells = dwells + 1, dwell_ms = dwell_ms + ?",
    "upvote": "upvotes = upvotes + 1",
    "downvote": "downvotes = downvotes + 1",
}
_QUERY_ORDER = {"zero_results": "zero_results", "low_confidence": "low_confidence", "top": "searches"}
_SUMMARY_COUNTERS = ("searches", "feedback", "zero_result_searches", "low_confidence_searches", "clicks")

def _chunks(items: list[str], n: int = _CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


class SQLiteStore(MatchStore):
    """Match store in one SQLite file; a connection per process, opened lazily (fork-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # WAL + NORMAL: durable across app crashes; one connection per process (graph/sqlitedb.py)
        self.db = SQLiteFile(self.path, _SCHEMA, synchronous="NORMAL")
        with self.db.use():  # create the schema now so configuration errors surface at open
            pass

    # --- connection ------------------------------------------------------------------------
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
        with self._tx() as c:
            return self._write_feedback(c, event)

    def record_many(self, events: Sequence[SearchEvent | FeedbackEvent]) -> list[int | Exception]:
        """All events in one transaction (one commit, one write lock); an event that is refused
        (ValueError, UnknownSearch, NotServed) is refused before it writes anything, so the others
        still go in. Any other failure rolls the whole batch back and raises."""
        results = precheck(events)
        if any(r is None for r in results):
            with self._tx() as c:
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
        c.execute("INSERT INTO counters (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = n + ?",
                  (name, by, by))

    def _apply_search(self, c: sqlite3.Connection, seq: int, ev: SearchEvent) -> None:
        """All derived effects of one search; shared by record_search and rebuild."""
        day = day_of(ev.ts)
        zero, low = int(ev.zero_results), int(ev.low_confidence)
        self._bump(c, "searches")
        if zero:
            self._bump(c, "zero_result_searches")
        if low:
            self._bump(c, "low_confidence_searches")
        c.execute("INSERT INTO searches_day (day, n) VALUES (?, 1) ON CONFLICT (day) DO UPDATE SET n = n + 1",
                  (day,))
        c.execute("INSERT INTO intents (intent_id, text, searches, seq) VALUES (?, ?, 1, ?) "
                  "ON CONFLICT (intent_id) DO UPDATE SET searches = searches + 1",
                  (ev.intent_id, ev.query, seq))
        c.execute("INSERT INTO query_log (query, searches, zero_results, low_confidence, last_ts) "
                  "VALUES (?, 1, ?, ?, ?) ON CONFLICT (query) DO UPDATE SET searches = searches + 1, "
                  "zero_results = zero_results + excluded.zero_results, "
                  "low_confidence = low_confidence + excluded.low_confidence, last_ts = MAX(last_ts, excluded.last_ts)",
                  (ev.query, zero, low, float(ev.ts)))
        for s in ev.served:
            counted = s.rank <= ev.k
            if counted:
                c.execute("INSERT INTO artifact_tm (artifact_id, n) VALUES (?, 1) "
                          "ON CONFLICT (artifact_id) DO UPDATE SET n = n + 1", (s.artifact_id,))
                c.execute("INSERT INTO artifact_day (artifact_id, day, n) VALUES (?, ?, 1) "
                          "ON CONFLICT (artifact_id, day) DO UPDATE SET n = n + 1", (s.artifact_id, day))
            c.execute("INSERT INTO artifact_edges (intent_id, artifact_id, impressions, exposure) "
                      "VALUES (?, ?, 1, ?) ON CONFLICT (intent_id, artifact_id) DO UPDATE SET "
                      "impressions = impressions + 1, exposure = exposure + excluded.exposure",
                      (ev.intent_id, s.artifact_id, examination(s.rank)))
            for cid, sim in s.capabilities:
                if counted:
                    c.execute("INSERT INTO capability_tm (capability_id, n) VALUES (?, 1) "
                              "ON CONFLICT (capability_id) DO UPDATE SET n = n + 1", (cid,))
                c.execute("INSERT INTO capability_edges (intent_id, capability_id, times, max_sim) "
                          "VALUES (?, ?, 1, ?) ON CONFLICT (intent_id, capability_id) DO UPDATE SET "
                          "times = times + 1, max_sim = max(max_sim, excluded.max_sim)",
                          (ev.intent_id, cid, float(sim)))

    def _apply_feedback(self, c: sqlite3.Connection, ev: FeedbackEvent) -> None:
        """Derived effects of one (filled) feedback event; shared by record_feedback and rebuild."""
        self._bump(c, "feedback")
        if ev.event == "click":
            self._bump(c, "clicks")
        args: tuple = (ev.intent_id, ev.artifact_id)
        if ev.event == "dwell":
            args = (int(ev.dwell_ms), *args)
        c.execute(f"UPDATE artifact_edges SET {_FEEDBACK_SQL[ev.event]} "
                  "WHERE intent_id = ? AND artifact_id = ?", args)

    def put_match_scores(self, scores: Mapping[str, float]) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM match_scores")
            c.executemany("INSERT INTO match_scores (artifact_id, score) VALUES (?, ?)",
                          [(a, float(v)) for a, v in scores.items()])

    def rebuild(self) -> None:
        """Replays the log in one transaction: readers keep the old state until it commits."""
        with self._tx() as c:
            for table in _DERIVED:
                c.execute(f"DELETE FROM {table}")
            last = 0
            while True:
                rows = c.execute("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                                 (last, _CHUNK)).fetchall()
                if not rows:
                    break
                for seq, body in rows:
                    ev = event_from_dict(json.loads(body))
                    if isinstance(ev, SearchEvent):
                        self._apply_search(c, seq, ev)
                    else:
                        self._apply_feedback(c, ev)
                last = rows[-1][0]

    def clear(self) -> None:
        with self._tx() as c:
            for table in (*_LOG, *_DERIVED, "match_scores"):
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
            rows = c.execute(f"SELECT query, searches, zero_results, low_confidence, last_ts FROM query_log "
                             f"WHERE {col} > 0 ORDER BY {col} DESC, query LIMIT ?",
                             (max(limit, 0),)).fetchall()
        return [QueryStat(q, int(s), int(z), int(lo), float(t)) for q, s, z, lo, t in rows]

    def summary(self) -> dict[str, int]:
        with self._read() as c:
            return self._summary(c)

    @staticmethod
    def _summary(c: sqlite3.Connection) -> dict[str, int]:
        counters = dict(c.execute("SELECT name, n FROM counters").fetchall())
        intents = c.execute("SELECT COUNT(*) FROM intents").fetchone()[0]
        matched = c.execute("SELECT COUNT(*) FROM artifact_tm").fetchone()[0]
        out = {k: int(counters.get(k, 0)) for k in _SUMMARY_COUNTERS}
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
        return out

    def capability_edges(self) -> Iterator[tuple[str, str, int, float]]:
        with self._read() as c:
            rows = c.execute("SELECT intent_id, capability_id, times, max_sim FROM capability_edges "
                             "ORDER BY intent_id, capability_id").fetchall()
        for i, cid, times, sim in rows:
            yield i, cid, int(times), float(sim)

    def artifact_edges(self) -> Iterator[tuple[str, str, EdgeStats]]:
        with self._read() as c:
            rows = c.execute(f"SELECT {self._EDGE_COLS} FROM artifact_edges "
                             "ORDER BY intent_id, artifact_id").fetchall()
        for row in rows:
            yield row[0], row[1], self._edge(row)

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
            aedges: dict[str, dict[str, dict]] = {}
            for row in c.execute(f"SELECT {self._EDGE_COLS} FROM artifact_edges "
                                 "ORDER BY intent_id, artifact_id"):
                aedges.setdefault(row[0], {})[row[1]] = edge_snapshot(self._edge(row))
            cedges: dict[str, dict[str, list]] = {}
            for i, cid, times, sim in c.execute("SELECT intent_id, capability_id, times, max_sim "
                                                "FROM capability_edges ORDER BY intent_id, capability_id"):
                cedges.setdefault(i, {})[cid] = [int(times), float(sim)]
            queries = {q: [int(s), int(z), int(lo), float(t)] for q, s, z, lo, t in
                       c.execute("SELECT query, searches, zero_results, low_confidence, last_ts "
                                 "FROM query_log ORDER BY query")}
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
