"""The query pipeline's ranking stages as they were before issue 32's third round (main at 55ed7bd), kept
verbatim so the faster stages can be proved to give identical answers: `tests/test_pipeline_identical.py`
compares the two over the same view, and `python -m bench.profile --pipeline-ab` times them side by side
(one engine, alternating per query) and counts identical results over a dev set.

`ReferencePipeline` is the served `QueryPipeline` with its loop, `_candidates` and `_rank` replaced by the old
code (the loop scanning the index before the other stages, where search/overlap.py now runs them beside the
scan; grouping, BM25's top-k, the lexical coverage, direction parsing and agreement, dense fusion, the pool and
the sort as they were); every other stage is shared (the encoder, name tiers, the match decision's own code,
learning).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping

import numpy as np

from search import boosts, relevance
from search import constraints as constraint
from search import direction as directions
from search.identity import Who
from search.lexical import query_tokens
from search.pipeline import (
    ENCODER_CHARS,
    MAX_DIRECTION_CANDIDATES,
    Hit,
    QueryPipeline,
    SearchResult,
    _Candidates,
    facet_counts_of,
)

# direction parsing without the cache it has now
_parse = getattr(directions.parse, "__wrapped__", directions.parse)


def group_hits(hits: Iterable[tuple[str, float]], owner: Mapping[str, str]) -> dict[str, list[tuple[str, float]]]:
    grouped: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for cap_id, sim in hits:
        artifact_id = owner.get(cap_id)
        if artifact_id is not None:
            grouped[artifact_id].append((cap_id, sim))
    for caps in grouped.values():
        caps.sort(key=lambda c: -c[1])
    return grouped


def dense_score(sims: list[float], credit: float) -> float:
    if not sims:
        return 0.0
    best = sims[0]
    extra = sum(max(0.0, s - best / 2) for s in sims[1:4])
    return best + credit * extra


def lexical_scores(lexical, query: str, limit: int = 200) -> dict[str, float]:
    """`LexicalIndex.scores` as it was: bm25s's scores, then argpartition over every document."""
    if lexical._bm25 is None:
        return {}
    tokens = list(query_tokens(query))
    if not tokens:
        return {}
    raw = lexical._bm25.get_scores(tokens)
    if not raw.any():
        return {}
    top = np.argpartition(-raw, min(limit, len(raw) - 1))[:limit]
    return {lexical.ids[i]: float(raw[i]) for i in top if raw[i] > 0}


def lexical_coverage(lexical, query: str) -> tuple[np.ndarray, float]:
    """`LexicalIndex.coverage` as it was (a fancy-indexed add per query term)."""
    n = len(lexical.ids)
    tokens = list(dict.fromkeys(query_tokens(query))) if lexical._bm25 is not None else []
    got = np.zeros(n, dtype=np.float32)
    if not tokens:
        return got, 0.0
    s, vocab = lexical._bm25.scores, lexical._bm25.vocab_dict
    indptr, indices = s["indptr"], s["indices"]
    rare = float(np.log(1.0 + n / 0.5))
    total = known = 0.0
    for token in tokens:
        v = vocab.get(token)
        docs = indices[indptr[v]:indptr[v + 1]] if v is not None and v + 1 < len(indptr) else indices[:0]
        weight = float(np.log(1.0 + n / (len(docs) + 0.5))) if len(docs) else rare
        total += weight
        if len(docs):
            known += weight
            got[np.asarray(docs)] += weight
    return got / total, known / total


class _Owner(dict):
    def __init__(self, capabilities) -> None:
        super().__init__()
        self._caps = capabilities

    def get(self, key, default=None):  # type: ignore[override]
        cap = self._caps.get(key)
        return cap.artifact_id if cap is not None else default


class ReferencePipeline(QueryPipeline):
    """The served pipeline with the pre-round candidate and ranking stages (see the module docstring)."""

    def __init__(self, served: QueryPipeline) -> None:  # shares the served pipeline's parts (judge, intents)
        self.__dict__.update(served.__dict__)

    def search_batch(self, view, queries, options):
        """The loop as it was (no scan beside the other stages), with the view's lexical coverage as it was
        (for the match decision)."""
        lexical = view.lexical
        lexical.coverage = functools.partial(lexical_coverage, lexical)
        try:
            return self._loop(view, queries, options)
        finally:
            del lexical.coverage

    def _loop(self, view, queries, options):
        started = time.perf_counter()
        named, wanted, texts = self._read(view, queries, options)
        needs_vector = options.mode != "lexical" or options.keep_vector or \
            (options.learn and self.config.learned_cap > 0)
        vectors = [self.encode_query(t[:ENCODER_CHARS]) if needs_vector else None for t in texts]
        depth = constraint.depth(view, options.k, options.filtered, [w for w, _ in wanted])
        if len(view.index) and options.mode != "lexical":
            found = view.index.search(np.stack(vectors), depth)
        else:
            found = [[] for _ in queries]
        out = []
        for query, text, vector, hits, (w, _), tiers in zip(queries, texts, vectors, found, wanted, named, strict=True):
            cands = self._candidates(view, query, text, vector, hits, options.mode, tiers)
            result = self._rank(view, query, text, vector, cands, constraint.with_constraints(options, w))
            result.understood, result.filtered = constraint.echo(result.understood, w), result.filtered or w.filters()
            result.took_ms = round((time.perf_counter() - started) * 1000, 2)
            out.append(result)
        return out

    def _candidates(self, view, query, text, vector, hits, mode, tiers) -> _Candidates:
        grouped = group_hits(hits, _Owner(view.capabilities))
        lexical = lexical_scores(view.lexical, text) if mode != "dense" else {}
        artifacts = view.artifacts
        names = tiers if self.config.name_ranking else {}
        asked = _parse(query) if self.config.direction_ranking else directions.Direction()
        agree: dict[str, tuple[float, list[str]]] = {}
        matching: list[str] = []
        for d, members in (view.by_direction.items() if asked else ()):
            verdict = directions.agreement(asked, d)
            if verdict[0]:
                agree.update(dict.fromkeys(members, verdict))
                if verdict[0] > 0:
                    matching += [a for a in members if a not in grouped]
        vecs = view.artifact_vectors
        if len(matching) > MAX_DIRECTION_CANDIDATES and vector is not None:
            sims = np.stack([vecs[a] for a in matching]) @ vector
            matching = [matching[i] for i in np.argsort(-sims)[:MAX_DIRECTION_CANDIDATES]]
        caps_of = {a: artifacts[a].capabilities for a in set(names) | set(matching)
                   if a not in grouped and a in artifacts}
        if vector is not None and mode != "lexical":
            index = view.index
            for a, caps in caps_of.items():
                sims = sorted(((c.id, float(index.reconstruct(c.id) @ vector)) for c in caps if c.id in index),
                              key=lambda cs: -cs[1])
                if sims:
                    grouped[a] = sims
        return _Candidates(grouped, lexical, names, agree, asked)

    def _rank(self, view, query, text, vector, c: _Candidates, options) -> SearchResult:
        artifacts, names, agree = view.artifacts, c.names, c.agree
        credit = self.hybrid.multi_match_credit
        dense_all = {a: dense_score([s for _, s in caps], credit) for a, caps in c.grouped.items()
                     if a in artifacts} if options.mode != "lexical" else {}
        stated = any(v > 0 for v, _ in agree.values()) or constraint.states_a_kind(options.constraints)
        verdict = self.judge.verdict(view, text, c.grouped, c.lexical, names, stated) \
            if options.mode == "hybrid" else None

        pool = set(dense_all) | {a for a in c.lexical if a in artifacts} | {a for a in names if a in artifacts}
        pool = {a for a in pool if verdict is None or verdict.keeps(a)}

        def allowed(artifact_id: str) -> bool:
            return artifact_id in pool and options.allowed(artifacts, artifact_id)

        facet_counts = facet_counts_of(artifacts, pool, options) if options.facets else {}
        dense = {a: s for a, s in dense_all.items() if allowed(a)}
        lexical = {a: s for a, s in c.lexical.items() if allowed(a)}
        fused = self.hybrid.fuse(dense, lexical, names, allowed)
        learned, why = ({}, {})
        if options.learn and self.config.learned_cap > 0 and vector is not None:
            learned, why = self.intents.learned(vector, fused, self.config, view.generation)
            learned = {a: v for a, v in learned.items() if allowed(a) and a in fused}
        final = self.hybrid.final(fused, learned)
        parts = {a: boosts.parts(names.get(a), agree.get(a), self.config.direction_boost) for a in final
                 if a in names or a in agree}
        score = {a: s + sum(size for _, size in parts[a]) if a in parts else s for a, s in final.items()}
        order = constraint.apply(view, sorted(score, key=lambda a: (-score[a], a)), score, options.constraints)
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


def answer(result: SearchResult) -> dict:
    """Everything a search answers, for comparing two pipelines: hits (ids, scores, parts, why), the total,
    the match decision, facets, what was understood and learned, suggestions."""
    v = result.verdict
    return {"hits": [(h.rank, h.artifact.id, h.score, h.capabilities, h.dense, h.lexical, h.learned, h.why)
                     for h in result.hits],
            "total": result.total, "low": result.low_confidence, "facets": result.facets,
            "understood": result.understood, "learned_from": result.learned_from,
            "suggestions": result.suggestions, "filtered": result.filtered,
            "verdict": None if v is None else (v.relevance, v.best, v.known, v.evidence, v.matched, v.cut, v.floor)}
