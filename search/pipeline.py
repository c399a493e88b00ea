"""The query pipeline: candidates, fusion, tiers, learning and hits, over one `CatalogView`.

Batch search is the primitive (one encoder pass per query through its caches, one index call for the whole
batch); a single search is a batch of one. It reads only the view it is handed, so a request sees one whole
catalog state however many reloads happen meanwhile; it records nothing (search/evidence.py does).
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from graph.catalog import Artifact, Capability
from graph.events import normalise_query
from graph.settings import REDIS_SCHEMES, Settings
from search import boosts, catalogview, overlap, relevance
from search import constraints as constraint
from search import direction as directions
from search.catalogview import CatalogView
from search.embedder import Embedder
from search.fusion import Hybrid
from search.identity import Who
from search.learning import IntentMemory, Pooled
from search.ranking import group_numbered

FACET_FIELDS = ("type", "pricing")
MAX_DIRECTION_CANDIDATES = 64  # artifacts matching a query's direction added beyond the vector search's reach
ENCODER_CHARS = 4096  # the encoder sees its first max_length tokens anyway: do not tokenise pages it drops


@dataclass
class Hit:
    """One ranked artifact of a search."""

    rank: int
    artifact: Artifact
    score: float
    capabilities: list[tuple[str, float]]
    dense: float = 0.0
    lexical: float = 0.0
    learned: float = 0.0
    why: list[str] = field(default_factory=list)

    def artifact_capability(self, capability_id: str) -> str:
        """Display title of one of this artifact's capabilities."""
        for c in self.artifact.capabilities:
            if c.id == capability_id:
                return c.label
        return capability_id


@dataclass
class SearchResult:
    search_id: str
    query: str
    took_ms: float
    hits: list[Hit]
    total: int
    low_confidence: bool = False
    learned_from: dict[str, list[str]] = field(default_factory=dict)
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    understood: dict = field(default_factory=dict)
    normalised: str = ""
    vector: np.ndarray | None = field(default=None, repr=False)
    recorded: bool = False
    user: str = ""  # whose evidence it is (person key: search/identity.py), recorded with the search
    preview: bool = False
    filtered: bool = False
    owner: str = ""  # the identity that made it (only it may give feedback on it: search/owners.py)
    verdict: relevance.Verdict | None = field(default=None, repr=False)  # the match decision (search/relevance.py)
    suggestions: list[str] = field(default_factory=list)  # when nothing matched: what the query may have meant


@dataclass(frozen=True)
class Options:
    """How a batch of queries is searched (the same for every query of the batch)."""

    k: int = 10
    offset: int = 0
    types: Sequence[str] = ()
    pricing: Sequence[str] = ()
    learn: bool = True
    mode: str = "hybrid"
    facets: Sequence[str] = ()
    user: str | Who = ""  # a person key, or a request's keys (search/identity.py)
    preview: bool = False
    keep_vector: bool = True  # the caller records the search: it needs the query vector
    constraints: Mapping | constraint.Constraints = field(default_factory=dict)  # explicit (search/constraints.py)
    interpret: bool = True  # read constraints from the query's words too
    ignore: Sequence[str] = ()  # constraints the words stated that the user dropped (their params)

    @property
    def filtered(self) -> bool:
        return bool(self.types or self.pricing)

    def allowed(self, artifacts: Mapping[str, Artifact], artifact_id: str) -> bool:
        a = artifacts.get(artifact_id)
        return a is not None and (not self.types or a.type in self.types) and \
            (not self.pricing or a.pricing in self.pricing)


@dataclass
class _Candidates:
    """What one query gathered from the view before fusion."""

    grouped: dict[str, list[tuple[str, float]]]
    lexical: dict[str, float]
    names: dict
    agree: Mapping[str, tuple[float, list[str]]]  # read only (cached per view: search/direction.py)
    asked: directions.Direction
    agreeing: bool = False  # some artifact matches every direction the query states


class QueryPipeline:
    """Ranks artifacts of a view for queries: only the matches of a calibrated relevance decision
    (`search.relevance`), by one score: relevance (dense + BM25 + what was learned from feedback) plus bounded
    parts for a name the query types (`search.names`) and for direction agreement (`search.direction`),
    so a rule reorders only comparable matches (`search.boosts`)."""

    def __init__(self, config: Settings, embedder: Embedder, query_cache, intents: IntentMemory) -> None:
        self.config, self.embedder, self.query_cache, self.intents = config, embedder, query_cache, intents
        self.hybrid = Hybrid(config.lexical_weight, config.multi_match_credit)
        self.judge = relevance.Judge(relevance.load(config.data_dir, embedder.model_id, config.match_margin),
                                     self.embedder.encode)  # probes: one batch, kept in the data dir's cache

    def configure(self, config: Settings) -> None:
        self.config = config
        self.hybrid = Hybrid(config.lexical_weight, config.multi_match_credit)
        self.judge = relevance.Judge(relevance.load(config.data_dir, self.embedder.model_id, config.match_margin),
                                     self.embedder.encode)  # probes: one batch, kept in the data dir's cache

    def encode_query(self, text: str) -> np.ndarray:
        """Query vector: the embedder's LRU, then the Redis query cache when the store is Redis, then the model."""
        return self.embedder.encode_query(text, shared=self.query_cache)

    def search(self, view: CatalogView, query: str, options: Options) -> SearchResult:
        """One search: a batch of one."""
        return self.search_batch(view, [query], options)[0]

    def search_batch(self, view: CatalogView, queries: Sequence[str], options: Options) -> list[SearchResult]:
        """Rank the view's artifacts for each query. `mode` "dense" or "lexical" switches one signal off (for
        evaluation; "lexical" embeds nothing when nothing is recorded or learned)."""
        started = time.perf_counter()
        named, wanted, texts = self._read(view, queries, options)
        needs_vector = options.mode != "lexical" or options.keep_vector or \
            (options.learn and self.config.learned_cap > 0)
        vectors = [self.encode_query(t[:ENCODER_CHARS]) if needs_vector else None for t in texts]
        n = len(view.index)
        depth = constraint.depth(view, options.k, options.filtered, [w for w, _ in wanted])
        # what needs no hits is gathered on a pool thread while this one scans the index (search/overlap.py)
        learn = options.learn and self.config.learned_cap > 0
        early = overlap.start(self._early, view, queries, texts, vectors, options.mode, learn)
        if n and options.mode != "lexical":
            found = view.index.search_numbered(np.stack(vectors), depth)  # named in _candidates, one lookup a hit
        else:
            found = [([], []) for _ in queries]
        gathered = early.result()
        out = []
        for query, text, vector, hits, (w, _), tiers, (lexical, asked, evidence, coverage) in zip(
                queries, texts, vectors, found, wanted, named, gathered, strict=True):
            cands = self._candidates(view, vector, hits, options.mode, tiers, lexical, asked)
            result = self._rank(view, query, text, vector, cands, constraint.with_constraints(options, w), evidence,
                                coverage)
            result.understood, result.filtered = constraint.echo(result.understood, w), result.filtered or w.filters()
            result.took_ms = round((time.perf_counter() - started) * 1000, 2)
            out.append(result)
        return out

    def _early(self, view: CatalogView, queries: Sequence[str], texts: Sequence[str],
               vectors: Sequence[np.ndarray | None], mode: str, learn: bool) -> list[tuple]:
        """Per query, what its ranking needs besides the index's hits: BM25 scores, the directions it states,
        the evidence of similar past searches (when learning) and the query's coverage of each document (for
        the match decision)."""
        out = []
        for query, text, vector in zip(queries, texts, vectors, strict=True):
            lexical = view.lexical.scores(text) if mode != "dense" else {}
            asked = directions.parse(query) if self.config.direction_ranking else directions.Direction()
            evidence = self.intents.evidence(vector, self.config) if learn and vector is not None else None
            coverage = view.lexical.coverage(text) if mode == "hybrid" else None
            out.append((lexical, asked, evidence, coverage))
        return out

    def _read(self, view: CatalogView, queries: Sequence[str], options: Options) -> tuple[list, list, list[str]]:
        """Per query: its name tiers, its constraints with the text left to rank, and that text normalised."""
        named = [view.names.match(q) for q in queries]  # once per query: constraints and the name tiers read it
        wanted = [constraint.read(q, options.constraints, interpret=options.interpret, ignore=options.ignore,
                                  types=options.types, pricing=options.pricing,
                                  named=constraint.is_name(n)) for q, n in zip(queries, named, strict=True)]
        return named, wanted, [normalise_query(rest) or rest for _, rest in wanted]

    def encoder_text(self, view: CatalogView, query: str, options: Options | None = None) -> str:
        """The text a search of `query` sends to the encoder (benchmarks time the encoder on exactly it)."""
        return self._read(view, [query], options or Options())[2][0][:ENCODER_CHARS]

    def _candidates(self, view: CatalogView, vector: np.ndarray | None, hits: tuple[list[int], list[float]],
                    mode: str, tiers: Mapping[str, tuple], lexical: dict[str, float],
                    asked: directions.Direction) -> _Candidates:
        """Capability hits grouped by artifact, with the BM25 scores, name tiers and direction agreement;
        artifacts named by the query, or matching its direction, are candidates even when the vector search
        did not reach them: scored on their own capabilities."""
        grouped = group_numbered(*hits, catalogview.hit_owners(view)) if hits[0] else {}
        artifacts = view.artifacts
        names = tiers if self.config.name_ranking else {}
        agree, agreeing = directions.agreeing(view, asked) if asked else ({}, ())
        matching = [a for members in agreeing for a in members if a not in grouped]
        vecs = view.artifact_vectors
        if len(matching) > MAX_DIRECTION_CANDIDATES and vector is not None:  # keep the nearest ones
            sims = np.stack([vecs[a] for a in matching]) @ vector
            matching = [matching[i] for i in np.argsort(-sims)[:MAX_DIRECTION_CANDIDATES]]
        caps_of = {a: artifacts[a].capabilities for a in set(names) | set(matching)
                   if a not in grouped and a in artifacts}
        if vector is not None and mode != "lexical":
            for a, caps in caps_of.items():
                sims = _similarities(view.index, caps, vector)
                if sims:
                    grouped[a] = sims
        return _Candidates(grouped, lexical, names, agree, asked, bool(agreeing))

    def _rank(self, view: CatalogView, query: str, text: str, vector: np.ndarray | None, c: _Candidates,
              options: Options, evidence: Pooled | None = None,
              coverage: tuple[np.ndarray, float] | None = None) -> SearchResult:
        """The match decision (search/relevance.py), fusion, learning and the rules' parts into one score
        (search/boosts.py), then one page of hits."""
        artifacts, names, agree = view.artifacts, c.names, c.agree
        whole = _whole(view)  # every candidate id is an artifact of the view: no membership test per candidate
        dense_all = self.hybrid.dense(c.grouped, None if whole else artifacts) if options.mode != "lexical" else {}
        stated = c.agreeing or constraint.states_a_kind(options.constraints)  # any agreement > 0
        verdict = self.judge.verdict(view, text, c.grouped, c.lexical, names, stated, coverage) \
            if options.mode == "hybrid" else None  # the evaluation modes keep every candidate

        # the matches; every id of the pool is in `artifacts` (dense_all holds only those)
        pool = set(dense_all)
        pool.update(c.lexical if whole else [a for a in c.lexical if a in artifacts],
                    [a for a in names if a in artifacts])
        if verdict is not None:
            keeps = verdict.keeps
            pool = {a for a in pool if keeps(a)}
        if options.filtered:
            def allowed(artifact_id: str) -> bool:
                return artifact_id in pool and options.allowed(artifacts, artifact_id)
        else:
            allowed = pool.__contains__

        facet_counts = facet_counts_of(artifacts, pool, options) if options.facets else {}
        dense = {a: s for a, s in dense_all.items() if allowed(a)}
        lexical = {a: s for a, s in c.lexical.items() if allowed(a)}
        fused = self.hybrid.fuse(dense, lexical, names, allowed)
        learned, why = ({}, {})
        if options.learn and self.config.learned_cap > 0 and vector is not None:
            learned, why = self.intents.learned(vector, fused, self.config, view.generation, evidence)
            learned = {a: v for a, v in learned.items() if allowed(a) and a in fused}
        final = self.hybrid.final(fused, learned)
        boost = self.config.direction_boost
        parts = {a: boosts.parts(names.get(a), agree.get(a), boost) for a in
                 ([a for a in final if a in names or a in agree] if names or agree else ())}
        score = {a: s + sum(size for _, size in parts[a]) if a in parts else s for a, s in final.items()} \
            if parts else final
        # one score, in order (search/boosts.py), unless a constraint asks for another sort: by score, best
        # first, ties by id (a stable sort by score, descending, of the ids in order)
        order = sorted(score)
        order.sort(key=score.__getitem__, reverse=True)
        order = constraint.apply(view, order, score, options.constraints)
        top_lex = max(lexical.values(), default=0.0)
        ranked = []
        for rank, a in enumerate(order[options.offset:options.offset + options.k], start=options.offset + 1):
            ranked.append(Hit(rank, artifacts[a], score[a], c.grouped.get(a, [])[:5], dense.get(a, 0.0),
                              lexical.get(a, 0.0) / top_lex if top_lex else 0.0, learned.get(a, 0.0),
                              boosts.why(fused[a], parts.get(a, []), learned.get(a, 0.0))))
        low = verdict is not None and verdict.flagged(self.config.low_confidence)
        return SearchResult(uuid.uuid4().hex, query, 0.0, ranked, len(order), low, why, facets=facet_counts,
                            understood=c.asked.to_dict(), normalised=text, vector=vector,
                            user=options.user.person if isinstance(options.user, Who) else options.user,
                            preview=options.preview, filtered=options.filtered,
                            owner=options.user.identity if isinstance(options.user, Who) else "",
                            verdict=verdict, suggestions=relevance.suggestions(view, query, verdict, order))


_WHOLE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # view -> bool


def _whole(view: CatalogView) -> bool:
    """Does every capability and every BM25 document of the view belong to one of its artifacts? True by
    construction (search/catalogview.py derives both from the artifacts); checked once per view, so the
    candidates of a request need no lookup each in the whole artifact table (a cache miss apiece at 100k)."""
    found = _WHOLE.get(view)
    if found is None:
        artifacts = view.artifacts
        found = all(c.artifact_id in artifacts for c in view.capabilities.values()) and \
            all(a in artifacts for a in view.lexical.ids)
        _WHOLE[view] = found
    return found


def open_query_cache(config: Settings):
    """A Redis query-vector cache when the store URL is Redis (TTL `query_cache_ttl`, 0 = off)."""
    ttl = config.query_cache_ttl
    if not config.store_url.startswith(REDIS_SCHEMES) or ttl <= 0:
        return None
    from search.querycache import RedisQueryCache  # imported only with a Redis store

    return RedisQueryCache(config.store_url, ttl_s=ttl)


def facet_counts_of(artifacts: Mapping[str, Artifact], pool: set[str], options: Options) -> dict[str, dict[str, int]]:
    """Counts per value of each facet over the query's matches, under the filters of the other facets
    (disjunctive faceting: the type counts say what each type option would return with this pricing)."""
    out: dict[str, dict[str, int]] = {}
    types, pricing = options.types, options.pricing
    for name in options.facets:
        counts: dict[str, int] = {}
        for a in pool:
            art = artifacts[a]
            if name == "type" and pricing and art.pricing not in pricing:
                continue
            if name == "pricing" and types and art.type not in types:
                continue
            value = art.type if name == "type" else art.pricing
            counts[value] = counts.get(value, 0) + 1
        out[name] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return out


def _similarities(index, caps: Sequence[Capability], vector: np.ndarray) -> list[tuple[str, float]]:
    """(capability id, cosine) of the capabilities the index holds, best first (stable: ties keep catalog
    order). `reconstruct` raises KeyError for an id it does not hold: one id lookup per capability, not two."""
    sims = []
    for c in caps:
        try:
            sims.append((c.id, float(index.reconstruct(c.id) @ vector)))
        except KeyError:
            continue
    sims.sort(key=lambda cs: -cs[1])
    return sims
