"""Match stores: one interface (`base.MatchStore`), an embedded SQLite backend and a Redis backend."""

from __future__ import annotations

import os
from pathlib import Path

from graph.store.base import MatchStore

_REDIS_SCHEMES = ("redis://", "rediss://", "redis+cluster://", "rediss+cluster://")
SPOOL_FILE = "match-spool.db"
ARCHIVE_DIR = "log-archive"  # archived Redis log segments (`compact`), under the data dir by default
IDEMPOTENCY_WINDOW_S = 7 * 86_400  # search ids and feedback identities are remembered this long


def redis_client_options() -> dict:
    """Short timeouts and one quick retry, so a dead Redis costs a request milliseconds, not seconds
    (the spool takes the write). Options in the URL's query string (socket_timeout=...) win."""
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return {"socket_connect_timeout": float(os.environ.get("MATCHGRAPH_REDIS_CONNECT_TIMEOUT", "0.5")),
            "socket_timeout": float(os.environ.get("MATCHGRAPH_REDIS_TIMEOUT", "2.0")),
            "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), 1)}


def open_catalog_feed(url: str | None):
    """The shared catalog feed when the store is Redis (every host follows one catalog), else None:
    with SQLite a single host's data dir is the catalog."""
    if not url or not url.startswith(_REDIS_SCHEMES):
        return None
    from graph.store.catalogfeed import CatalogFeed

    return CatalogFeed(url, **redis_client_options())


def open_store(url: str | None, data_dir: Path, *, spool: bool | None = None) -> MatchStore:
    """The store a URL names: none/"" or sqlite:///path -> SQLite (default data_dir/matches.db),
    redis://, rediss://, redis+cluster:// -> Redis. Backends import lazily so SQLite needs no redis.

    Redis search ids and feedback identities expire after MATCHGRAPH_IDEMPOTENCY_WINDOW_S (7 days; 0 =
    never): feedback on an older search is refused. `compact` archives the log to MATCHGRAPH_ARCHIVE_DIR
    (default data_dir/log-archive). Redis is wrapped in a `SpoolingStore` (spool file
    data_dir/match-spool.db) so a Redis outage loses no event; `spool=False` or MATCHGRAPH_SPOOL=0 turns that off."""
    if not url or url in ("sqlite://", "sqlite:///"):
        from graph.store.sqlite import SQLiteStore

        return SQLiteStore(Path(data_dir) / "matches.db")
    if url.startswith("sqlite:///"):
        from graph.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"))  # sqlite:////abs/path.db is absolute
    if url.startswith(_REDIS_SCHEMES):
        from graph.store.redis import RedisStore

        primary = RedisStore(url, idempotency_window_s=float(os.environ.get(
            "MATCHGRAPH_IDEMPOTENCY_WINDOW_S", str(IDEMPOTENCY_WINDOW_S))),
            archive_dir=os.environ.get("MATCHGRAPH_ARCHIVE_DIR") or Path(data_dir) / ARCHIVE_DIR,
            **redis_client_options())
        if spool is None:
            spool = os.environ.get("MATCHGRAPH_SPOOL", "1") != "0"
        if not spool:
            return primary
        from graph.store.spool import SpoolingStore

        return SpoolingStore(primary, Path(data_dir) / SPOOL_FILE,
                             retry_interval=float(os.environ.get("MATCHGRAPH_SPOOL_RETRY_S", "1.0")))
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path, redis://, rediss:// or redis+cluster://")
