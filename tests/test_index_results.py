"""`VectorIndex.search` reads FAISS's answer with `tolist()` (issue 32): the same (id, score) pairs, with the
same Python types, as reading it element by element."""

from __future__ import annotations

import numpy as np

from search.index import VectorIndex, _unit_rows


def test_search_results_equal_element_by_element_reading() -> None:
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(500, 16)).astype(np.float32)
    index = VectorIndex(16)
    index.upsert([f"cap-{i}" for i in range(500)], vecs)
    index.remove(["cap-7", "cap-8"])
    queries = rng.normal(size=(3, 16)).astype(np.float32)
    got = index.search(queries, 50)
    q = _unit_rows(queries, 16)  # as search normalises them
    scores, nums = index._index.search(q, 50)
    names = index._ids
    expected = [[(names[int(n)], float(s)) for n, s in zip(row_n, row_s, strict=True) if int(n) in names]
                for row_n, row_s in zip(nums, scores, strict=True)]
    assert got == expected
    assert all(type(s) is float and type(a) is str for row in got for a, s in row)
