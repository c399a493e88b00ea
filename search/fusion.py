"""Hybrid fusion: dense capability similarity + BM25 + what was learned, into one relevance per artifact.

A small object of its own, the way txtai keeps `Hybrid` beside its index: the weights live here and the
query pipeline (search/pipeline.py) only hands it the signals of one query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from search.ranking import fuse


class Hybrid:
    """Fuses dense and lexical scores (`lexical_weight`), crediting further matching capabilities
    (`multi_match_credit`), then adds the learned bonus."""

    def __init__(self, lexical_weight: float, multi_match_credit: float) -> None:
        self.lexical_weight = lexical_weight
        self.multi_match_credit = multi_match_credit

    def dense(self, grouped: Mapping[str, list[tuple[str, float]]], known: Mapping | None) -> dict[str, float]:
        """Dense score per artifact (of those in `known`; None: every one) from its capability similarities, best first:
        `search.ranking.dense_score`, inlined over the candidates (the same arithmetic in the same order)."""
        credit = self.multi_match_credit
        out: dict[str, float] = {}
        for a, caps in grouped.items():
            if known is not None and a not in known:
                continue
            if not caps:
                out[a] = 0.0
                continue
            best = caps[0][1]
            extra = 0
            if len(caps) > 1:
                half = best / 2
                for _, s in caps[1:4]:
                    extra += max(0.0, s - half)
            out[a] = best + credit * extra
        return out

    def fuse(self, dense: Mapping[str, float], lexical: Mapping[str, float], named: Mapping[str, object],
             allowed: Callable[[str], bool]) -> dict[str, float]:
        """Dense + normalised BM25; an artifact the query names is a candidate even with neither signal."""
        fused = fuse(dense, lexical, self.lexical_weight)
        for a in named:
            if a not in fused and allowed(a):
                fused[a] = 0.0
        return fused

    @staticmethod
    def final(fused: Mapping[str, float], learned: Mapping[str, float]) -> dict[str, float]:
        """Relevance: the fused score plus the learned bonus."""
        return {a: s + learned.get(a, 0.0) for a, s in fused.items()}
