"""The warm query-vector cache without Redis (search/vectorcache.py `QueryVectors`, issue 32): a query any
worker of the data dir recorded skips the model in every other worker, with the same answer."""

from __future__ import annotations

import numpy as np

from search.vectorcache import QueryVectors


def test_a_query_recorded_by_one_worker_skips_the_model_in_another(make_engine, small_catalog, tmp_path) -> None:
    first = make_engine(tmp_path / "var")
    first.ingest([small_catalog])
    q = "answer questions about a passage of text"
    served = first.search(q, k=5, record=True)
    assert served.recorded and isinstance(first.query_cache, QueryVectors)
    other = make_engine(tmp_path / "var")  # another worker on the same data dir
    embedder = other.embedder
    embedder._lru.clear()  # the test engines share one embedder: its in-process LRU must not answer
    forwards = embedder.forward_batches
    again = other.search(q, k=5, record=False)
    assert embedder.forward_batches == forwards  # no forward pass: the vector came from vectors.db
    assert other.query_cache.hits == 1
    assert [(h.artifact.id, h.score) for h in again.hits] == [(h.artifact.id, h.score) for h in served.hits]
    embedder._lru.clear()
    fresh = other.search("a query nobody searched for before", k=5, record=False)
    assert embedder.forward_batches == forwards + 1 and other.query_cache.misses == 1 and fresh.total > 0
    assert np.array_equal(embedder.encode_query(q), served.vector)
