"""The evidence: what users did with what was served, over the match store.

Recording a served search, feedback, dedup, the scores built from it and the analytics reads all live here,
beside the store they read and write. Scores are computed for a `CatalogView` (the one the request reads),
so a scorebook never meets an artifact id its view does not hold. It never calls back into `Engine`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from graph import matchgraph
from graph.dedup import Dedup
from graph.events import FeedbackEvent, SearchEvent, Served, normalise_query
from graph.scores import ScoreBook, Scores
from graph.settings import Settings
from graph.store.base import MatchStore, QueryStat
from search import identity, owners
from search.catalogview import CatalogView
from search.history import HistoryWatch
from search.identity import Who
from search.learning import IntentMemory
from search.pipeline import SearchResult
from search.searchstats import SearchStats

log = logging.getLogger(__name__)
POPULAR_CHARS = (3, 80)  # length limits of a query shown in "Popular searches"


@dataclass
class Shown:
    """What a search response shows beside the ranking: computed before the search is recorded (the
    scores can fail, and a failed response is no match), the Times Matched read after it."""

    scores: dict[str, Scores]
    times_matched: dict[str, int]
    recorded: bool


class Evidence:
    """Records and reads the match evidence; keeps per-view scorebooks and the intents of each artifact."""

    def __init__(self, config: Settings, store: MatchStore, intents: IntentMemory, data_dir: Path) -> None:
        self.config, self.store, self.intents, self.data_dir = config, store, intents, data_dir
        self.dedup = Dedup(store, config.settle_window_s)
        self.history = HistoryWatch(store, data_dir)  # notices a store that lost its match history
        self._blocked: tuple[int, set[str]] = (-1, set())
        self._books: weakref.WeakKeyDictionary[CatalogView, tuple[float, ScoreBook]] = weakref.WeakKeyDictionary()
        self._books_lock = threading.Lock()
        self._intents_by_artifact: dict[str, set[str]] | None = None

    def configure(self, config: Settings) -> None:
        self.config = config

    def invalidate(self) -> None:
        """Forget the scorebooks and learned intents (match scores recomputed, match state rebuilt)."""
        with self._books_lock:
            self._books.clear()
        self._intents_by_artifact = None

    # --- recording ---------------------------------------------------------------------------------
    def record(self, result: SearchResult) -> None:
        """Record the match edges of a search that was served, once its response is built (a search that
        fails is never counted as a match). Recording twice is a no-op."""
        if result.recorded or result.vector is None:
            return
        intent_id = hashlib.sha1(result.normalised.encode()).hexdigest()[:16]
        served = tuple(
            Served(h.artifact.id, h.rank, round(h.score, 6), tuple((c, round(s, 6)) for c, s in h.capabilities))
            for h in result.hits
        )
        event = SearchEvent(result.search_id, intent_id, result.normalised, time.time(), served,
                            self.config.match_k, round(result.hits[0].score, 6) if result.hits else 0.0,
                            result.low_confidence, user=result.user, preview=result.preview,
                            filtered=result.filtered, owner=result.owner)
        self.store.record_search(self.dedup.search(event))
        self.intents.remember(intent_id, result.vector, result.normalised)
        result.recorded = True

    def shown(self, book: ScoreBook, result: SearchResult, record: bool, view: CatalogView | None = None) -> Shown:
        """The scores of every hit from `book` (the request's view; what can fail), then the record when
        `record`, then the Times Matched the response shows (so it counts this search)."""
        ids = [h.artifact.id for h in result.hits]
        scores = {a: book.scores(a) for a in ids}
        if record:
            self.record(result)
        elif not result.recorded:  # its id tells feedback that it was not recorded (search/owners.py)
            result.search_id = owners.unrecorded_id()
        return Shown(scores, self.times_matched(ids, view), record)

    def feedback(self, search_id: str, artifact_id: str, event: str, dwell_ms: int = 0,
                 user: str | Who = "") -> None:
        """Record a click, dwell or vote on a served result, from the identity that made the search (raises
        UnknownSearch, NotRecorded, NotYours or NotServed; search/owners.py)."""
        (ev,) = owners.attribute(self.store, [FeedbackEvent(search_id, artifact_id, event, time.time(), dwell_ms,
                                                            user=user.person if isinstance(user, Who) else user)],
                                 user)
        if isinstance(ev, Exception):
            raise ev
        self.store.record_feedback(self.dedup.feedback(ev))
        self._intents_by_artifact = None

    def feedback_many(self, items: Sequence[tuple], who: Who | str = "") -> list[FeedbackEvent | Exception]:
        """Record (search_id, artifact_id, event, dwell_ms) items of one identity (`who`) in one store round
        trip; per item the event recorded, or the exception `feedback` would have raised for it alone.

        Each event gets its own timestamp in item order: two identical clicks in one batch are two clicks,
        as when sent one by one, never an idempotent retry of each other (RedisStore)."""
        now = time.time()
        person = who.person if isinstance(who, Who) else who
        asked = [FeedbackEvent(it[0], it[1], it[2], now + i * 1e-6, it[3], user=person) for i, it in enumerate(items)]
        events = [ev if isinstance(ev, Exception) else self.dedup.feedback(ev)
                  for ev in owners.attribute(self.store, asked, who)]
        todo = [ev for ev in events if not isinstance(ev, Exception)]
        done = iter(self.store.record_many(todo) if todo else [])
        self._intents_by_artifact = None
        out: list[FeedbackEvent | Exception] = []
        for ev in events:
            r = ev if isinstance(ev, Exception) else next(done)
            out.append(r if isinstance(r, Exception) else ev)
        return out

    def search_stats(self, since: str | None = None, until: str | None = None, limit: int = 10) -> dict:
        """Top, zero-result and low-confidence queries over a range of days, with click-through rates
        (search/searchstats.py); queries an operator hid stay off it."""
        stats = self.__dict__.get("_stats")
        if stats is None or stats.store is not self.store:  # first use, or a store swapped in
            stats = self._stats = SearchStats(self.store)
        return stats.report(since, until, limit, hidden=self.store.hidden_queries())

    # --- public lists ------------------------------------------------------------------------------
    def popular_searches(self, limit: int = 6) -> list[QueryStat]:
        """Queries fit for a public "Popular searches" list: run as counted, confident searches by at least
        `popular_min_users` distinct users, POPULAR_CHARS long with a letter in them, never hidden by an
        operator (`hide_query`) nor in the blocklist file (`popular_blocklist`). Most users first."""
        blocked = self.store.hidden_queries() | self._blocklist()
        out = []
        for q in self.store.queries("popular", limit=max(100, 10 * limit)):
            if q.users < self.config.popular_min_users:
                break
            if (POPULAR_CHARS[0] <= len(q.query) <= POPULAR_CHARS[1] and any(ch.isalpha() for ch in q.query)
                    and q.query not in blocked and not q.low_confidence and q.query.isprintable()):
                out.append(q)
                if len(out) >= limit:
                    break
        return out

    def hide_query(self, query: str, hidden: bool = True) -> str:
        """Keep a query off public lists (or let it back); returns the normalised query it applies to."""
        normalised = normalise_query(query) or query
        self.store.hide_query(normalised, hidden)
        return normalised

    def _blocklist(self) -> set[str]:
        """The operator's blocklist file (one query per line, `#` comments), normalised; re-read when it changes."""
        path = self.config.popular_blocklist
        if path is None:
            return set()
        try:
            stamp = Path(path).stat().st_mtime_ns
        except OSError:
            log.warning("popular-searches blocklist %s is missing: nothing is blocked", path)
            return set()
        if self._blocked[0] != stamp:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
            self._blocked = (stamp, {normalise_query(x) for x in lines if x.strip() and not x.lstrip().startswith("#")})
        return self._blocked[1]

    # --- scores ------------------------------------------------------------------------------------
    def scorebook(self, view: CatalogView) -> ScoreBook:
        """Scores for the whole catalog of `view`, refreshed after `scores_ttl_s` or a recompute."""
        now = time.monotonic()
        with self._books_lock:
            got = self._books.get(view)
        if got is not None and now - got[0] <= self.config.scores_ttl_s:
            return got[1]
        book = ScoreBook(view.artifacts.values(), self.store.match_scores(), matchgraph.co_matched(self.store),
                         weights=self.config.weights, evidence=self.store.times_matched(view.artifacts))
        with self._books_lock:
            self._books[view] = (now, book)
        return book

    def intents_by_artifact(self) -> dict[str, set[str]]:
        if self._intents_by_artifact is None:
            self._intents_by_artifact = matchgraph.intents_by_artifact(self.store)
        return self._intents_by_artifact

    def recompute(self, view: CatalogView) -> dict[str, float]:
        """Recompute Match Graph scores from the whole graph and store them for every worker."""
        # authoritative(): a degraded read (a Redis outage behind the spool) must never become stored scores
        g = matchgraph.add_matches(matchgraph.catalog_graph(view.artifacts.values()), self.store.authoritative())
        scores = matchgraph.match_scores(g)
        self.store.put_match_scores(scores)
        matchgraph.save(g, self.data_dir / "matchgraph.json")
        self.invalidate()
        return scores

    def rebuild(self, aliases: Mapping[str, str] | None = None) -> int:
        """Re-derive all match state from the event log (what was recorded under an old id of a merged
        record counts for its canonical id: `aliases`); returns the number of logged events. Clears a
        reported loss of match history (the operator has seen it)."""
        self.store.rebuild(aliases=aliases)
        self.history.clear()
        self.invalidate()
        return self.store.last_seq()

    # --- analytics and health ----------------------------------------------------------------------
    def times_matched(self, artifact_ids: Iterable[str], view: CatalogView | None = None) -> dict[str, int]:
        """Times Matched; with a view, counting what is still recorded under old ids (graph/aliases.py)."""
        ids = list(artifact_ids)
        if view is None or not len(view.aliases):
            return self.store.times_matched(ids)
        return view.aliases.fold(self.store.times_matched(view.aliases.expand(ids)), ids)

    def capability_times_matched(self, capability_ids: Iterable[str]) -> dict[str, int]:
        return self.store.capability_times_matched(list(capability_ids))

    def hidden_queries(self) -> set[str]:
        return self.store.hidden_queries()

    def top_artifacts(self, limit: int = 10, since: str | None = None) -> list[tuple[str, int]]:
        """Most matched artifact ids with their Times Matched, all time or since a day (YYYY-MM-DD)."""
        return self.store.top_artifacts(limit=limit, since=since)

    def timeline(self, artifact_id: str, since: str | None = None) -> list[tuple[str, int]]:
        """(day, Times Matched) of one artifact."""
        return self.store.timeline(artifact_id, since=since)

    def searches_per_day(self, since: str | None = None) -> list[tuple[str, int]]:
        return self.store.searches_per_day(since=since)

    def queries(self, kind: str, limit: int = 20) -> list[QueryStat]:
        """Zero-result, low-confidence or most frequent ("top") queries."""
        return self.store.queries(kind, limit=limit)

    def summary(self) -> dict[str, int]:
        """Store totals (searches, feedback, clicks, intents, ...)."""
        return self.store.summary()

    def compact(self, retain_s: float) -> dict[str, int]:
        """Archive match-log events older than `retain_s` to files and trim them from Redis (no-op on
        SQLite); `rebuild` replays archive + tail. Returns {"archived", "retained"}."""
        return self.store.compact(retain_s)

    def store_health(self) -> dict:
        """`{"store": bool}` and, behind the Redis outage spool, `"spool"`; `"degraded": [reason]` when the store
        lost the match history this host counted on (search/history.py); a dead store reads as
        `{"store": False, "store_error": <exception type>}`, never raises."""
        try:
            out: dict = {"store": bool(self.store.ping())}
            if hasattr(self.store, "status"):  # the Redis outage spool: primary up? events waiting?
                out["spool"] = self.store.status()
            out["degraded"] = self.degraded_reasons()
            if self.history.check():
                out["degraded"].append(self.history.reason)
            return out
        except Exception as exc:
            return {"store": False, "store_error": type(exc).__name__}

    def degraded_reasons(self) -> list[str]:
        """Why this host serves searches but cannot record them (full disk, damaged matches.db): empty when
        all is well. `/readyz` reports them; admin writes are refused while there are any."""
        reasons = getattr(self.store, "degraded_reasons", None)
        return list(reasons()) if reasons is not None else []

    # --- who: user keys, the network rule and signed tokens (search/identity.py) ----------------------
    user_secret: bytes = b""  # the data dir's user-key secret, set by the Engine

    def user_key(self, token: str | None = None, address: str | None = None, agent: str | None = None) -> str:
        """The pseudonymous key of a request's user: HMAC of `user_token`, else of address + User-Agent."""
        return identity.user_key(self.user_secret, token, address, agent)

    def who(self, token: str | None = None, address: str | None = None, agent: str | None = None) -> Who:
        """A request's identity and the person it counts as (search/identity.py: network rule, signed tokens)."""
        c = self.config
        return identity.who(self.user_secret, token, address, agent, site_secret=c.site_secret,
                            v4_prefix=c.network_prefix_v4, v6_prefix=c.network_prefix_v6)

    def admit(self, user: Who) -> Who | None:
        """The keys a search to be recorded carries (an unsigned identity counts for the network it was first
        seen on), or None (serve it, do not record it) beyond the new identities one network may bring per
        hour (`new_identities_per_hour`): graph/dedup.py `place`."""
        home = self.dedup.place(user.network, user.identity, self.config.new_identities_per_hour, time.time())
        if home is None:
            return None
        return user if home == user.network else Who(user.identity, "n" + home, home)
