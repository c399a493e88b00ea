"""Hybrid fusion: dense capability similarity + BM25 + what was learned, into one relevance per artifact.

A small object of its own, the way txtai keeps `Hybrid` beside its index: the weights live here and the
query pipeline (search/pipeline.py) only hands it the signals of one query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from search.names import EXACT, TYPO, WORDS
from search.ranking import dense_score, fuse

NAME_BOOST = {EXACT: 0.6, TYPO: 0.35, WORDS: 0.15}  # a name the query types, by tier
NAME_STRENGTH = 0.05  # per unit of strength within a tier (whole name or id 2, last id segment 1, less typos)


class Hybrid:
    """Fuses dense and lexical scores (`lexical_weight`), crediting further matching capabilities
    (`multi_match_credit`), then adds the learned bonus."""

    def __init__(self, lexical_weight: float, multi_match_credit: float) -> None:
        self.lexical_weight = lexical_weight
        self.multi_match_credit = multi_match_credit

    def dense(self, grouped: Mapping[str, list[tuple[str, float]]], known: Mapping) -> dict[str, float]:
        """Dense score per artifact (of those in `known`) from its capability similarities, best first."""
        return {a: dense_score([s for _, s in caps], self.multi_match_credit) for a, caps in grouped.items()
                if a in known}

    def fuse(self, dense: Mapping[str, float], lexical: Mapping[str, float], named: Mapping[str, object],
             allowed: Callable[[str], bool]) -> dict[str, float]:
        """Dense + normalised BM25; an artifact the query names is a candidate even with neither signal."""
        fused = fuse(dense, lexical, self.lexical_weight)
        for a in named:
            if a not in fused and allowed(a):
                fused[a] = 0.0
        return fused

    @staticmethod
    def boosts(name: tuple[int, float, str] | None, agreement: tuple[int, list[str]] | None,
               direction_boost: float) -> list[tuple[str, float]]:
        """The named parts of a score beyond relevance, with their size: a name the query types (exact >
        within a typo > whole words, `search.names`) and agreement with the query's direction or modality
        (`search.direction`: plus when it matches, minus when it contradicts). Bounded, so they reorder
        candidates of comparable relevance and never lift one above a much better match."""
        out = []
        if name:
            tier, strength, how = name
            out.append((f"name: {how}", NAME_BOOST.get(tier, 0.0) + NAME_STRENGTH * strength))
        if agreement and agreement[0]:
            labels = agreement[1] or ["direction: contradicts the query"]
            size = direction_boost * agreement[0]
            out.append((labels[0], size))
            out += [(label, 0.0) for label in labels[1:]]
        return out

    @staticmethod
    def final(fused: Mapping[str, float], learned: Mapping[str, float]) -> dict[str, float]:
        """Relevance: the fused score plus the learned bonus."""
        return {a: s + learned.get(a, 0.0) for a, s in fused.items()}
