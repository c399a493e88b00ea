"""Match stores: one interface (`base.MatchStore`), an embedded SQLite backend and a Redis backend."""

from __future__ import annotations

from pathlib import Path

from graph.store.base import MatchStore

_REDIS_SCHEMES = ("redis://", "rediss://", "redis+cluster://", "rediss+cluster://")


def open_store(url: str | None, data_dir: Path) -> MatchStore:
    """The store a URL names: none/"" or sqlite:///path -> SQLite (default data_dir/matches.db),
    redis://, rediss://, redis+cluster:// -> Redis. Backends import lazily so SQLite needs no redis."""
    if not url or url in ("sqlite://", "sqlite:///"):
        from graph.store.sqlite import SQLiteStore

        return SQLiteStore(Path(data_dir) / "matches.db")
    if url.startswith("sqlite:///"):
        from graph.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"))  # sqlite:////abs/path.db is absolute
    if url.startswith(_REDIS_SCHEMES):
        from graph.store.redis import RedisStore

        return RedisStore(url)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path, redis://, rediss:// or redis+cluster://")
