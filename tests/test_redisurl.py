"""Redis URLs are read one way (graph/infra/redisurl.py) by the store, the catalog feed and the query cache."""

from __future__ import annotations

import pytest

from graph.infra.redisurl import REDIS_SCHEMES, is_redis_url, split_redis_url


def test_split_keeps_client_options_and_takes_ours() -> None:
    u = split_redis_url("redis+cluster://h:7000/0?prefix=p1&shards=4&socket_timeout=3&idempotency_window_s=60")
    assert (u.prefix, u.cluster) == ("p1", True)
    assert u.params == {"shards": "4", "idempotency_window_s": "60"}
    assert u.conn_url == "redis://h:7000/0?socket_timeout=3"
    plain = split_redis_url("rediss://:pw@h:6380/2", prefix="mg")
    assert (plain.conn_url, plain.prefix, plain.cluster, plain.params) == ("rediss://:pw@h:6380/2", "mg", False, {})


@pytest.mark.parametrize("url", ["http://h", "sqlite:///x.db", "redis-cluster://h"])
def test_other_schemes_are_refused(url: str) -> None:
    assert not is_redis_url(url)
    with pytest.raises(ValueError, match="not a Redis URL"):
        split_redis_url(url)


def test_every_user_reads_the_same_prefix() -> None:
    from graph.store.catalogfeed import CatalogFeed
    from graph.store.redis import RedisStore
    from search.querycache import RedisQueryCache

    url = "redis://127.0.0.1:6379/15?prefix=urltest&shards=2"
    store, feed, cache = RedisStore(url), CatalogFeed(url), RedisQueryCache(url)
    try:
        assert store.prefix == "urltest" and store.n == 2
        assert feed.k_ver.startswith("{urltest}") and cache.namespace.startswith("{urltest}")
    finally:
        store.close()
        feed.close()
        cache.close()
    assert all(is_redis_url(s + "h") for s in REDIS_SCHEMES)
