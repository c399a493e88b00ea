"""BM25 over artifact names, tags and capability text (bm25s, with an English stemmer)."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.tokenization import _infer_stopwords

import graph.infra.forksafe  # noqa: F401  (bm25s tokenizes in a tqdm loop: tqdm's lock is reset after fork)

_STEMMER = Stemmer.Stemmer("english")
# bm25s's own save format, flat in a generation folder: .npy arrays (saved and loaded without pickle) and
# JSON; plus the artifact id of each document, which bm25s does not keep.
BM25_FILES = {"data_name": "bm25.data.npy", "indices_name": "bm25.indices.npy", "indptr_name": "bm25.indptr.npy",
              "vocab_name": "bm25.vocab.json", "params_name": "bm25.params.json",
              "nnoc_name": "bm25.nonoccurrence.npy"}
IDS_FILE = "bm25.ids.json"


def tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


# bm25s.tokenize's steps for one text, without its per-call vocabulary, id mapping and progress bars:
# lower case, scikit-learn's token pattern, English stopwords out, each word stemmed (tests/test_pipeline_identical.py
# checks it against `tokenize` over every dev query and catalog text)
_SPLIT = re.compile(r"(?u)\b\w\w+\b").findall
_STOPWORDS = frozenset(_infer_stopwords("en"))


@functools.lru_cache(maxsize=512)
def query_tokens(query: str) -> tuple[str, ...]:
    """A query's terms, tokenised once for both BM25 and coverage (search/relevance.py): what `tokenize` gives."""
    words = [w for w in _SPLIT(query.lower()) if w not in _STOPWORDS]
    return tuple(_STEMMER.stemWords(words)) if words else ()


class LexicalIndex:
    """A BM25 index of one document per artifact; rebuilt whole on change, saved with each generation."""

    def __init__(self, documents: Mapping[str, str]) -> None:
        self.ids = list(documents)
        self._bm25: bm25s.BM25 | None = None
        if self.ids:
            self._bm25 = bm25s.BM25()
            self._bm25.index(tokenize([documents[i] for i in self.ids]), show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str, limit: int = 200) -> dict[str, float]:
        """The best `limit` artifacts by BM25 score (only those with a score above zero).

        The top `limit` are chosen among the documents that score at all (usually a fraction of the catalog);
        when the `limit`-th best score is tied across the cut, the choice among the tied is argpartition's over
        every document, as it always was, so the answer is the same in every case."""
        if self._bm25 is None:
            return {}
        tokens = list(query_tokens(query))
        if not tokens:
            return {}
        raw = self._bm25.get_scores(tokens)
        top = np.flatnonzero(raw > 0)
        if not len(top):
            return {}
        if len(top) > limit:
            kept = raw[top]
            cut = np.partition(kept, len(kept) - limit)[len(kept) - limit]  # the limit-th best score
            above = top[kept >= cut]
            if len(above) == limit:  # no tie across the cut: the same set whichever way it is chosen
                top = above
            else:
                top = np.argpartition(-raw, min(limit, len(raw) - 1))[:limit]
                top = top[raw[top] > 0]
        ids = self.ids
        return dict(zip([ids[i] for i in top.tolist()], raw[top].tolist(), strict=True))

    def coverage(self, query: str) -> tuple[np.ndarray, float]:
        """How much of the query each document holds, comparable across queries (search/relevance.py): per
        document (in `ids` order) the IDF-weighted share of the query's distinct terms it contains (0..1), and
        the share of the query's terms the catalog knows at all. A term no document holds weighs as much as
        the rarest term, so "asdkjhqwe" covers nothing anywhere and a word every document holds weighs little."""
        n = len(self.ids)
        tokens = list(dict.fromkeys(query_tokens(query))) if self._bm25 is not None else []
        got = np.zeros(n, dtype=np.float32)
        if not tokens:
            return got, 0.0
        s, vocab = self._bm25.scores, self._bm25.vocab_dict
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
                np.add.at(got, docs, np.float32(weight))  # = got[docs] += weight (distinct docs), 2-3x faster
        return got / total, known / total

    @functools.cached_property
    def rows(self) -> dict[str, int]:
        """Artifact id -> document row (for reading `coverage`)."""
        return {a: i for i, a in enumerate(self.ids)}

    # -- persistence --------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> list[str]:
        """Write the index into `directory` (bm25s's format, no pickle); returns the names of the files."""
        d = Path(directory)
        (d / IDS_FILE).write_text(json.dumps(self.ids, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        if self._bm25 is None:
            return [IDS_FILE]
        self._bm25.save(d, corpus=None, allow_pickle=False, show_progress=False, **BM25_FILES)
        return [IDS_FILE] + [name for name in BM25_FILES.values() if (d / name).exists()]

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, mmap: bool = True) -> LexicalIndex:
        """Load what `save` wrote. The score arrays are memory-mapped by default (shared by the workers of a
        server through the page cache). ValueError when the files do not fit together."""
        d = Path(directory)
        ids = json.loads((d / IDS_FILE).read_bytes())
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
            raise ValueError(f"{IDS_FILE}: not a list of distinct ids")
        out = cls({})
        out.ids = ids
        if not ids:
            return out
        bm25 = bm25s.BM25.load(d, mmap=mmap, allow_pickle=False, load_corpus=False, show_progress=False,
                               **BM25_FILES)
        s = bm25.scores
        indptr = s["indptr"]
        vocab = bm25.vocab_dict
        if s["num_docs"] != len(ids):
            raise ValueError(f"BM25 index holds {s['num_docs']} documents, {IDS_FILE} {len(ids)}")
        # one column per vocabulary entry, except bm25s's "" entry when no document produced it
        columns = len(indptr) - 1
        if indptr.ndim != 1 or columns not in (len(vocab), len(vocab) - 1) or int(indptr[-1]) != len(s["data"]) \
                or len(s["indices"]) != len(s["data"]):
            raise ValueError("BM25 arrays and vocabulary do not fit together")
        if vocab and not 0 <= min(vocab.values()) <= max(vocab.values()) < len(vocab):
            raise ValueError("BM25 vocabulary ids out of range")
        if len(s["indices"]) and not 0 <= int(s["indices"].min()) <= int(s["indices"].max()) < len(ids):
            raise ValueError("BM25 document numbers out of range")
        for key in ("data", "indices", "indptr"):  # plain views of the same mapped pages: slicing an np.memmap
            if isinstance(s[key], np.memmap):  # costs a Python-level subclass hook per slice (per query term)
                s[key] = s[key].view(np.ndarray)
        out._bm25 = bm25
        return out
