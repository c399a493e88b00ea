"""The engine: the one door callers talk to, a facade over three parts that own their state: catalog state
(search/catalogstate.py; the immutable `CatalogView` swapped by one reference), the query pipeline
(search/pipeline.py, search/fusion.py) and the evidence (search/evidence.py). A request sees one whole
catalog state: the door checks for a new generation once (`begin_request`) and pins that view."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from graph.scores import ScoreBook, Scores
from graph.settings import Settings
from graph.store import open_catalog_feed, open_store, store_options
from graph.store.base import MatchStore, QueryStat
from search import catalogview, generation_layout, identity, servedgen
from search.catalogstate import CatalogState, IngestReport, RefusedBootstrap
from search.catalogview import CatalogView
from search.constraints import facts_in
from search.embedder import Embedder
from search.evidence import POPULAR_CHARS, Evidence, Shown
from search.facade import via
from search.learning import IntentMemory
from search.names import compact
from search.pipeline import FACET_FIELDS, Hit, Options, QueryPipeline, SearchResult, open_query_cache
from search.vectorcache import QueryVectors, VectorCache

__all__ = ["CATALOG_FILE", "FACET_FIELDS", "POPULAR_CHARS", "TOKEN_PATTERN", "Engine", "Hit", "IngestReport",
           "QueryStat", "RefusedBootstrap", "SearchResult", "Shown", "servedgen"]  # servedgen: the CLI's generations
CATALOG_FILE, GRAPH_FILE, MANIFEST_FILE = generation_layout.FILES  # the layout's names, importable from here
TOKEN_PATTERN = identity.TOKEN_PATTERN  # the shape of a `user_token`, for request models
Who, load_user_secret = identity.Who, identity.load_secret  # a request's identity; a data dir's user-key secret


class Engine:
    """Loads the committed generation of a data dir and serves searches over it."""

    def __init__(self, config: Settings, *, embedder: Embedder | None = None,
                 store: MatchStore | None = None) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # the store first: a store that refuses us (wrong password) fails start-up before the model loads
        store = store or open_store(config.store_url, self.data_dir, **store_options(config))
        self.cache = VectorCache(self.data_dir / "vectors.db")
        self.embedder = embedder or Embedder.from_settings(config, self.cache, self.data_dir / "models")
        if self.embedder.cache is None:
            self.embedder.cache = self.cache
        self.feed = open_catalog_feed(config.store_url, config)
        self.query_cache = open_query_cache(config) or QueryVectors(self.embedder)  # Redis, else vectors.db
        self.intents = IntentMemory(self.embedder, store)
        self._user_secret = identity.load_secret(config.user_secret, self.data_dir)
        self.catalog = CatalogState(config, self.data_dir, self.embedder, self.feed)
        self.pipeline = QueryPipeline(config, self.embedder, self.query_cache, self.intents)
        self.evidence = Evidence(config, store, self.intents, self.data_dir)
        self.evidence.user_secret = self._user_secret
        self.dedup = self.evidence.dedup
        self._pinned: ContextVar[CatalogView | None] = ContextVar(f"engine-{id(self)}", default=None)
        self.reload()

    # --- one whole state per request ---------------------------------------------------------------
    def begin_request(self) -> CatalogView:
        """Pin the catalog view for the current request (this thread's context): the generation pointer is
        read once here, and everything the request asks the engine reads that one view."""
        view = self._pinned.get()
        if view is None:
            view = self._fresh()
            self._pinned.set(view)
        return view

    def end_request(self) -> None:  # the request is over: unpin its view
        self._pinned.set(None)

    def _fresh(self) -> CatalogView:
        try:
            self.catalog.reload()
        except Exception:  # logged in reload; keep serving the generation in memory
            pass
        return self.catalog.view

    def view(self) -> CatalogView:
        """The request's pinned view, else the live one."""
        return self._pinned.get() or self.catalog.view

    reload = via("catalog", "reload")  # load the committed generation if it differs from the one in memory

    # --- the catalog, as the request sees it -------------------------------------------------------
    artifacts = property(lambda self: self.view().artifacts)
    capabilities = property(lambda self: self.view().capabilities)
    index = property(lambda self: self.view().index)
    lexical = property(lambda self: self.view().lexical)
    artifact_vectors = property(lambda self: self.view().artifact_vectors)
    names = property(lambda self: self.view().names)
    directions = property(lambda self: self.view().directions)
    generation = property(lambda self: self.view().generation)
    catalog_version = property(lambda self: self.view().catalog_version)
    dim = property(lambda self: self.embedder.dim)
    model_id = property(lambda self: self.embedder.model_id, doc="The encoder's model id (model, layers, pooling).")
    index_kind = property(lambda self: self.view().index.kind, doc='"exact" or "ivf".')
    _lock = property(lambda self: self.catalog.lock)
    follows_feed = property(lambda self: self.feed is not None, doc="On a shared catalog feed (Redis store)?")

    @property
    def config(self) -> Settings:
        return self._config

    @config.setter
    def config(self, config: Settings) -> None:
        """New settings reach every part (benchmarks and tests switch ranking options on a live engine)."""
        self._config = config
        for part in ("catalog", "pipeline", "evidence"):
            if hasattr(self, part):
                getattr(self, part).configure(config)

    store = property(lambda self: self.evidence.store, lambda self, store: setattr(self.evidence, "store", store),
                     doc="The match store (owned by the evidence; tests swap it).")

    # --- writing (search/catalogstate.py) ----------------------------------------------------------
    ingest = via("catalog", "ingest")  # validate every record of the files, upsert them in one generation
    apply = via("catalog", "apply")  # upserts and deletes: memory and disk move together or not at all
    delete = via("catalog", "delete")
    follow = via("catalog", "follow")  # apply what other hosts published to the shared catalog feed
    catalog_degraded = via("catalog", "degraded_reasons")  # a fallback generation, a feed that lost us (/readyz)
    join = via("catalog", "join")  # a new host: take the shared catalog and commit it locally
    publish_snapshot = via("catalog", "publish_snapshot")
    bootstrap = via("catalog", "bootstrap")  # the bundled catalog into an empty data dir, never over a damaged one

    # --- searching (search/pipeline.py) ------------------------------------------------------------
    encode_query = via("pipeline", "encode_query")

    def search(self, query: str, k: int = 10, *, record: bool = True, **options) -> SearchResult:
        """Rank artifacts for a query (options: offset, types, pricing, learn, mode, facets, user, preview,
        constraints, interpret, ignore: `search.pipeline.Options`); records what was served when `record`."""
        return self.search_batch([query], k, record=record, **options)[0]

    def search_batch(self, queries: Sequence[str], k: int = 10, *, record: bool = True,
                     **options) -> list[SearchResult]:
        started = time.perf_counter()
        view = self._pinned.get() or self._fresh()
        results = self.pipeline.search_batch(view, queries, Options(k=k, keep_vector=record, **options))
        for result in results:
            if record:
                self.evidence.record(result)
            result.took_ms = round((time.perf_counter() - started) * 1000, 2)
        return results

    def serve(self, result: SearchResult, record: bool = True) -> Shown:
        """What a door shows of a search it serves: the scores of its hits, then (when `record`) the search
        recorded as served, then the Times Matched, which count it."""
        book = self.scorebook()  # what can fail comes first: a search that fails is not a match
        return self.evidence.shown(book, result, record, self.view())

    def suggest(self, prefix: str, k: int = 8, types: Sequence[str] = ()) -> list:
        """Name completions as the user types (`search.names.NameIndex.suggest`); no embedding."""
        return self.view().names.suggest(prefix, k=k, types=types)

    def named(self, text: str) -> list[str]:
        """Every artifact `text` names exactly (search/catalogview.py `named`)."""
        return catalogview.named(self.view(), text)

    def resolve(self, text: str) -> str | None:
        """The artifact id a user means by an id or a name; None if unknown or ambiguous."""
        return self.view().names.resolve(text)

    name_key = staticmethod(compact)  # case-, accent-, punctuation- and separator-insensitive form of a name

    # --- related artifacts (search/related.py reads the facade, never the parts) -------------------
    similar = via("related", "similar")  # (artifact_id, k=5, types=()) -> alternatives
    recommend = via("related", "recommend")  # (positive, negative=(), query=None, k=10, types=())
    compare, credits = via("related", "compare"), via("related", "credits")  # (2-4 ids) -> verdict; (id) -> credits

    def capability_vector(self, capability_id: str) -> np.ndarray:
        return self.view().index.reconstruct(capability_id)

    def artifact_vector(self, artifact_id: str) -> np.ndarray:
        """The artifact's vector (from its capabilities'); KeyError when it has none."""
        return self.view().artifact_vectors[artifact_id]

    def artifact_matrix(self, exclude: set[str] = frozenset(), types: Sequence[str] = ()) \
            -> tuple[list[str], np.ndarray]:
        """Ids and stacked vectors of the artifacts with a vector, minus `exclude`, of `types` if given."""
        return catalogview.matrix(self.view(), exclude, types, self.dim)

    # --- who (search/evidence.py: user keys, the network rule, signed tokens) ------------------------
    valid_token = staticmethod(identity.valid_token)
    user_key = via("evidence", "user_key")  # pseudonymous key: HMAC of `user_token`, else address + agent
    who = via("evidence", "who")  # a request's identity and the person it counts as
    admit = via("evidence", "admit")  # the keys a recorded search carries, or None beyond the hourly cap

    # --- evidence (search/evidence.py) -------------------------------------------------------------
    def scorebook(self) -> ScoreBook:
        """Scores of the request's catalog view (refreshed after `scores_ttl_s` or a recompute)."""
        return self.evidence.scorebook(self.view())

    def scores(self, artifact_id: str) -> Scores: return self.scorebook().scores(artifact_id)  # noqa: E704

    def facts(self, artifact_id: str) -> dict:
        """The artifact's facts (graph/facts.py), derived once per catalog view; the caller gets its own copy."""
        return dict(facts_in(self.view(), artifact_id))

    def evaluations(self, artifact_id: str) -> tuple[list[str], list[str]]:
        """(datasets the artifact was evaluated on, models evaluated on it), over the request's view."""
        return catalogview.evaluations(self.view(), artifact_id)

    def recompute(self) -> dict[str, float]:
        """Recompute Match Graph scores from the whole graph and store them for every worker."""
        return self.evidence.recompute(self.view())

    record = via("evidence", "record")  # a served search, once its response is built; twice is a no-op
    feedback = via("evidence", "feedback")  # a click, dwell or vote (UnknownSearch, NotServed, NotYours, ...)
    feedback_many = via("evidence", "feedback_many")
    popular_searches = via("evidence", "popular_searches")
    hide_query = via("evidence", "hide_query")
    hidden_queries = via("evidence", "hidden_queries")
    intents_by_artifact = via("evidence", "intents_by_artifact")
    train_ranker = via("ranker", "train")  # fit the fusion of text and pooled evidence on the log (search/ranker.py)
    def times_matched(self, artifact_ids: Iterable[str]) -> dict[str, int]:
        """Times Matched, counting what is still recorded under an artifact's old ids (graph/aliases.py)."""
        return self.evidence.times_matched(artifact_ids, self.view())

    def canonical(self, artifact_id: str) -> str | None:
        """The id an artifact is served under: itself, the canonical id of an old id, or None if unknown."""
        return catalogview.canonical(self.view(), artifact_id)

    def rebuild(self) -> int:
        """Re-derive all match state from the event log, old ids of merged records as their canonical ids."""
        return self.evidence.rebuild(aliases=self.view().aliases.mapping)

    capability_times_matched = via("evidence", "capability_times_matched")
    top_artifacts = via("evidence", "top_artifacts")
    timeline = via("evidence", "timeline")
    searches_per_day = via("evidence", "searches_per_day")
    queries = via("evidence", "queries")
    search_stats = via("evidence", "search_stats")  # (since, until, limit): top queries with CTR, gaps, by range
    summary = via("evidence", "summary")
    store_health = via("evidence", "store_health")

    def degraded_reasons(self) -> list[str]:
        """Why writes are refused: the catalog's (fallback, feed) and the store's (full disk, damaged db)."""
        return self.catalog.degraded_reasons() + self.evidence.degraded_reasons()
    compact = via("evidence", "compact")

    def close(self) -> None:
        for part in (self.evidence.store, self.catalog, self.feed, self.query_cache):
            if part is not None:
                part.close()
