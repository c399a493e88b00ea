"""One catalog across hosts: a versioned log of catalog changes in the shared Redis, plus a snapshot.

With a Redis store every catalog write (admin PUT / DELETE / batch, `ingest`) is published here first:
one stream entry per write, numbered by a version counter, holding the artifact records upserted and
the ids deleted (zlib-compressed JSON). Every process of every host follows the stream (`changes`)
and applies each change, in version order, to its live index (adds, updates, deletes; no rebuild),
so all hosts converge on the same catalog within one poll interval. A writer applies every change up
to and including its own before it answers, so concurrent writers on different hosts resolve the same
way everywhere (last version wins).

A snapshot (the whole catalog at some version) lets a new host start without replaying history:
it loads the newest snapshot, then follows the changes after it. Snapshots are written after an
`ingest` and every `SNAPSHOT_EVERY` versions; the stream is trimmed to `KEEP_BEHIND_SNAPSHOT` entries
behind the newest snapshot. A host whose position is behind the trim point reloads from the snapshot.

Keys (one hash tag, `{prefix}`, so the version counter and the stream are one slot; catalog writes
are rare, so one master carries them easily):

    {p}:cat:ver      INCR counter, the catalog version
    {p}:cat:log      stream, entry id `<version>-0`, field `c` = compressed change
    {p}:cat:snap     hash {"v": version, "c": compressed list of every artifact record}

With the SQLite default there is no feed: a single host's data dir is the catalog, as before.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from graph.redisurl import split_redis_url

SNAPSHOT_EVERY = 200
KEEP_BEHIND_SNAPSHOT = 1_000

# KEYS: version counter, stream.  ARGV: compressed change.  Numbers and appends in one step.
_PUBLISH = r"""
local v = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], v .. '-0', 'c', ARGV[1])
return v
"""

# KEYS: snapshot hash, stream.  ARGV: version, compressed records.  Keeps the newest snapshot only.
_SNAPSHOT = r"""
local have = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local v = tonumber(ARGV[1])
if v <= have then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'c', ARGV[2])
local keep = v - tonumber(ARGV[3])
if keep > 0 then redis.call('XTRIM', KEYS[2], 'MINID', keep .. '-0') end
return 1
"""


class FeedBehind(LookupError):
    """Changes this host still needs were trimmed from the stream: reload from the snapshot."""


@dataclass(frozen=True)
class Change:
    version: int
    upserts: list[dict]
    deletes: list[str]


def _pack(obj: Any) -> bytes:
    return zlib.compress(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 3)


def _unpack(raw: bytes) -> Any:
    return json.loads(zlib.decompress(raw))


class CatalogFeed:
    """The shared catalog log of one deployment (one Redis prefix)."""

    def __init__(self, url: str, prefix: str = "mg", **kwargs: Any) -> None:
        parsed = split_redis_url(url, prefix)
        prefix = parsed.prefix
        self.r = parsed.client(**kwargs)
        tag = "{" + prefix + "}"
        self.k_ver, self.k_log, self.k_snap = f"{tag}:cat:ver", f"{tag}:cat:log", f"{tag}:cat:snap"
        self._s_publish = self.r.register_script(_PUBLISH)
        self._s_snapshot = self.r.register_script(_SNAPSHOT)

    def publish(self, upserts: Sequence[dict], deletes: Sequence[str]) -> int:
        """Append one change; returns its version."""
        return int(self._s_publish(keys=[self.k_ver, self.k_log],
                                   args=[_pack({"u": list(upserts), "d": list(deletes)})]))

    def version(self) -> int:
        return int(self.r.get(self.k_ver) or 0)

    def changes(self, after: int) -> Iterator[Change]:
        """Changes with version > `after`, in order. Raises FeedBehind when some were trimmed away."""
        start = after + 1
        first = True
        while True:
            rows = self.r.xrange(self.k_log, min=f"{start}-0", max="+", count=100)
            if not rows:
                if first and after < self.version():  # the version counter and the stream move together
                    raise FeedBehind(f"catalog changes after version {after} were trimmed")
                return
            for entry_id, fields in rows:
                v = int(entry_id.split(b"-", 1)[0] if isinstance(entry_id, bytes) else entry_id.split("-", 1)[0])
                if first and v > start:
                    raise FeedBehind(f"catalog changes {start}..{v - 1} were trimmed")
                first = False
                body = _unpack(fields[b"c"] if b"c" in fields else fields["c"])
                yield Change(v, body["u"], body["d"])
                start = v + 1

    def snapshot_version(self) -> int:
        return int(self.r.hget(self.k_snap, "v") or 0)

    def snapshot(self) -> tuple[int, list[dict]] | None:
        """(version, every artifact record) of the newest snapshot, or None."""
        got = self.r.hmget(self.k_snap, ["v", "c"])
        if not got[0]:
            return None
        return int(got[0]), _unpack(got[1])

    def put_snapshot(self, version: int, records: Sequence[dict]) -> bool:
        """Store the catalog as of `version` if newer than the stored one; trims the stream behind it."""
        return bool(self._s_snapshot(keys=[self.k_snap, self.k_log],
                                     args=[version, _pack(list(records)), KEEP_BEHIND_SNAPSHOT]))

    def clear(self) -> None:
        self.r.unlink(self.k_ver, self.k_log, self.k_snap)

    def close(self) -> None:
        self.r.close()
