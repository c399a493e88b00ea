"""Redis URLs, read one way by every Redis user (match store, query cache, rate limiter)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Every scheme a Redis setting accepts: one tuple, here (graph.settings re-exports it).
REDIS_SCHEMES = ("redis://", "rediss://", "redis+cluster://", "rediss+cluster://")


@dataclass(frozen=True)
class RedisURL:
    """A store URL split into what redis-py connects to, our key `prefix`, and whether it is a Cluster."""

    conn_url: str  # the URL redis-py gets: `+cluster` and our `prefix` parameter removed
    prefix: str
    cluster: bool


def is_redis_url(url: str | None) -> bool:
    return bool(url) and url.startswith(REDIS_SCHEMES)


def split_redis_url(url: str, prefix: str = "mg") -> RedisURL:
    """redis://, rediss://, redis+cluster://, rediss+cluster:// with an optional `?prefix=`; ValueError
    for anything else."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    prefix = next((v for k, v in query if k == "prefix"), prefix)
    scheme, cluster = parts.scheme, False
    if scheme.endswith("+cluster"):
        cluster, scheme = True, scheme.removesuffix("+cluster")
    if scheme not in ("redis", "rediss"):
        raise ValueError(f"not a Redis URL: {url!r}")
    conn_url = urlunsplit((scheme, parts.netloc, parts.path, urlencode([(k, v) for k, v in query
                                                                          if k != "prefix"]), ""))
    return RedisURL(conn_url, prefix, cluster)
