"""Whose feedback a search takes: a vote belongs to its search.

Feedback is accepted only from the identity that made the search (the same keyed user key), on an artifact
that search served, within the feedback window; anything else is refused before anything is written. The
feedback carries the *person* recorded with the search (search/identity.py), so a vote always counts for
whoever the search counted for: minting a token per vote gains nothing, and a vote on somebody else's
search is refused.

A search that is served but not recorded (`record=false`, or an identity over its network's hourly bound)
gets a search id of its own form (`UNRECORDED_LEN` hex digits; recorded ones have 32), so feedback on it is
told apart from feedback on an unknown or expired search without storing anything about it.

A search the store cannot show (an outage behind the Redis spool, or a search still on its way from the
spool to Redis after one) is not refused here: its feedback goes to the store unverified, counting for the
person of the request itself (its network, or its signed user), so an outage never loses feedback and gives
nobody more weight than their own; the store still refuses an unknown search (404) or an artifact the
search did not serve.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from graph.events import FeedbackEvent, SearchEvent
from graph.store.base import MatchStore, StoreUnavailable
from search.errors import NotRecorded, NotYours
from search.identity import Who

UNRECORDED_LEN = 40


def unrecorded_id() -> str:
    """A fresh search id that says the search was not recorded."""
    return uuid.uuid4().hex + secrets.token_hex((UNRECORDED_LEN - 32) // 2)


def is_unrecorded(search_id: str) -> bool:
    return len(search_id) == UNRECORDED_LEN


def _refusal(search: SearchEvent, search_id: str, who: Who | str) -> Exception | None:
    identity = who.identity if isinstance(who, Who) else who
    if search.owner and search.owner != identity:
        return NotYours(search_id)
    return None


def attribute(store: MatchStore, events: Sequence[FeedbackEvent],
              who: Who | str) -> list[FeedbackEvent | Exception]:
    """Per event: the event carrying its search's person, or the exception that refuses it (NotRecorded,
    NotYours; the store itself raises UnknownSearch and NotServed). One store read per distinct search.
    Searches without an owner (recorded by library callers and older versions) keep the event's own user."""
    searches: dict[str, SearchEvent | None | StoreUnavailable] = {}
    for sid in dict.fromkeys(ev.search_id for ev in events):
        try:
            searches[sid] = store.get_search(sid)
        except StoreUnavailable as exc:
            searches[sid] = exc
    out: list[FeedbackEvent | Exception] = []
    for ev in events:
        search = searches[ev.search_id]
        if search is None and is_unrecorded(ev.search_id):
            out.append(NotRecorded(ev.search_id))
            continue
        if search is None or isinstance(search, StoreUnavailable):  # unverified: the store decides, as the
            out.append(ev)                                          # request's own person
            continue
        refusal = _refusal(search, ev.search_id, who)
        if refusal is not None:
            out.append(refusal)
        elif search.owner:
            out.append(FeedbackEvent(ev.search_id, ev.artifact_id, ev.event, ev.ts, ev.dwell_ms, ev.intent_id,
                                     ev.rank, ev.extra, user=search.user))
        else:
            out.append(ev)
    return out
