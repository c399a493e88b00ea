"""Serve without recording when the match store's file cannot be written or read: a full disk or a damaged
`matches.db` must not turn every search into a 500 behind a green health check.

`GuardedStore(open_fn, path)` wraps the SQLite store (Redis has the outage spool, graph/store/spool.py).
When SQLite fails for a reason waiting on a lock will not fix (`database or disk is full`, `disk I/O
error`, `database disk image is malformed`, `file is not a database`, an unwritable file):

- a search is served and not recorded (`record_search` answers 0; `unrecorded` counts them), and its
  evidence claims answer "first" (nothing is recorded to count twice);
- the serving reads degrade like the spool's: Times Matched and scores answer the last values read (0 /
  empty when never read), intents and edges answer empty;
- every other write and read (feedback, analytics, scores, moderation) raises `StoreUnavailable`: the API
  answers 503 with the reason, never a 2xx for something not stored;
- `degraded_reasons()` says why (for `/readyz` and admin writes), and the reason is logged once when it
  appears and once when it clears, never per request.

A lock timeout ("database is locked") is not a damaged store: it raises StoreUnavailable and degrades
nothing. Every call still tries the file, so freeing space or restoring the file recovers on the next
request. The data dir's free space is checked too (`min_free_mb`), so a full disk shows before the
first failed write.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from graph.events import EdgeStats, FeedbackEvent, SearchEvent
from graph.store.base import Intent, MatchStore, QueryStat, StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
REOPEN_S = 5.0  # a store that could not be opened is tried again at most this often
DISK_CHECK_S = 2.0  # free space of the data dir is looked at most this often
LOG_AGAIN_S = 300.0  # the same reason is logged again at most this often
_TRANSIENT = ("locked", "busy")
_WHAT = {"open": "be opened", "write": "record", "read": "be read"}


def _damage(exc: BaseException) -> str | None:
    """The reason to report for a failure that waiting on a lock will not fix, else None."""
    if isinstance(exc, sqlite3.DatabaseError) and not any(t in str(exc).lower() for t in _TRANSIENT):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}"
    return None


class GuardedStore(MatchStore):
    """The SQLite store, degrading instead of failing when its file is full or damaged (module docstring)."""

    def __init__(self, open_fn: Callable[[], MatchStore], path: str | Path, min_free_mb: float = 16.0) -> None:
        self.path = Path(path)
        self.open_fn = open_fn
        self.min_free_bytes = int(min_free_mb * 1024 * 1024)
        self.unrecorded = 0  # searches served but not recorded while the store could not write
        self._lock = threading.Lock()
        self._inner: MatchStore | None = None
        self._opened_at = 0.0
        self._errors: dict[str, str] = {}  # "open" / "write" / "read" -> reason
        self._disk = ""
        self._logged: dict[str, float] = {}
        self._disk_at = 0.0
        self._tm: dict[str, int] = {}
        self._ctm: dict[str, int] = {}
        self._scores: dict[str, float] = {}
        try:
            self._store()
        except StoreUnavailable:
            pass  # logged; searches are served and the open is retried

    # --- the one rule --------------------------------------------------------------------------
    def _store(self) -> MatchStore:
        if self._inner is not None:
            return self._inner
        with self._lock:
            if self._inner is None:
                if time.monotonic() - self._opened_at < REOPEN_S and "open" in self._errors:
                    raise StoreUnavailable(f"{self.path}: {self._errors['open']}")
                self._opened_at = time.monotonic()
                try:
                    self._inner = self.open_fn()
                except Exception as exc:
                    reason = _damage(exc)
                    if reason is None:
                        raise
                    self._note("open", reason)
                    raise StoreUnavailable(f"{self.path}: {reason}") from exc
                self._note("open", "")
        return self._inner

    def _logs(self, what: str) -> bool:
        """Whether to log `what` now: once, and again only after LOG_AGAIN_S (a store that fills up and
        frees a page again must not write a line per request)."""
        now = time.monotonic()
        if now - self._logged.get(what, -LOG_AGAIN_S) < LOG_AGAIN_S:
            return False
        self._logged[what] = now
        return True

    def _note(self, kind: str, reason: str) -> None:
        """Record (or clear) a reason; logged once (see `_logs`)."""
        before = self._errors.get(kind, "")
        if reason == before:
            return
        if reason:
            self._errors[kind] = reason
            if self._logs(f"{kind}:{reason}"):
                    log.error("match store %s cannot %s: %s; searches are served without %s until it can",
                          self.path, _WHAT[kind], reason, "reading or recording" if kind != "write" else "recording")
        else:
            self._errors.pop(kind, None)
            if self._logs(f"{kind}:ok"):
                log.warning("match store %s can %s again", self.path, _WHAT[kind])

    def _call(self, kind: str, fn: Callable[[MatchStore], T], clears: bool = True) -> T:
        """`fn(store)`; a damaging failure is noted under `kind` and raised as StoreUnavailable. A success
        clears `kind`'s reason when `clears` (a claim fits in a page where a search did not: only a recorded
        event says the store records again)."""
        try:
            out = fn(self._store())
        except StoreUnavailable:
            raise
        except (sqlite3.Error, OSError) as exc:
            reason = _damage(exc)
            if reason is None:  # a lock timeout: not this host's damage, just not now
                raise StoreUnavailable(f"{self.path}: {exc}") from exc
            self._note(kind, reason)
            raise StoreUnavailable(f"{self.path}: {reason}") from exc
        if clears and self._errors.get(kind):
            self._note(kind, "")
        return out

    def _write(self, fn: Callable[[MatchStore], T], clears: bool = True) -> T:
        return self._call("write", fn, clears)

    def _read(self, fn: Callable[[MatchStore], T], fallback: Callable[[], T] | None = None) -> T:
        try:
            return self._call("read", fn)
        except StoreUnavailable:
            if fallback is None:
                raise
            return fallback()

    def degraded_reasons(self) -> list[str]:
        """Why this host serves but cannot record (or read) matches; empty when all is well."""
        now = time.monotonic()
        if now - self._disk_at > DISK_CHECK_S:
            self._disk_at = now
            try:
                free = shutil.disk_usage(self.path.parent).free
            except OSError as exc:
                self._disk = f"data dir {self.path.parent}: {exc}"
            else:
                self._disk = (f"data dir {self.path.parent}: {free / 1048576:.1f} MB free, below "
                              f"MATCHGRAPH_MIN_FREE_MB ({self.min_free_bytes / 1048576:g} MB)"
                              if free < self.min_free_bytes else "")
        reasons = [f"matches.db cannot {what}: {self._errors[kind]}" for kind, what in
                   (("open", "be opened"), ("write", "record"), ("read", "be read")) if self._errors.get(kind)]
        return reasons + ([self._disk] if self._disk else [])

    # --- the event log ----------------------------------------------------------------------------
    def record_search(self, event: SearchEvent) -> int:
        """Recorded, or (store full or damaged) served without recording: 0."""
        try:
            return self._write(lambda s: s.record_search(event))
        except StoreUnavailable:
            if not self._errors:
                raise  # a lock timeout: the caller decides, as before
            self.unrecorded += 1
            return 0

    def record_feedback(self, event: FeedbackEvent) -> int:
        return self._write(lambda s: s.record_feedback(event))

    def record_many(self, events):  # type: ignore[no-untyped-def]  # same signature as MatchStore's
        events = list(events)
        return self._write(lambda s: s.record_many(events))

    def exchange(self, key: str, value: str, ttl_s: float, only_if_absent: bool = False) -> str | None:
        """The store's; while it cannot write, None ("first"): the search it decides is not recorded anyway."""
        try:
            return self._write(lambda s: s.exchange(key, value, ttl_s, only_if_absent), clears=False)
        except StoreUnavailable:
            if not self._errors:
                raise
            return None

    def exchange_once(self, key: str, value: str, token: str, ttl_s: float) -> str | None:
        """The store's; while it cannot write, None, as `exchange`."""
        try:
            return self._write(lambda s: s.exchange_once(key, value, token, ttl_s), clears=False)
        except StoreUnavailable:
            if not self._errors:
                raise
            return None

    def events(self, after_seq: int = 0) -> Iterator[tuple[int, SearchEvent | FeedbackEvent]]:
        return iter(self._read(lambda s: list(s.events(after_seq))))

    def last_seq(self) -> int:
        return self._read(lambda s: s.last_seq())

    def rebuild(self, aliases: Mapping[str, str] | None = None) -> None:
        self._write(lambda s: s.rebuild(aliases))

    def clear(self) -> None:
        self._write(lambda s: s.clear())

    def compact(self, retain_s: float, now: float | None = None) -> dict[str, int]:
        return self._write(lambda s: s.compact(retain_s, now))

    # --- serving reads degrade ----------------------------------------------------------------------
    def get_search(self, search_id: str) -> SearchEvent | None:
        return self._read(lambda s: s.get_search(search_id))

    def times_matched(self, artifact_ids: Iterable[str]) -> dict[str, int]:
        ids = list(artifact_ids)
        got = self._read(lambda s: s.times_matched(ids), lambda: {a: self._tm.get(a, 0) for a in ids})
        self._tm.update(got)
        return got

    def capability_times_matched(self, capability_ids: Iterable[str]) -> dict[str, int]:
        ids = list(capability_ids)
        got = self._read(lambda s: s.capability_times_matched(ids), lambda: {c: self._ctm.get(c, 0) for c in ids})
        self._ctm.update(got)
        return got

    def intents(self, after_seq: int = 0) -> list[Intent]:
        return self._read(lambda s: s.intents(after_seq), list)

    def intents_since(self, cursor: tuple[int, ...] | None = None
                      ) -> tuple[list[Intent], tuple[int, ...] | None]:
        return self._read(lambda s: s.intents_since(cursor), lambda: ([], cursor))

    def intent_edges(self, intent_ids: Iterable[str]) -> dict[str, dict[str, EdgeStats]]:
        ids = list(intent_ids)
        return self._read(lambda s: s.intent_edges(ids), dict)

    def stance_edges(self, intent_ids: Iterable[str]) -> dict[str, dict[str, EdgeStats]]:
        ids = list(intent_ids)
        return self._read(lambda s: s.stance_edges(ids), dict)

    def match_scores(self) -> dict[str, float]:
        got = self._read(lambda s: s.match_scores(), lambda: dict(self._scores))
        self._scores = dict(got)
        return got

    def artifact_edges(self) -> Iterator[tuple[str, str, EdgeStats]]:
        return iter(self._read(lambda s: list(s.artifact_edges()), list))

    def capability_edges(self) -> Iterator[tuple[str, str, int, float]]:
        return iter(self._read(lambda s: list(s.capability_edges()), list))

    def hidden_queries(self) -> set[str]:
        return self._read(lambda s: s.hidden_queries(), set)

    # --- everything else: the store's answer, or StoreUnavailable (503) ---------------------------------
    def put_match_scores(self, scores: Mapping[str, float]) -> None:
        self._write(lambda s: s.put_match_scores(scores))

    def hide_query(self, query: str, hidden: bool = True) -> None:
        self._write(lambda s: s.hide_query(query, hidden))

    def top_artifacts(self, limit: int = 10, since: str | None = None) -> list[tuple[str, int]]:
        return self._read(lambda s: s.top_artifacts(limit, since))

    def timeline(self, artifact_id: str, since: str | None = None) -> list[tuple[str, int]]:
        return self._read(lambda s: s.timeline(artifact_id, since))

    def searches_per_day(self, since: str | None = None) -> list[tuple[str, int]]:
        return self._read(lambda s: s.searches_per_day(since))

    def queries(self, kind: str, limit: int = 20) -> list[QueryStat]:
        return self._read(lambda s: s.queries(kind, limit))

    def summary(self) -> dict[str, int]:
        return self._read(lambda s: s.summary())

    def snapshot(self) -> dict:
        return self._read(lambda s: s.snapshot())

    def authoritative(self) -> MatchStore:
        return self._store()

    def ping(self) -> bool:
        """True while searches can be served: always, since reads degrade (`degraded_reasons` says what is
        missing)."""
        return True

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()

    def __getattr__(self, name: str) -> Any:  # the backend's extras (db, path helpers) for tools and tests
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            inner = self._store()
        except StoreUnavailable as exc:
            raise AttributeError(name) from exc
        return getattr(inner, name)
