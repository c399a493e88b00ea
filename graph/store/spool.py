"""A durable local spool in front of a remote match store, so an outage loses no event.

`SpoolingStore(primary, spool_path)` forwards everything to `primary` (a `RedisStore`). When the
primary does not answer (connection refused or reset, timeout, cluster down, read-only replica,
MISCONF/OOM), a search or feedback event is appended to a local SQLite file instead (WAL,
`synchronous=FULL`: fsync'd before the request is answered, kept in arrival order) and a background
thread replays the spool, oldest first, once the primary answers again. While the spool holds
events, new writes are appended behind them, so the primary receives every host's events in the
order that host saw them (a feedback always after its search). `record_many` does the same for a
batch: one round trip to the primary (`RedisStore.record_many`), or one spool append.

Replay is exactly-once because the primary's writes are idempotent (RedisStore: a search_id or a
feedback identity already recorded is acknowledged and not applied again), so an event whose
first attempt timed out *after* Redis applied it, or a batch replayed again after a crash between
"written to Redis" and "removed from the spool", still counts once.

Feedback is validated against the stored search when the primary answers. During an outage it is
checked against the searches this process recorded recently and the spool (NotServed at once);
feedback on a search nobody here knows is accepted and checked on replay: a search that only
another host has spooled is waited for (the row is parked and retried), and feedback that is still
unknown after `orphan_after` seconds, or names an artifact the search did not serve, moves to the
`rejected` table with a warning in the log (never silently dropped).

Reads on the serving path degrade instead of failing: Times Matched, capability counts and match
scores answer with the last values this process read (0 / empty when never read); intents and
their edges answer empty (no learned bonus during the outage). Analytics reads raise
`StoreUnavailable` (the API answers 503 with Retry-After). Jobs that write back what they read
(`Engine.recompute`) read through `authoritative()`, the primary itself, so a degraded read never
turns into stored scores.

By role (the classes of graph/store/base.py): the spool guards the event log's writes (`EventLog`: it
spools them), degrades the serving reads (`ServingReads`: last-known values), and passes every other read
through to the primary with one rule (`_strict_call`: the primary's answer, or StoreUnavailable).

Several processes (gunicorn workers) may share one spool file: appends are SQLite transactions and
one replayer at a time holds an exclusive `flock` on `<spool>.lock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from graph.dedup import from_spool, is_pending, resolve, to_spool
from graph.events import EdgeStats, FeedbackEvent, SearchEvent
from graph.infra.sqlitedb import SQLiteFile
from graph.store.base import (
    ClaimDeferred,
    Intent,
    MatchStore,
    NotServed,
    StoreUnavailable,
    UnknownSearch,
    check_feedback,
    check_search,
    precheck,
    served_ranks,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

RECENT_SEARCHES = 20_000  # searches remembered per process to validate feedback during an outage
LAST_KNOWN_MAX = 200_000  # cached counts per process (cleared when exceeded)
MAX_ATTEMPTS = 20  # replays of one event failing with an unexpected backend error before it is rejected
PARK_S = 5.0  # retry interval of feedback waiting for a search spooled elsewhere
PROBE_S = 0.5  # while the primary is down, the replayer thread probes it this often (never a request thread)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,                 -- 'search' | 'feedback'
    search_id TEXT NOT NULL,
    body TEXT NOT NULL,                 -- the event as JSON (SearchEvent / FeedbackEvent.to_dict)
    created REAL NOT NULL,              -- wall clock when spooled
    parked INTEGER NOT NULL DEFAULT 0,  -- 1: feedback waiting for a search recorded on another host
    retry_at REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS spool_by_search ON spool (search_id, kind);
CREATE INDEX IF NOT EXISTS spool_ready ON spool (parked, n);
CREATE TABLE IF NOT EXISTS rejected (
    n INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, created REAL NOT NULL,
    rejected_at REAL NOT NULL, reason TEXT NOT NULL);
"""

_UNAVAILABLE_REPLIES = ("MISCONF", "OOM", "LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN",
                        "NOREPLICAS", "BUSY ")


_CONFIG_REPLIES = ("NOAUTH", "WRONGPASS", "NOPERM", "ERR AUTH", "ERR DB INDEX", "ERR INVALID PASSWORD",
                   "ERR UNKNOWN COMMAND", "ERR WRONG NUMBER OF ARGUMENTS FOR 'AUTH'")


def redis_config_error(exc: BaseException) -> bool:
    """True for errors that waiting will not fix: a wrong password or user, missing ACL permissions, a
    database index the server does not have. They are not an outage to spool through silently."""
    import redis.exceptions as rx

    if isinstance(exc, rx.AuthenticationError | rx.AuthorizationError | rx.NoPermissionError):
        return True
    return isinstance(exc, rx.ResponseError) and str(exc).upper().startswith(_CONFIG_REPLIES)


def redis_unavailable(exc: BaseException) -> bool:
    """True for Redis errors that mean "not now" (retry later), False for errors in the request itself
    and for configuration errors (`redis_config_error`)."""
    import redis.exceptions as rx

    if redis_config_error(exc):
        return False
    if isinstance(exc, rx.ConnectionError | rx.TimeoutError | rx.ClusterError | rx.RedisClusterException
                  | rx.ReadOnlyError | rx.TryAgainError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, rx.ResponseError) and str(exc).upper().startswith(_UNAVAILABLE_REPLIES)


class StoreConfigError(RuntimeError):
    """The primary refuses us for a reason waiting will not fix (wrong password, ACL, db index)."""


_SPOOLS: weakref.WeakSet[SpoolingStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """The parent's in-memory lock may have been copied while held: every spool gets a fresh one."""
    for spool in list(_SPOOLS):
        spool._lock = threading.RLock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _strict_call(name: str) -> Callable[..., Any]:
    """A method that forwards to the primary's `name` while it answers and raises StoreUnavailable while
    it does not: every read the spool cannot answer itself (analytics, the log) is this one rule."""

    def call(self: SpoolingStore, *args: Any, **kwargs: Any) -> Any:
        return self._strict(lambda: getattr(self.primary, name)(*args, **kwargs))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = getattr(MatchStore, name).__doc__
    return call


class _SpoolIt(Exception):
    """Internal: the event must go behind an earlier spooled event."""


class SpoolingStore(MatchStore):
    """`primary` when it answers, a local fsync'd spool when it does not; see the module docstring."""

    def __init__(self, primary: MatchStore, spool_path: str | Path, *,
                 unavailable: Callable[[BaseException], bool] = redis_unavailable,
                 retry_interval: float = 1.0, batch: int = 200, orphan_after: float = 3600.0,
                 replay: bool = True, config_error: Callable[[BaseException], bool] = redis_config_error,
                 check: bool = True) -> None:
        self.primary = primary
        self.is_config_error = config_error
        self.config_error = ""  # set when the primary refused us for a configuration reason (see /readyz)
        self.request_probes = 0  # availability probes run on a thread other than the replayer (should stay 0)
        self.spool_path = Path(spool_path)
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        self.is_unavailable = unavailable
        self.retry_interval = float(retry_interval)
        self.batch = int(batch)
        self.orphan_after = float(orphan_after)
        self.replay_enabled = replay
        # FULL: an acknowledged event is on disk; one connection per process (graph/infra/sqlitedb.py)
        self.db = SQLiteFile(self.spool_path, _SCHEMA, synchronous="FULL")
        self._lock = threading.RLock()  # guards the in-memory state below (the file has its own lock)
        _SPOOLS.add(self)  # a forked child gets a fresh lock (see _after_fork_in_child)
        self._thread: threading.Thread | None = None
        self._thread_pid = -1
        self._stop = threading.Event()
        self._down = False
        self._down_reason = ""
        self._probed_at = 0.0
        self._recent: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._tm: dict[str, int] = {}
        self._ctm: dict[str, int] = {}
        self._scores: dict[str, float] = {}
        self._artifact_edges: list[tuple[str, str, EdgeStats]] = []
        self._hidden: set[str] = set()
        self.replayed = 0  # events this process moved from the spool into the primary
        with self.db.use():  # schema now, so a bad path fails at open
            pass
        if check:
            self._check_config()
        if self._ready_rows():
            log.warning("match-store spool %s holds events from an earlier run: replaying them",
                        self.spool_path)
        self._ensure_thread()

    # --- the spool file --------------------------------------------------------------------------
    def _sql(self, fn: Callable[[sqlite3.Connection], T], write: bool = False) -> T:
        """Run `fn` on the spool file (in one BEGIN IMMEDIATE transaction when `write`); a SQLite failure
        is a StoreUnavailable."""
        try:
            with (self.db.write() if write else self.db.use()) as c:
                return fn(c)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"match-store spool {self.spool_path} failed: {exc}") from exc

    def _append(self, kind: str, event: SearchEvent | FeedbackEvent) -> None:
        self._append_many([event])

    def _append_many(self, events: list[SearchEvent | FeedbackEvent]) -> None:
        """Spool events in order, in one transaction (one fsync)."""
        now = time.time()
        rows = [("search" if isinstance(ev, SearchEvent) else "feedback", ev.search_id,
                 json.dumps(to_spool(ev), ensure_ascii=False), now) for ev in events]
        self._sql(lambda c: c.executemany("INSERT INTO spool (kind, search_id, body, created) VALUES (?, ?, ?, ?)",
                                          rows), write=True)

    def _pending(self) -> bool:
        """Spooled events not yet replayed (parked feedback aside): new writes must queue behind them."""
        return bool(self._sql(lambda c: c.execute(
            "SELECT EXISTS (SELECT 1 FROM spool WHERE parked = 0)").fetchone()[0]))

    def _ready_rows(self) -> bool:
        now = time.time()
        return bool(self._sql(lambda c: c.execute(
            "SELECT EXISTS (SELECT 1 FROM spool WHERE parked = 0 OR retry_at <= ?)", (now,)).fetchone()[0]))

    def _spooled_search(self, search_id: str) -> SearchEvent | None:
        row = self._sql(lambda c: c.execute(
            "SELECT body FROM spool WHERE search_id = ? AND kind = 'search' ORDER BY n LIMIT 1",
            (search_id,)).fetchone())
        return SearchEvent.from_dict(json.loads(row[0])) if row else None

    def status(self) -> dict[str, Any]:
        """For /readyz and operators: is the primary up, and what waits in the spool."""
        rows = self._sql(lambda c: c.execute(
            "SELECT (SELECT COUNT(*) FROM spool WHERE parked = 0), (SELECT COUNT(*) FROM spool WHERE parked = 1), "
            "(SELECT COUNT(*) FROM rejected)").fetchone())
        out = {"primary": not self._down, "spooled": int(rows[0]), "parked": int(rows[1]),
               "rejected": int(rows[2]), "replayed": self.replayed, "request_probes": self.request_probes}
        if self.config_error:
            out["error"] = self.config_error
        return out

    def rejected(self) -> list[tuple[str, dict, str]]:
        """(kind, event dict, reason) of events the primary refused on replay, oldest first."""
        rows = self._sql(lambda c: c.execute("SELECT kind, body, reason FROM rejected ORDER BY n").fetchall())
        return [(k, json.loads(b), r) for k, b, r in rows]

    # --- availability ----------------------------------------------------------------------------
    def _check_config(self) -> None:
        """At open: a wrong password, missing permission or bad db index is fatal (StoreConfigError), not
        an outage to spool through forever. An unreachable primary is fine: the spool takes writes."""
        try:
            self._ping_primary()
        except Exception as exc:
            if self.is_config_error(exc):
                raise StoreConfigError(f"match store refused the connection: {type(exc).__name__}: {exc} "
                                       "(check the password, user, ACL and db index in the store URL)") from exc

    def _is_down(self) -> bool:
        """The circuit: while down, the primary is not called at all; the replayer thread probes it every
        `PROBE_S` (never a request thread, so no request waits for a probe of a hung Redis). A hung Redis
        costs the requests already talking to it at most one socket timeout (1 s, not retried)."""
        return self._down

    def _mark_down(self, exc: BaseException) -> None:
        self._probed_at = time.monotonic()
        if not self._down:
            self._down_reason = f"{type(exc).__name__}: {exc}"
            log.warning("match store unavailable (%s): spooling writes to %s and serving last-known counts",
                        self._down_reason, self.spool_path)
        self._down = True

    def _try(self, fn: Callable[[], T]) -> T:
        """Call the primary; an outage becomes `_down` and re-raises as StoreUnavailable. A configuration
        error (wrong password after a rotation, say) is recorded for /readyz and also spools the write:
        nothing acknowledged is lost while an operator fixes it."""
        try:
            return fn()
        except Exception as exc:
            if self.is_config_error(exc):
                if not self.config_error:
                    log.error("match store refuses this client (%s: %s): /readyz answers 503 until it is fixed",
                              type(exc).__name__, exc)
                self.config_error = f"{type(exc).__name__}: {exc}"
            elif not self.is_unavailable(exc):
                raise
            self._mark_down(exc)
            raise StoreUnavailable(f"match store unavailable: {type(exc).__name__}: {exc}") from exc

    def _strict(self, fn: Callable[[], T]) -> T:
        self._ensure_thread()
        if self._is_down():
            raise StoreUnavailable(f"match store unavailable ({self._down_reason}); retry shortly")
        return self._try(fn)

    def _degraded(self, fn: Callable[[], T], fallback: Callable[[], T]) -> T:
        self._ensure_thread()
        if self._is_down():
            return fallback()
        try:
            return self._try(fn)
        except StoreUnavailable:
            return fallback()

    def _ping_primary(self) -> None:
        """Raise when the primary does not answer (with its own exception when it can say why)."""
        check = getattr(self.primary, "check", None)
        if check is not None:
            check()
        elif not self.primary.ping():
            raise ConnectionError("the match store did not answer a ping")

    def _probe(self) -> bool:
        if threading.current_thread() is not self._thread:
            self.request_probes += 1
        try:
            self._ping_primary()
        except Exception as exc:
            if self.is_config_error(exc):
                self.config_error = f"{type(exc).__name__}: {exc}"
            return False
        self.config_error = ""
        return True

    # --- writing ---------------------------------------------------------------------------------
    def record_search(self, event: SearchEvent) -> int:
        check_search(event)
        self._ensure_thread()
        with self._lock:
            self._recent[event.search_id] = frozenset(served_ranks(event))
            while len(self._recent) > RECENT_SEARCHES:
                self._recent.popitem(last=False)
        if not self._is_down() and not self._pending():
            with contextlib.suppress(StoreUnavailable):
                return self._try(lambda: self.primary.record_search(resolve(self.primary, event)))
        self._append("search", event)
        return 0

    def record_feedback(self, event: FeedbackEvent) -> int:
        check_feedback(event)
        self._ensure_thread()
        if not self._is_down() and not self._pending():
            with contextlib.suppress(StoreUnavailable, _SpoolIt):
                return self._try(lambda: self._feedback_direct(resolve(self.primary, event)))
        self._check_locally(event)
        self._append("feedback", event)
        return 0

    def record_many(self, events: Sequence[SearchEvent | FeedbackEvent]) -> list[int | Exception]:
        """The primary's `record_many` (one round trip) when it answers and nothing waits in the spool;
        else one append to the spool. Per event the same outcome as recording it alone: its sequence
        number (0 when spooled), or UnknownSearch / NotServed / ValueError."""
        events = list(events)
        results = precheck(events)
        self._ensure_thread()
        with self._lock:
            for ev, res in zip(events, results, strict=True):
                if res is None and isinstance(ev, SearchEvent):
                    self._recent[ev.search_id] = frozenset(served_ranks(ev))
            while len(self._recent) > RECENT_SEARCHES:
                self._recent.popitem(last=False)
        todo = [i for i, r in enumerate(results) if r is None]
        if todo and not self._is_down() and not self._pending():
            todo = self._many_direct(events, todo, results)
        for i in todo:  # the spool takes these, checked locally as far as this process can
            ev = events[i]
            if isinstance(ev, FeedbackEvent):
                try:
                    self._check_locally(ev)
                except NotServed as exc:
                    results[i] = exc
                    continue
            results[i] = 0
        spooled = [events[i] for i in todo if results[i] == 0]
        if spooled:
            self._append_many(spooled)
        return results  # type: ignore[return-value]  # every slot filled above

    def _many_direct(self, events: list[SearchEvent | FeedbackEvent], todo: list[int],
                     results: list[int | Exception | None]) -> list[int]:
        """Send `todo` to the primary, filling `results`; returns the indexes the spool must take: all of
        them when the primary is unreachable (its writes are idempotent, so any it applied count once),
        feedback whose search still waits in the spool (here or in this batch), and events the primary
        answered with an outage reply."""
        try:
            sent = self._try(lambda: [resolve(self.primary, events[i]) for i in todo])
            got = self._try(lambda: self.primary.record_many(sent))
        except StoreUnavailable:
            return todo
        spool: list[int] = []
        spooled_sids: set[str] = set()
        unknown: list[int] = []
        for i, res in zip(todo, got, strict=True):
            ev = events[i]
            if isinstance(res, UnknownSearch):
                if ev.search_id in spooled_sids or self._spooled_search(ev.search_id) is not None:
                    spool.append(i)  # its search is still queued: queue behind it
                else:
                    unknown.append(i)
            elif isinstance(res, Exception) and self.is_unavailable(res):
                self._mark_down(res)
                spool.append(i)
                if isinstance(ev, SearchEvent):
                    spooled_sids.add(ev.search_id)
            else:
                results[i] = res
        if unknown:  # replayed from the spool meanwhile, or truly unknown: ask once more
            try:
                again = self._try(lambda: self.primary.record_many([resolve(self.primary, events[i])
                                                                    for i in unknown]))
            except StoreUnavailable:
                return sorted(spool + unknown)
            for i, res in zip(unknown, again, strict=True):
                if isinstance(res, Exception) and self.is_unavailable(res):
                    self._mark_down(res)
                    spool.append(i)
                else:
                    results[i] = res
        return sorted(spool)

    def _feedback_direct(self, event: FeedbackEvent) -> int:
        try:
            return self.primary.record_feedback(event)
        except UnknownSearch:
            if self._spooled_search(event.search_id) is not None:
                raise _SpoolIt from None  # its search is still queued here: queue behind it
            return self.primary.record_feedback(event)  # replayed meanwhile, or truly unknown

    def _check_locally(self, event: FeedbackEvent) -> None:
        """NotServed now when this process knows the search; otherwise the replay checks it."""
        with self._lock:
            served = self._recent.get(event.search_id)
        if served is None:
            spooled = self._spooled_search(event.search_id)
            served = frozenset(served_ranks(spooled)) if spooled else None
        if served is not None and event.artifact_id not in served:
            raise NotServed(f"{event.artifact_id} was not served by search {event.search_id}")

    def exchange(self, key: str, value: str, ttl_s: float, only_if_absent: bool = False) -> str | None:
        """The primary's; during an outage `ClaimDeferred`: the claim travels with its event into the spool
        and is made on replay (graph/dedup.py), so an outage neither adds counts nor loses any. (A table per
        process used to stand in here: a repeat then counted again, +5 to 7% Times Matched in an outage.)"""
        try:
            return self._strict(lambda: self.primary.exchange(key, value, ttl_s, only_if_absent))
        except StoreUnavailable as exc:
            raise ClaimDeferred(str(exc)) from exc

    def exchange_once(self, key: str, value: str, token: str, ttl_s: float) -> str | None:
        """The primary's; during an outage `ClaimDeferred`, as `exchange`."""
        try:
            return self._strict(lambda: self.primary.exchange_once(key, value, token, ttl_s))
        except StoreUnavailable as exc:
            raise ClaimDeferred(str(exc)) from exc

    def hide_query(self, query: str, hidden: bool = True) -> None:
        self._strict(lambda: self.primary.hide_query(query, hidden))

    def hidden_queries(self) -> set[str]:
        got = self._degraded(self.primary.hidden_queries, lambda: set(self._hidden))
        self._hidden = set(got)
        return got

    def put_match_scores(self, scores: Mapping[str, float]) -> None:
        self._strict(lambda: self.primary.put_match_scores(scores))
        self._scores = dict(scores)

    def rebuild(self, aliases: Mapping[str, str] | None = None) -> None:
        self.flush()
        self._strict(lambda: self.primary.rebuild(aliases))

    def clear(self) -> None:
        self._try(self.primary.clear)
        self._sql(lambda c: (c.execute("DELETE FROM spool"), c.execute("DELETE FROM rejected")), write=True)
        with self._lock:
            self._recent.clear()
        self._tm, self._ctm, self._scores, self._artifact_edges = {}, {}, {}, []

    # --- replay ----------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if not self.replay_enabled:
            return
        pid = os.getpid()
        if self._thread_pid == pid and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread_pid == pid and self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="match-spool-replayer",
                                            daemon=True)
            self._thread_pid = pid
            self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(min(self.retry_interval, PROBE_S) if self._down else self.retry_interval):
            try:
                self.flush()
            except Exception:  # keep the replayer alive whatever happens; the next round retries
                log.exception("match-store spool replay failed; retrying in %.1fs", self.retry_interval)

    @contextlib.contextmanager
    def _replay_lock(self) -> Iterator[bool]:
        """One replayer per spool file across processes (non-blocking: others simply skip a round)."""
        with open(self.spool_path.with_name(self.spool_path.name + ".lock"), "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def flush(self) -> int:
        """Replay the spool into the primary, oldest first; returns how many events left it.

        Called by the background thread every `retry_interval`; tests and `rebuild` call it directly."""
        if not self._ready_rows():
            if self._down and self._probe():
                log.warning("match store is back (spool empty): writing to it directly again")
                self._down = False
            return 0
        if not self._probe():
            self._down = True
            return 0
        done = 0
        with self._replay_lock() as mine:
            if not mine:
                return 0
            while True:
                now = time.time()
                rows = self._sql(lambda c, now=now: c.execute(
                    "SELECT n, kind, body, created, attempts FROM spool WHERE parked = 0 OR retry_at <= ? "
                    "ORDER BY n LIMIT ?", (now, self.batch)).fetchall())
                if not rows:
                    break
                finished, parked, rejected, failed, stop = self._replay_rows(rows)
                self._settle(finished, parked, rejected, failed)
                done += len(finished)
                self.replayed += len(finished)
                if stop:
                    break
        if done:
            left = self.status()
            log.warning("match store: replayed %d spooled events (%d still spooled, %d parked, %d rejected)",
                        done, left["spooled"], left["parked"], left["rejected"])
        if not self._pending():
            self._down = False
        return done

    def _send(self, events: list[SearchEvent | FeedbackEvent]) -> list[int | Exception]:
        """Results per event, in order; shorter than `events` when the primary went away part way.
        One round trip per batch when the primary offers `record_many` (RedisStore does)."""
        many = getattr(self.primary, "record_many", None)
        if many is not None:
            try:
                return list(many(events))
            except Exception as exc:
                if not self.is_unavailable(exc):
                    raise
                self._mark_down(exc)
                return []
        out: list[int | Exception] = []
        for ev in events:
            try:
                out.append(self.primary.record_search(ev) if isinstance(ev, SearchEvent)
                           else self.primary.record_feedback(ev))
            except Exception as exc:
                if self.is_unavailable(exc):
                    self._mark_down(exc)
                    break
                out.append(exc)
        return out

    def _resolve_claims(self, events: list[SearchEvent | FeedbackEvent]) -> list[SearchEvent | FeedbackEvent]:
        """Make the claims of pending events on the primary, in log order (graph/dedup.py); shorter than
        `events` when the primary went away part way (claims are idempotent: the next round redoes them)."""
        out: list[SearchEvent | FeedbackEvent] = []
        for ev in events:
            if is_pending(ev):
                try:
                    ev = resolve(self.primary, ev)
                except Exception as exc:
                    if not self.is_unavailable(exc):
                        raise
                    self._mark_down(exc)
                    break
            out.append(ev)
        return out

    def _replay_rows(self, rows: list[tuple]) -> tuple[list[int], list[int], list[tuple], list[tuple], bool]:
        events = self._resolve_claims([from_spool(json.loads(body)) for _, _, body, _, _ in rows])
        results = self._send(events) if events else []
        finished: list[int] = []
        parked: list[int] = []
        rejected: list[tuple[int, str]] = []
        failed: list[tuple[int, str]] = []
        for (n, _, _, created, attempts), event, result in zip(rows, events, results, strict=False):
            if not isinstance(result, Exception):
                finished.append(n)
            elif isinstance(result, UnknownSearch):
                if time.time() - created > self.orphan_after:
                    rejected.append((n, f"unknown search {event.search_id!r} after {self.orphan_after:.0f}s"))
                else:
                    parked.append(n)
            elif isinstance(result, NotServed | ValueError):
                rejected.append((n, f"{type(result).__name__}: {result}"))
            elif self.is_unavailable(result):  # e.g. MISCONF / READONLY as a reply inside a pipeline
                self._mark_down(result)
                return finished, parked, rejected, failed, True
            else:
                reason = f"{type(result).__name__}: {result}"
                if attempts + 1 >= MAX_ATTEMPTS:
                    rejected.append((n, reason))
                else:
                    log.warning("match store refused spooled event %d (%s); will retry", n, reason)
                    failed.append((n, reason))
        return finished, parked, rejected, failed, len(results) < len(rows) or bool(failed)

    def _settle(self, finished: list[int], parked: list[int], rejected: list[tuple[int, str]],
                failed: list[tuple[int, str]]) -> None:
        now = time.time()
        for n, reason in rejected:
            log.warning("match store rejected spooled event %d for good (%s): kept in the spool's "
                        "'rejected' table", n, reason)

        def tx(c: sqlite3.Connection) -> None:
            c.executemany("DELETE FROM spool WHERE n = ?", [(n,) for n in finished])
            c.executemany("UPDATE spool SET parked = 1, retry_at = ?, attempts = attempts + 1 WHERE n = ?",
                          [(now + PARK_S, n) for n in parked])
            c.executemany("UPDATE spool SET attempts = attempts + 1, last_error = ? WHERE n = ?",
                          [(reason, n) for n, reason in failed])
            for n, reason in rejected:
                c.execute("INSERT OR REPLACE INTO rejected (n, kind, body, created, rejected_at, reason) "
                          "SELECT n, kind, body, created, ?, ? FROM spool WHERE n = ?", (now, reason, n))
                c.execute("DELETE FROM spool WHERE n = ?", (n,))

        if finished or parked or rejected or failed:
            self._sql(tx, write=True)

    # --- reading: the serving path degrades -------------------------------------------------------
    def times_matched(self, artifact_ids: Iterable[str]) -> dict[str, int]:
        ids = list(artifact_ids)
        got = self._degraded(lambda: self.primary.times_matched(ids),
                             lambda: {a: self._tm.get(a, 0) for a in dict.fromkeys(ids)})
        self._remember(self._tm, got)
        return got

    def capability_times_matched(self, capability_ids: Iterable[str]) -> dict[str, int]:
        ids = list(capability_ids)
        got = self._degraded(lambda: self.primary.capability_times_matched(ids),
                             lambda: {c: self._ctm.get(c, 0) for c in dict.fromkeys(ids)})
        self._remember(self._ctm, got)
        return got

    @staticmethod
    def _remember(cache: dict[str, int], values: dict[str, int]) -> None:
        if len(cache) > LAST_KNOWN_MAX:
            cache.clear()
        cache.update(values)

    def match_scores(self) -> dict[str, float]:
        got = self._degraded(self.primary.match_scores, lambda: dict(self._scores))
        self._scores = got
        return dict(got)

    def intents(self, after_seq: int = 0) -> list[Intent]:
        return self._degraded(lambda: self.primary.intents(after_seq), list)

    def intents_since(self, cursor: tuple[int, ...] | None = None
                      ) -> tuple[list[Intent], tuple[int, ...] | None]:
        return self._degraded(lambda: self.primary.intents_since(cursor), lambda: ([], cursor))

    def put_intent_vectors(self, vectors: Mapping[str, np.ndarray]) -> None:
        """Best effort: a vector not stored is embedded again by the hosts that need it."""
        self._degraded(lambda: self.primary.put_intent_vectors(vectors), lambda: None)

    def intent_vectors(self, intent_ids: Iterable[str]) -> dict[str, np.ndarray]:
        ids = list(intent_ids)
        return self._degraded(lambda: self.primary.intent_vectors(ids), dict)


    def intent_edges(self, intent_ids: Iterable[str]) -> dict[str, dict[str, EdgeStats]]:
        ids = list(intent_ids)
        return self._degraded(lambda: self.primary.intent_edges(ids), dict)

    def stance_edges(self, intent_ids: Iterable[str]) -> dict[str, dict[str, EdgeStats]]:
        ids = list(intent_ids)
        return self._degraded(lambda: self.primary.stance_edges(ids), dict)

    def artifact_edges(self) -> Iterator[tuple[str, str, EdgeStats]]:
        edges = self._degraded(lambda: list(self.primary.artifact_edges()), lambda: self._artifact_edges)
        self._artifact_edges = edges
        return iter(edges)

    def get_search(self, search_id: str) -> SearchEvent | None:
        try:
            found = self._strict(lambda: self.primary.get_search(search_id))
        except StoreUnavailable:
            found = None
            if self._spooled_search(search_id) is None:
                raise
        return found or self._spooled_search(search_id)

    # --- reading: analytics and maintenance need the primary (no fallback: StoreUnavailable) --------
    def capability_edges(self) -> Iterator[tuple[str, str, int, float]]:
        return iter(self._strict(lambda: list(self.primary.capability_edges())))

    # analytics reads, the log's reads (spooled events join the primary's log when replayed), snapshot
    top_artifacts = _strict_call("top_artifacts")
    timeline = _strict_call("timeline")
    searches_per_day = _strict_call("searches_per_day")
    queries = _strict_call("queries")
    summary = _strict_call("summary")
    events = _strict_call("events")
    last_seq = _strict_call("last_seq")
    snapshot = _strict_call("snapshot")
    compact = _strict_call("compact")

    def history_epoch(self) -> str:
        return self._strict(self.primary.history_epoch)

    def restore_archive(self) -> int:
        self.flush()
        return self._strict(self.primary.restore_archive)

    def authoritative(self) -> MatchStore:
        return self.primary

    def ping(self) -> bool:
        """Ready while writes are safe: the primary answers, or the spool takes them. Not ready while the
        primary refuses us for a configuration reason (the reason is in `status()["error"]`). Never probes
        a primary known to be down (a hung Redis would hold the health check for seconds)."""
        if self.config_error:
            return False
        if not self._down:
            try:
                self._try(self._ping_primary)
                return True
            except StoreUnavailable:
                if self.config_error:
                    return False
        try:
            self._sql(lambda c: c.execute("SELECT 1").fetchone())
            return True
        except StoreUnavailable:
            return False

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and self._thread_pid == os.getpid():
            thread.join(timeout=5)
        self._thread = None
        self.db.close()
        self.primary.close()
