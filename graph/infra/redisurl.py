"""Redis URLs, read one way by every Redis user (match store, catalog feed, query cache)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Every scheme a Redis setting accepts: one tuple, here (graph.settings re-exports it).
REDIS_SCHEMES = ("redis://", "rediss://", "redis+cluster://", "rediss+cluster://")
# Query parameters of a store URL that are ours, not redis-py's: never passed on to the client.
OWN_PARAMS = ("prefix", "shards", "idempotency_window_s")


@dataclass(frozen=True)
class RedisURL:
    """A store URL split into what redis-py connects to, our key `prefix`, and whether it is a Cluster."""

    conn_url: str  # the URL redis-py gets: `+cluster` and our own parameters (OWN_PARAMS) removed
    prefix: str
    cluster: bool
    params: dict[str, str] = field(default_factory=dict)  # our own parameters other than `prefix`

    def client(self, **options: Any) -> Any:
        """A redis-py client (Cluster or not) for `conn_url` whose connections share this process's circuit
        breaker for the server and whose locks survive fork() (graph/infra/redishealth.py). Every Redis user makes its
        client here."""
        from graph.infra.redishealth import make_client

        return make_client(self.conn_url, self.cluster, **options)


def is_redis_url(url: str | None) -> bool:
    return bool(url) and url.startswith(REDIS_SCHEMES)


def split_redis_url(url: str, prefix: str = "mg") -> RedisURL:
    """redis://, rediss://, redis+cluster://, rediss+cluster:// with optional `?prefix=` (and the other
    OWN_PARAMS); ValueError for anything else."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    prefix = next((v for k, v in query if k == "prefix"), prefix)
    scheme, cluster = parts.scheme, False
    if scheme.endswith("+cluster"):
        cluster, scheme = True, scheme.removesuffix("+cluster")
    if scheme not in ("redis", "rediss"):
        raise ValueError(f"not a Redis URL: {url!r}")
    conn_url = urlunsplit((scheme, parts.netloc, parts.path, urlencode([(k, v) for k, v in query
                                                                          if k not in OWN_PARAMS]), ""))
    params = {k: v for k, v in query if k in OWN_PARAMS and k != "prefix"}
    return RedisURL(conn_url, prefix, cluster, params)
