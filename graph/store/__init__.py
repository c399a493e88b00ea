"""Match stores: one interface (`base.MatchStore`), an embedded SQLite backend and a Redis backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from graph.settings import REDIS_SCHEMES
from graph.store.base import MatchStore

if TYPE_CHECKING:
    from graph.settings import Settings

_REDIS_SCHEMES = REDIS_SCHEMES  # old name
SPOOL_FILE = "match-spool.db"


def redis_client_options(connect_timeout: float = 0.5, timeout: float = 2.0) -> dict:
    """Short timeouts and one quick retry, so a dead Redis costs a request milliseconds, not seconds
    (the spool takes the write). Options in the URL's query string (socket_timeout=...) win."""
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return {"socket_connect_timeout": float(connect_timeout), "socket_timeout": float(timeout),
            "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), 1)}


def store_options(settings: Settings) -> dict:
    """The keyword arguments of `open_store` that come from the settings."""
    return {"spool": settings.spool, "spool_retry_s": settings.spool_retry_s,
            "connect_timeout": settings.redis_connect_timeout, "timeout": settings.redis_timeout}


def open_store(url: str | None, data_dir: Path, *, spool: bool = True, spool_retry_s: float = 1.0,
               connect_timeout: float = 0.5, timeout: float = 2.0) -> MatchStore:
    """The store a URL names: none/"" or sqlite:///path -> SQLite (default data_dir/matches.db),
    redis://, rediss://, redis+cluster:// -> Redis. Backends import lazily so SQLite needs no redis.

    Redis is wrapped in a `SpoolingStore` (spool file data_dir/match-spool.db) so a Redis outage
    loses no event; `spool=False` (setting MATCHGRAPH_SPOOL=0) turns that off."""
    if not url or url in ("sqlite://", "sqlite:///"):
        from graph.store.sqlite import SQLiteStore

        return SQLiteStore(Path(data_dir) / "matches.db")
    if url.startswith("sqlite:///"):
        from graph.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"))  # sqlite:////abs/path.db is absolute
    if url.startswith(_REDIS_SCHEMES):
        from graph.store.redis import RedisStore

        primary = RedisStore(url, **redis_client_options(connect_timeout, timeout))
        if not spool:
            return primary
        from graph.store.spool import SpoolingStore

        return SpoolingStore(primary, Path(data_dir) / SPOOL_FILE,
                             retry_interval=spool_retry_s)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path, redis://, rediss:// or redis+cluster://")
