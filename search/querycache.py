"""Query vectors shared by every worker and host through Redis, behind the embedder's in-process LRU.

Keys: `{prefix}:qv:<Embedder.cache_key(text)>` (the hash tag keeps them in the store's Cluster slot; the
key already names the model and its settings). Values: raw little-endian float32 bytes, with a TTL.
The cache is an optimisation only: any Redis error reads as a miss and never fails a search.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import redis

from graph.infra import redishealth
from graph.infra.redisurl import REDIS_SCHEMES, split_redis_url  # noqa: F401  (REDIS_SCHEMES: old import path)

log = logging.getLogger(__name__)
_DTYPE = np.dtype("<f4")
DEFAULT_TTL_S = 7 * 86_400
PAUSE_AFTER_ERROR_S = 5.0  # skip the cache this long after an error: an outage costs one timeout, not one per query


class RedisQueryCache:
    """get/put of query vectors by embedder cache key; `url` as for the Redis match store (`?prefix=`).

    Short timeouts, no retries, and a pause after an error: while Redis is unreachable every query
    goes straight to the model instead of waiting on the network.
    """

    def __init__(self, url: str, *, prefix: str = "mg", ttl_s: int = DEFAULT_TTL_S, timeout_s: float = 0.5,
                 **kwargs: Any) -> None:
        parsed = split_redis_url(url, prefix)
        prefix = parsed.prefix
        self.r = parsed.client(**{**redishealth.fail_fast(timeout_s, cluster=parsed.cluster), **kwargs})
        self.namespace = "{" + prefix + "}:qv:"
        self.ttl_s = int(ttl_s)
        self.hits = self.misses = self.errors = 0
        self._paused_until = 0.0

    def key(self, cache_key: str) -> str:
        return self.namespace + cache_key

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        self._paused_until = time.monotonic() + PAUSE_AFTER_ERROR_S
        log.warning("query cache %s failed (%s); skipping it for %.0f s", what, exc, PAUSE_AFTER_ERROR_S)

    def get(self, cache_key: str, dim: int) -> np.ndarray | None:
        if time.monotonic() < self._paused_until:
            return None
        try:
            raw = self.r.get(self.key(cache_key))
        except redis.RedisError as exc:
            self._failed("read", exc)
            return None
        if raw is None or len(raw) != dim * _DTYPE.itemsize:
            self.misses += 1
            return None
        self.hits += 1
        return np.frombuffer(raw, dtype=_DTYPE).astype(np.float32)

    def put(self, cache_key: str, vector: np.ndarray) -> None:
        if time.monotonic() < self._paused_until:
            return
        try:
            self.r.set(self.key(cache_key), np.ascontiguousarray(vector, dtype=_DTYPE).tobytes(),
                       ex=self.ttl_s if self.ttl_s > 0 else None)
        except redis.RedisError as exc:
            self._failed("write", exc)

    def close(self) -> None:
        self.r.close()
