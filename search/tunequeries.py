"""Query-like texts from the catalog itself, encoded as queries: what the IVF index tunes its nprobe on at build.

Why: the index serves the smallest nprobe whose recall@10 against exact reaches the floor (0.99) on its tuning
queries, so those must be about as hard as real requests. Mixtures of stored vectors are easier (at 100k
capabilities they reached 0.9955 at nprobe 64 where real requests found 0.973 of their top 10), and a
capability's own text is far easier still (it finds itself: top-1 cosine 0.98). The first sentence of an
artifact's description ("An MCP server implementation that provides tools for retrieving and processing
documentation through vector search") reads like a request and, over two builds of the 100k-capability
bench catalog, needed at least the nprobe real requests need (recall 0.989 and 0.991 at nprobe 192 where the
dev queries had 0.993); capability titles were easier in one build (0.992 at nprobe 128 where the dev queries
had 0.986) and artifact names much harder (0.970 at 192): BENCHMARKS.md, issue 32, "The IVF index at the 0.99
floor". No dev or held-out query is used. A few hundred texts, encoded once when the index turns IVF.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import numpy as np

from graph.catalog import Artifact
from search.embedder import Embedder

SAMPLE = 400  # artifacts sampled (descriptions repeat: fewer distinct texts), each a query of 10 neighbours
_SEED = 0


def _first_sentence(text: str) -> str:
    return text.strip().split(". ")[0].strip()[:300]


def texts(artifacts: Mapping[str, Artifact], n: int = SAMPLE) -> list[str]:
    """Up to `n` distinct texts from a fixed sample of the artifacts: the first sentence of each one's
    description (else its first capability's title, else its name)."""
    ids = sorted(artifacts)
    out = []
    for artifact_id in random.Random(_SEED).sample(ids, min(n, len(ids))):
        a = artifacts[artifact_id]
        title = a.capabilities[0].title if a.capabilities else ""
        out.append((_first_sentence(a.description) or title or a.name).strip())
    return list(dict.fromkeys(t for t in out if t))


def vectors(artifacts: Mapping[str, Artifact], embedder: Embedder, n: int = SAMPLE) -> np.ndarray:
    """The texts above, encoded the way a search encodes its query (same encoder, no prefix)."""
    found = texts(artifacts, n)
    return embedder.encode(found) if found else np.empty((0, embedder.dim), np.float32)
