"""What the owner's dashboard reads about searches over a date range: per query, how many searches, how many of
them led to a click (click-through rate), how many found nothing and how many were low-confidence.

Why a module: the store keeps all-time query counters (graph/store: `queries`), which cannot answer "last
week" nor relate a click to the query of its search. Both are in the event log, so this reads the log, keeping
per day and per query four counters. A store with one log (SQLite, one-shard Redis) is read incrementally
(only the events after the last one seen); a sharded store is read again whole, at most every
`RESCAN_S` seconds. As-you-type previews are not searches here (a person settled on no query yet).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from graph.events import FeedbackEvent, SearchEvent
from graph.store.base import MatchStore, day_of

RESCAN_S = 30.0  # a sharded store's log is read again at most this often
MAX_TRACKED_SEARCHES = 200_000  # searches whose clicks are still attributed (the oldest are forgotten)


@dataclass
class QueryRow:
    """One query over a range of days."""

    query: str
    searches: int = 0
    clicked: int = 0  # searches of it that led to at least one click
    zero_results: int = 0
    low_confidence: int = 0

    @property
    def ctr(self) -> float:
        """Click-through rate: the share of its searches with a click (0 when none)."""
        return self.clicked / self.searches if self.searches else 0.0

    def to_dict(self) -> dict:
        return {"query": self.query, "searches": self.searches, "clicked": self.clicked,
                "ctr": round(self.ctr, 4), "zero_results": self.zero_results, "low_confidence": self.low_confidence}


class SearchStats:
    """Per-day query counters read from a store's log (see the module docstring)."""

    def __init__(self, store: MatchStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._days: dict[str, dict[str, list[int]]] = {}  # day -> query -> [searches, clicked, zero, low]
        self._searches: dict[str, tuple[str, str]] = {}  # search id -> (day, query), for its clicks
        self._clicked: set[str] = set()
        self._seq = 0
        self._scanned_at = 0.0

    def _add(self, ev: SearchEvent | FeedbackEvent) -> None:
        if isinstance(ev, SearchEvent):
            if ev.preview:
                return
            day = day_of(ev.ts)
            row = self._days.setdefault(day, {}).setdefault(ev.query, [0, 0, 0, 0])
            row[0] += 1
            row[2] += int(ev.zero_results)
            row[3] += int(ev.low_confidence)
            self._searches[ev.search_id] = (day, ev.query)
            if len(self._searches) > MAX_TRACKED_SEARCHES:
                self._searches.pop(next(iter(self._searches)))
        elif ev.event == "click" and ev.search_id in self._searches and ev.search_id not in self._clicked:
            self._clicked.add(ev.search_id)
            day, query = self._searches[ev.search_id]
            self._days[day][query][1] += 1

    def refresh(self) -> None:
        """Read what the log gained since the last call."""
        with self._lock:
            single = getattr(self.store, "n", 1) == 1
            if not single and self._scanned_at and time.monotonic() - self._scanned_at < RESCAN_S:
                return
            if not single or self.store.last_seq() < self._seq:  # sharded, or a cleared log: from the start
                self._days, self._searches, self._clicked, self._seq = {}, {}, set(), 0
            for seq, ev in self.store.events(after_seq=self._seq if single else 0):
                self._add(ev)
                self._seq = max(self._seq, seq)
            self._scanned_at = time.monotonic()

    def rows(self, since: str | None = None, until: str | None = None,
             hidden: set[str] = frozenset()) -> list[QueryRow]:
        """Every query searched in [since, until] (days, inclusive; None: open), summed over its days."""
        self.refresh()
        out: dict[str, QueryRow] = {}
        with self._lock:
            for day, queries in self._days.items():
                if (since and day < since) or (until and day > until):
                    continue
                for query, (n, clicked, zero, low) in queries.items():
                    if query in hidden:
                        continue
                    row = out.setdefault(query, QueryRow(query))
                    row.searches += n
                    row.clicked += clicked
                    row.zero_results += zero
                    row.low_confidence += low
        return list(out.values())

    def report(self, since: str | None = None, until: str | None = None, limit: int = 10,
               hidden: set[str] = frozenset()) -> dict[str, list[dict]]:
        """The dashboard's lists over the range: `top` (most searched, with click-through rate), `zero_results`
        and `low_confidence` (the catalog's gaps), each the `limit` largest."""
        rows = self.rows(since, until, hidden)
        top = sorted(rows, key=lambda r: (-r.searches, r.query))[:limit]
        zero = sorted((r for r in rows if r.zero_results), key=lambda r: (-r.zero_results, r.query))[:limit]
        low = sorted((r for r in rows if r.low_confidence), key=lambda r: (-r.low_confidence, r.query))[:limit]
        return {"top": [r.to_dict() for r in top], "zero_results": [r.to_dict() for r in zero],
                "low_confidence": [r.to_dict() for r in low]}
