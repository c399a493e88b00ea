"""Match stores: one interface (`base.MatchStore`), an embedded SQLite backend and a Redis backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from graph.infra import redishealth
from graph.settings import REDIS_SCHEMES
from graph.store.base import MatchStore

if TYPE_CHECKING:
    from graph.settings import Settings

_REDIS_SCHEMES = REDIS_SCHEMES  # old name
SPOOL_FILE = "match-spool.db"
ARCHIVE_DIR = "log-archive"  # archived Redis log segments (`compact`), under the data dir by default
IDEMPOTENCY_WINDOW_S = 7 * 86_400  # search ids and feedback identities are remembered this long


def redis_client_options(connect_timeout: float = 0.5, timeout: float = 0.5) -> dict:
    """The store's and the feed's client options: short timeouts and one quick retry of a dropped
    connection (`graph.infra.redishealth.fail_fast`). Options in the URL's query string (socket_timeout=...) win."""
    return redishealth.fail_fast(timeout, connect_timeout, retry_dropped=True)


def store_options(settings: Settings) -> dict:
    """The keyword arguments of `open_store` that come from the settings."""
    return {"spool": settings.spool, "spool_retry_s": settings.spool_retry_s,
            "connect_timeout": settings.redis_connect_timeout, "timeout": settings.redis_timeout,
            "idempotency_window_s": settings.idempotency_window_s, "archive_dir": settings.archive_dir,
            "shards": settings.redis_shards, "min_free_mb": settings.min_free_mb}


def open_catalog_feed(url: str | None, settings: Settings | None = None):
    """The shared catalog feed when the store is Redis (every host follows one catalog), else None:
    with SQLite a single host's data dir is the catalog."""
    if not url or not url.startswith(_REDIS_SCHEMES):
        return None
    from graph.store.catalogfeed import CatalogFeed

    if settings is None:
        return CatalogFeed(url, **redis_client_options())
    return CatalogFeed(url, **redis_client_options(settings.redis_connect_timeout, settings.redis_timeout))


def open_store(url: str | None, data_dir: Path, *, spool: bool = True, spool_retry_s: float = 1.0,
               connect_timeout: float = 0.5, timeout: float = 0.5,
               idempotency_window_s: float = IDEMPOTENCY_WINDOW_S, archive_dir: Path | None = None,
               shards: int | None = None, min_free_mb: float = 16.0) -> MatchStore:
    """The store a URL names: none/"" or sqlite:///path -> SQLite (default data_dir/matches.db),
    redis://, rediss://, redis+cluster:// -> Redis. Backends import lazily so SQLite needs no redis.

    Redis search ids and feedback identities expire after `idempotency_window_s` (0 = never): feedback on
    an older search is refused. `compact` archives the Redis log to `archive_dir` (default
    data_dir/log-archive); `shards` is the shard count (default 1 on one Redis, 16 on a Cluster).
    Redis is wrapped in a `SpoolingStore` (spool file data_dir/match-spool.db) so a Redis outage
    loses no event; `spool=False` (setting MATCHGRAPH_SPOOL=0) turns that off. SQLite is wrapped in a
    `GuardedStore`: a full disk or a damaged file degrades to serving without recording (graph/store/guard.py)."""
    if not url or url in ("sqlite://", "sqlite:///") or url.startswith("sqlite:///"):
        from graph.store.guard import GuardedStore
        from graph.store.sqlite import SQLiteStore

        named = url.removeprefix("sqlite:///") if url and url.startswith("sqlite:///") else ""
        path = Path(named) if named else Path(data_dir) / "matches.db"  # sqlite:////abs/path.db is absolute
        return GuardedStore(lambda: SQLiteStore(path), path, min_free_mb=min_free_mb)
    if url.startswith(_REDIS_SCHEMES):
        from graph.store.redis import RedisStore

        primary = RedisStore(url, idempotency_window_s=idempotency_window_s, shards=shards,
                             archive_dir=archive_dir or Path(data_dir) / ARCHIVE_DIR,
                             **redis_client_options(connect_timeout, timeout))
        if not spool:
            return primary
        from graph.store.spool import SpoolingStore

        return SpoolingStore(primary, Path(data_dir) / SPOOL_FILE,
                             retry_interval=spool_retry_s)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path, redis://, rediss:// or redis+cluster://")
