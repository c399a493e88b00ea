"""The match-store interface every backend implements, and the rules they share."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from graph.events import FEEDBACK_EVENTS, EdgeStats, FeedbackEvent, SearchEvent
from graph.feedback import LONG_DWELL_MS


class UnknownSearch(LookupError):
    """Feedback names a search_id the store has never seen."""


class NotServed(LookupError):
    """Feedback names an artifact that the search did not serve."""


class StoreUnavailable(RuntimeError):
    """The backend does not answer and this read cannot be served from anywhere else (API: 503)."""


class ClaimDeferred(StoreUnavailable):
    """An evidence claim (`exchange`) cannot be made now (the outage spool's primary is away): the event
    travels pending with the spooled events and its claims are made on replay (graph/dedup.py)."""


@dataclass(frozen=True)
class Intent:
    intent_id: str
    text: str
    searches: int
    seq: int  # log sequence number of the first search with this intent


@dataclass(frozen=True)
class QueryStat:
    """One query's analytics row (`GET /v1/analytics/queries` sends these fields as they are): searches,
    zero-result, low-confidence and filtered-empty ones among them, the last time, and `users`: the distinct
    users whose counted, confident search this was."""

    query: str
    searches: int
    zero_results: int
    low_confidence: int
    last_ts: float
    filtered_empty: int = 0
    users: int = 0  # distinct users whose counted, confident search this was (popular searches)


def day_of(ts: float) -> str:
    """The UTC day bucket of a timestamp, as YYYY-MM-DD."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


class EventLog(ABC):
    """The source of truth: an append-only log of searches and feedback. This is what the outage spool
    guards (it wraps exactly these writes); everything else a store holds is derived from it.

    `record_search` and `record_feedback` append the event and apply its effects in one
    atomic step, so a crash never leaves the log and the counts disagreeing. `rebuild`
    re-derives all state from the log and must give exactly what incremental updates gave.
    """

    @abstractmethod
    def record_search(self, event: SearchEvent) -> int:
        """Append a search and apply it: times matched, day buckets, intent, edges, query log.
        Returns the log sequence number."""

    @abstractmethod
    def record_feedback(self, event: FeedbackEvent) -> int:
        """Append feedback and apply it to the intent -> artifact edge of its search.
        Fills `intent_id` and `rank` from the stored search. Raises UnknownSearch or NotServed."""

    def record_many(self, events: Sequence[SearchEvent | FeedbackEvent]) -> list[int | Exception]:
        """Record events in order in as few round trips as the backend allows. Returns, per event, its
        sequence number or the exception recording it alone would raise (UnknownSearch, NotServed,
        ValueError): one refused event never stops the others. Any other failure raises.

        This default calls the one-event methods; SQLite overrides it with one transaction (a failure
        raises and writes nothing), Redis with one pipeline (idempotent writes: resend on a lost
        connection), the spool with one of those or one fsync'd append."""
        out: list[int | Exception] = []
        for ev in events:
            try:
                out.append(self.record_search(ev) if isinstance(ev, SearchEvent) else self.record_feedback(ev))
            except (UnknownSearch, NotServed, ValueError) as exc:
                out.append(exc)
        return out

    @abstractmethod
    def events(self, after_seq: int = 0) -> Iterator[tuple[int, SearchEvent | FeedbackEvent]]:
        """The log in order, from after `after_seq`."""

    @abstractmethod
    def last_seq(self) -> int: ...

    @abstractmethod
    def rebuild(self, aliases: Mapping[str, str] | None = None) -> None:
        """Drop all derived state and replay the event log; `aliases` (old id -> canonical id, from the
        catalog) replays what was recorded under an old id as the canonical artifact's."""

    @abstractmethod
    def clear(self) -> None:
        """Remove everything, log included (tests and `reset`)."""


class ServingReads(ABC):
    """What the search path reads for every request: a search's served results (to check feedback),
    Times Matched, learned intents and their edges, Match Graph scores. Fast, and behind the spool they
    degrade (last-known values) instead of failing."""

    @abstractmethod
    def get_search(self, search_id: str) -> SearchEvent | None: ...

    @abstractmethod
    def times_matched(self, artifact_ids: Iterable[str]) -> dict[str, int]:
        """Counts for the given ids (0 for unknown ids)."""

    @abstractmethod
    def capability_times_matched(self, capability_ids: Iterable[str]) -> dict[str, int]: ...

    @abstractmethod
    def intents(self, after_seq: int = 0) -> list[Intent]:
        """Intents first seen after `after_seq`, in log order (workers poll for new ones)."""

    def intents_since(self, cursor: tuple[int, ...] | None = None
                      ) -> tuple[list[Intent], tuple[int, ...] | None]:
        """Intents first seen after `cursor` (None: all) and the cursor to poll with next (workers follow
        new intents this way). A single log's cursor is its last sequence number; a sharded store's is one
        position per shard, because its shards have no common order."""
        after = cursor[0] if cursor else 0
        new = self.intents(after)
        return new, (max([after, *(i.seq for i in new)]),)

    @abstractmethod
    def intent_edges(self, intent_ids: Iterable[str]) -> dict[str, dict[str, EdgeStats]]:
        """intent id -> artifact id -> evidence."""

    def stance_edges(self, intent_ids: Iterable[str]) -> dict[str, dict[str, EdgeStats]]:
        """`intent_edges` of only the artifacts some person took a stance on in any of these intents: all
        that learning pools (search/learning.py), a few rows where `intent_edges` has every served one. A
        store may read only those; this default filters `intent_edges`."""
        return with_stances(self.intent_edges(intent_ids))

    @abstractmethod
    def match_scores(self) -> dict[str, float]: ...


class MatchGraphState(ABC):
    """The whole graph, for `recompute` (reads every edge, writes the scores back)."""

    @abstractmethod
    def capability_edges(self) -> Iterator[tuple[str, str, int, float]]:
        """All intent -> capability edges: (intent_id, capability_id, times, max similarity)."""

    @abstractmethod
    def artifact_edges(self) -> Iterator[tuple[str, str, EdgeStats]]:
        """All intent -> artifact edges."""

    @abstractmethod
    def put_match_scores(self, scores: Mapping[str, float]) -> None:
        """Replace the stored Match Graph scores (artifact id -> 0..1)."""


class AnalyticsReads(ABC):
    """Dashboards: top artifacts, timelines, query logs, totals. Exact, never degraded (behind the spool
    they raise StoreUnavailable during an outage: the API answers 503)."""

    @abstractmethod
    def top_artifacts(self, limit: int = 10, since: str | None = None) -> list[tuple[str, int]]:
        """Most matched artifacts, highest first (ties by id); `since` is a YYYY-MM-DD day."""

    @abstractmethod
    def timeline(self, artifact_id: str, since: str | None = None) -> list[tuple[str, int]]:
        """(day, times matched that day), oldest first, days without matches left out."""

    @abstractmethod
    def searches_per_day(self, since: str | None = None) -> list[tuple[str, int]]: ...

    @abstractmethod
    def queries(self, kind: str, limit: int = 20) -> list[QueryStat]:
        """kind: 'zero_results' | 'low_confidence' | 'top' (most searched)."""

    @abstractmethod
    def summary(self) -> dict[str, int]:
        """{'searches', 'feedback', 'intents', 'matched_artifacts', 'zero_result_searches',
        'low_confidence_searches', 'clicks'}"""


class EvidenceClaims(ABC):
    """Who already did what: the atomic claims behind the evidence rules (graph/dedup.py), and the operator's
    moderation of public lists. Neither is part of the log nor derived from it."""

    @abstractmethod
    def exchange(self, key: str, value: str, ttl_s: float, only_if_absent: bool = False) -> str | None:
        """Atomically set `key` to `value` for `ttl_s` seconds and return the value it held (None when absent or
        expired); with `only_if_absent` a live key is left as it is (and its expiry too). The one primitive
        behind evidence dedup: exact across processes and hosts."""

    @abstractmethod
    def exchange_once(self, key: str, value: str, token: str, ttl_s: float) -> str | None:
        """`exchange` made by one event (`token`): set `key` to `value` (non-empty) for `ttl_s` seconds and return
        the value it held (None when absent or expired); asked again with the same token (the event retried
        after a lost reply, or replayed), change nothing and return what the first call returned. The vote
        claims of graph/dedup.py; the rule is graph/store/claims.py."""

    @abstractmethod
    def hide_query(self, query: str, hidden: bool = True) -> None:
        """Operator moderation: keep a (normalised) query off public lists such as "Popular searches"."""

    @abstractmethod
    def hidden_queries(self) -> set[str]: ...


class MatchStore(EventLog, ServingReads, MatchGraphState, AnalyticsReads, EvidenceClaims):
    """A match store plays every role: the event log, the serving reads, the graph and the analytics.

    Times Matched of an artifact (or capability) = the number of searches that served it
    among their top k results (k recorded per search as `SearchEvent.k`). Results served
    beyond rank k (a scrolled page) get match edges and can take feedback, but are not counted.
    """

    @abstractmethod
    def snapshot(self) -> dict:
        """All derived state in a canonical, comparable form (used to check rebuild == incremental)."""

    def history_epoch(self) -> str:
        """The id of the match history this store holds, made when the history started ("" for a store
        whose history lives in a file of this host: SQLite). A store that loses its history (Redis restarted
        without persistence) starts a new one with a new id, which tells every host that it was lost."""
        return ""

    def restore_archive(self) -> int:
        """Put the events of `compact`'s archive back into a store that lost its history; returns how
        many (0: nothing archived, or a store without an archive)."""
        return 0

    def compact(self, retain_s: float, now: float | None = None) -> dict[str, int]:
        """Archive log entries older than `retain_s` to files and drop them from the store's memory
        (Redis). A file-backed store (SQLite) keeps its log on disk and has nothing to compact."""
        return {"archived": 0, "retained": self.last_seq()}

    def put_intent_vectors(self, vectors: Mapping[str, np.ndarray]) -> None:  # noqa: B027 - optional
        """Keep each intent's query vector with the intent, so other hosts need not embed it again.
        Stores shared by one host only (SQLite) leave this to the embedder's vector cache."""

    def intent_vectors(self, intent_ids: Iterable[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these intents (those that have one)."""
        return {}

    def ping(self) -> bool:
        """True when the backend answers (readiness checks)."""
        return True

    def authoritative(self) -> MatchStore:
        """The store whose reads never degrade (wrappers such as the spool return the wrapped backend).
        Jobs that write back what they read (recompute) read from this, never from a fallback."""
        return self

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


# --- shared helpers (both backends validate and canonicalise the same way) -------------------
QUERY_KINDS = ("zero_results", "low_confidence", "top", "filtered_empty", "popular")
SUMMARY_COUNTERS = ("searches", "feedback", "zero_result_searches", "low_confidence_searches", "clicks",
                    "filtered_empty_searches", "preview_searches", "settled_searches")


def stance_op(ev: FeedbackEvent) -> tuple[str, int]:
    """How a counted feedback event sets its user's stance (+1 chose / -1 rejected) on the intent -> artifact
    edge: votes set it ('set'), a click or a long dwell sets +1 only when the user has no stance yet ('nx', so
    a click never undoes a downvote), a short dwell leaves it ('', 0). Learning counts users, not events."""
    if not ev.user or not ev.counted:
        return "", 0
    if ev.event in ("upvote", "downvote"):
        return "set", 1 if ev.event == "upvote" else -1
    if ev.event == "unvote":  # a withdrawn vote: the user takes no stance on the edge any more
        return "del", 0
    if ev.event == "click" or (ev.event == "dwell" and ev.dwell_ms >= LONG_DWELL_MS):
        return "nx", 1
    return "", 0


def check_search(event: SearchEvent) -> None:
    """Reject a search the derived state cannot represent (examination(rank) needs rank >= 1)."""
    for s in event.served:
        if s.rank < 1:
            raise ValueError(f"served rank must be >= 1, got {s.rank} for {s.artifact_id!r}")


def check_feedback(event: FeedbackEvent) -> None:
    """Reject unknown feedback kinds before anything is written, so the log holds only applied events."""
    if event.event not in FEEDBACK_EVENTS:
        raise ValueError(f"unknown feedback event {event.event!r}; expected one of {FEEDBACK_EVENTS}")
    if event.dwell_ms < 0:
        raise ValueError("dwell_ms must be >= 0")
    if "|" in event.user:
        raise ValueError("user must not contain '|'")
    if event.replaces and (event.replaces not in ("upvote", "downvote") or event.replaces == event.event
                           or event.event not in ("upvote", "downvote", "unvote")):
        raise ValueError(f"replaces must be the opposite vote (or the vote an unvote withdraws), got "
                         f"{event.replaces!r} for {event.event!r}")


def precheck(events: Sequence[SearchEvent | FeedbackEvent]) -> list[int | Exception | None]:
    """Per event: the ValueError that refuses it, or None; what `record_many` checks before writing."""
    results: list[int | Exception | None] = [None] * len(events)
    for i, ev in enumerate(events):
        try:
            if isinstance(ev, SearchEvent):
                check_search(ev)
            else:
                check_feedback(ev)
        except ValueError as exc:
            results[i] = exc
    return results


def served_ranks(event: SearchEvent) -> dict[str, int]:
    """artifact id -> rank of its first appearance: the rank feedback on that artifact is filled with."""
    ranks: dict[str, int] = {}
    for s in event.served:
        ranks.setdefault(s.artifact_id, s.rank)
    return ranks


def with_stances(edges: Mapping[str, Mapping[str, EdgeStats]]) -> dict[str, dict[str, EdgeStats]]:
    """The edges (intent -> artifact -> evidence) of the artifacts with some person's stance on any of them,
    in the same order."""
    chosen = {a for by in edges.values() for a, e in by.items() if e.users}
    kept = {i: {a: e for a, e in by.items() if a in chosen} for i, by in edges.items()}
    return {i: by for i, by in kept.items() if by}


def edge_snapshot(e: EdgeStats) -> dict[str, int | float]:
    """Edge stats as a comparable dict; exposure rounded to 9 places so float-sum noise never differs."""
    return {"impressions": e.impressions, "exposure": round(e.exposure, 9), "clicks": e.clicks,
            "dwell_ms": e.dwell_ms, "dwells": e.dwells, "upvotes": e.upvotes, "downvotes": e.downvotes,
            "users": dict(sorted(e.users.items()))}


def query_snapshot(q: QueryStat) -> list:
    """A query-log row as a comparable list."""
    return [q.searches, q.zero_results, q.low_confidence, q.last_ts, q.filtered_empty, q.users]
