"""Which events are evidence: the one place that decides what a user's repeated actions count for.

Every search and feedback event is logged; this module fills the flags that say what it counts for,
before the event is written, so the store applies them and a replay of the log gives the same state:

- a search is *settled* (counts toward Times Matched, match edges and exposure) once per (user,
  normalised query) per window (`settle_window_s`, default 30 min, from the first counted search):
  Enter after a settled preview, reloads and back-navigation inside the window count nothing more.
  As-you-type previews and low-confidence searches never claim the window (they never count);
- a search is a *new user* of its query (one vote toward "Popular searches") the first time that user
  runs it as a counted, confident search;
- feedback counts once per (user, search, artifact) and kind: a repeat click or dwell is logged
  and changes nothing; a vote replaces that user's earlier opposite vote (`replaces`), and the same
  vote again changes nothing; an `unvote` withdraws the standing vote (`replaces` names it: its count is
  taken back and the user's stance on the edge removed), and with no standing vote it changes nothing.

Who "a user" is: the person key of the events (search/identity.py): the network of an unsigned identity,
so the identities seen from one network share one person's weight; a site-signed identity is its own
person. `place` pins an unsigned identity to the network it was first seen on and bounds how many new
identities one network brings per hour.

Each decision is one atomic `MatchStore.exchange` on a key derived from the user key (an HMAC, never
a raw token or address), so it is exact across workers and hosts. Events without a user key (library
and CLI callers, old logs) count as before: every one of them is evidence.

During a Redis outage the claims cannot be made (the outage spool raises `ClaimDeferred`): the event
leaves here *pending* (`PendingSearch` / `PendingFeedback`) and travels with its claims into the spool;
the replay makes the claims on the primary, in log order, and only then fills the flags (`resolve`), so
an outage adds no counts and loses none. A search claims with its own search id as the value and a
click or dwell with its own timestamp, so making a claim twice (a replay after a lost reply, or a claim
a frozen Redis applied after the client gave up on it) gives the same answer as making it once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import Any

from graph.events import FeedbackEvent, SearchEvent, event_from_dict
from graph.store.base import ClaimDeferred, MatchStore

VOTES = ("upvote", "downvote")
UNVOTE = "unvote"  # withdraws this user's standing vote on (search, artifact): `replaces` names it
FEEDBACK_TTL_S = 30 * 86_400.0  # how long one (user, search, artifact) action is remembered
POPULAR_TTL_S = 365 * 86_400.0  # how long a user counts once toward one query's popularity
HOUR_S = 3600.0
HOME_TTL_S = 30 * 86_400.0  # how long an unsigned identity keeps counting for the network it was first seen on
MIN_REPLAY_TTL_S = 1.0  # a claim replayed after its window has passed still checks, for this long
PENDING_KEY = "dedup_pending"  # the spooled body's marker: {"window_s": ...} (absent: flags are final)


def _key(kind: str, *parts: str) -> str:
    raw = "\x1f".join(parts).encode("utf-8")
    return kind + ":" + hashlib.blake2b(raw, digest_size=16).hexdigest()


@dataclasses.dataclass(frozen=True)
class PendingSearch(SearchEvent):
    """A search whose claims wait for the primary: its flags are decided on replay (`resolve`)."""

    window_s: float = 1800.0


@dataclasses.dataclass(frozen=True)
class PendingFeedback(FeedbackEvent):
    """Feedback whose claim waits for the primary: `counted`/`replaces` are decided on replay."""


def _plain(ev: SearchEvent | FeedbackEvent) -> SearchEvent | FeedbackEvent:
    base = SearchEvent if isinstance(ev, SearchEvent) else FeedbackEvent
    return base(**{f.name: getattr(ev, f.name) for f in dataclasses.fields(base)})


def is_pending(ev: object) -> bool:
    return isinstance(ev, PendingSearch | PendingFeedback)


def to_spool(ev: SearchEvent | FeedbackEvent) -> dict[str, Any]:
    """The event as the spool stores it: the log's dict, plus the pending marker when its claims wait."""
    d = ev.to_dict()
    if isinstance(ev, PendingSearch):
        d[PENDING_KEY] = {"window_s": ev.window_s}
    elif isinstance(ev, PendingFeedback):
        d[PENDING_KEY] = {}
    return d


def from_spool(d: dict[str, Any]) -> SearchEvent | FeedbackEvent:
    """Inverse of `to_spool`."""
    pending = d.pop(PENDING_KEY, None)
    ev = event_from_dict(d)
    if pending is None:
        return ev
    if isinstance(ev, SearchEvent):
        return PendingSearch(**{f.name: getattr(ev, f.name) for f in dataclasses.fields(SearchEvent)},
                             window_s=float(pending.get("window_s", 1800.0)))
    return PendingFeedback(**{f.name: getattr(ev, f.name) for f in dataclasses.fields(FeedbackEvent)})


def resolve(store: MatchStore, ev: SearchEvent | FeedbackEvent) -> SearchEvent | FeedbackEvent:
    """A pending event with its claims made on `store` (the primary) and its flags filled; others as they are.
    A claim window is counted from the search's own time, so a replay does not stretch it."""
    if isinstance(ev, PendingSearch):
        return Dedup(store, ev.window_s).search(_plain(ev), age_s=max(0.0, time.time() - ev.ts), defer=False)
    if isinstance(ev, PendingFeedback):
        return Dedup(store).feedback(_plain(ev), defer=False)
    return ev


class Dedup:
    """Fills `settled`/`new_user` on searches and `counted`/`replaces` on feedback."""

    def __init__(self, store: MatchStore, settle_window_s: float = 1800.0) -> None:
        self.store = store
        self.settle_window_s = settle_window_s

    def _first(self, key: str, ttl_s: float, token: str = "1") -> bool:
        """Whether this claim is the first: nobody held `key`, or the holder is this very event (`token`)."""
        previous = self.store.exchange(key, token, ttl_s, only_if_absent=True)
        return previous is None or (token != "1" and previous == token)

    def search(self, ev: SearchEvent, age_s: float = 0.0, defer: bool = True) -> SearchEvent:
        """The search with its flags. Only a search that could count claims anything. During an outage
        (`ClaimDeferred`) a `PendingSearch` whose replay decides (`defer=False`: the error propagates)."""
        if not ev.user or ev.preview or ev.low_confidence or not ev.served:
            return ev if not ev.preview else dataclasses.replace(ev, settled=False)
        try:
            window = max(self.settle_window_s - age_s, MIN_REPLAY_TTL_S)
            settled = self.settle_window_s <= 0 or self._first(_key("s", ev.user, ev.intent_id), window,
                                                               ev.search_id)
            # only a settled search counts its user, so only it may take the user's claim on the query: two
            # concurrent requests of one user must not split the two claims between them (neither would count)
            new_user = settled and self._first(_key("q", ev.user, ev.query), POPULAR_TTL_S, ev.search_id)
        except ClaimDeferred:
            if not defer:
                raise
            return PendingSearch(**{f.name: getattr(ev, f.name) for f in dataclasses.fields(SearchEvent)},
                                 window_s=self.settle_window_s)
        return dataclasses.replace(ev, settled=settled, new_user=new_user)

    def feedback(self, ev: FeedbackEvent, defer: bool = True) -> FeedbackEvent:
        """The feedback with `counted` (and `replaces` for a vote that changes this user's mind); during an
        outage a `PendingFeedback` whose replay decides."""
        if not ev.user:
            return ev
        try:
            if ev.event in VOTES or ev.event == UNVOTE:
                previous = self.store.exchange(_key("v", ev.user, ev.search_id, ev.artifact_id), ev.event,
                                               FEEDBACK_TTL_S)
                if previous == ev.event or (ev.event == UNVOTE and previous not in VOTES):
                    return dataclasses.replace(ev, counted=False)  # the same vote again; nothing to withdraw
                return dataclasses.replace(ev, replaces=previous if previous in VOTES else "")
            first = self._first(_key(ev.event, ev.user, ev.search_id, ev.artifact_id), FEEDBACK_TTL_S,
                                f"t{ev.ts!r}")
        except ClaimDeferred:
            if not defer:
                raise
            return PendingFeedback(**{f.name: getattr(ev, f.name) for f in dataclasses.fields(FeedbackEvent)})
        return ev if first else dataclasses.replace(ev, counted=False)

    def place(self, network: str, identity: str, limit: int, now: float) -> str | None:
        """The network `identity` counts for, or None when its searches may not be recorded.

        An unsigned identity counts for the network it was first seen on (its home, kept HOME_TTL_S), so one
        token sent from many networks is still one network's person. The first `limit` distinct identities
        homed on a network in a clock hour are recorded (0: no bound); later ones are served, not recorded.
        A known identity costs two exchanges; a new one also claims the first free of `limit` slots (exact
        across workers and hosts: a slot is taken once, and a racing twin finds its identity in it)."""
        if not network:
            return network
        try:
            return self._place(network, identity, limit, now)
        except ClaimDeferred:  # Redis away: no claim can be made; the search counts for the network it came from
            return network

    def _place(self, network: str, identity: str, limit: int, now: float) -> str | None:
        home = self.store.exchange(_key("home", identity), network, HOME_TTL_S, only_if_absent=True) or network
        if limit <= 0:
            return home
        hour = str(int(now // HOUR_S))
        mine = _key("ni", home, hour, identity)
        seen = self.store.exchange(mine, "?", 2 * HOUR_S, only_if_absent=True)
        if seen in ("1", "0"):
            return home if seen == "1" else None
        verdict = "0"
        for slot in range(limit):
            holder = self.store.exchange(_key("ns", home, hour, str(slot)), identity, 2 * HOUR_S,
                                         only_if_absent=True)
            if holder is None or holder == identity:
                verdict = "1"
                break
        self.store.exchange(mine, verdict, 2 * HOUR_S)
        return home if verdict == "1" else None
