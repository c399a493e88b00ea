"""BM25 over artifact names, tags and capability text (bm25s, with an English stemmer)."""

from __future__ import annotations

from collections.abc import Mapping

import bm25s
import numpy as np
import Stemmer

_STEMMER = Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


class LexicalIndex:
    """A BM25 index of one document per artifact; rebuilt whole on change (milliseconds at catalog size)."""

    def __init__(self, documents: Mapping[str, str]) -> None:
        self.ids = list(documents)
        self._bm25: bm25s.BM25 | None = None
        if self.ids:
            self._bm25 = bm25s.BM25()
            self._bm25.index(tokenize([documents[i] for i in self.ids]), show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str, limit: int = 200) -> dict[str, float]:
        """The best `limit` artifacts by BM25 score (only those with a score above zero)."""
        if self._bm25 is None:
            return {}
        tokens = tokenize([query])[0]
        if not tokens:
            return {}
        raw = self._bm25.get_scores(tokens)
        if not raw.any():
            return {}
        top = np.argpartition(-raw, min(limit, len(raw) - 1))[:limit]
        return {self.ids[i]: float(raw[i]) for i in top if raw[i] > 0}
