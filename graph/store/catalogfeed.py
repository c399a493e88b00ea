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

The feed knows its own history: an epoch (a random id) names it, created by the first host that publishes
and replaced whenever a host republishes its whole catalog (`republish`): after Redis came back empty, or
restored from an older backup, or when the feed lost changes the host had. Each epoch records which
positions of earlier epochs it includes (`incl`: epoch -> version), so a host can tell "the feed moved on
from my state" (it adopts the new epoch's snapshot) from "the feed lost my state" (it republishes, merging
the changes of the current epoch: search/feedsync.py). Every publish names the epoch its writer follows and
is refused when the feed is in another one, so a change is never numbered into a history its writer did
not read.

Keys (one hash tag, `{prefix}`, so the version counter and the stream are one slot; catalog writes
are rare, so one master carries them easily):

    {p}:cat:ver      INCR counter, the catalog version
    {p}:cat:log      stream, entry id `<version>-0`, field `c` = compressed change
    {p}:cat:snap     hash {"v": version, "c": compressed list of every artifact record, "e": epoch}
    {p}:cat:epoch    hash {"id": epoch, "base": version it started at, "incl": JSON {epoch: version}}

With the SQLite default there is no feed: a single host's data dir is the catalog, as before.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from graph.infra.redisurl import split_redis_url
from graph.store.base import StoreUnavailable

SNAPSHOT_EVERY = 200
KEEP_BEHIND_SNAPSHOT = 1_000

# KEYS: version counter, stream, epoch.  ARGV: compressed change, the writer's epoch.  Numbers and appends
# in one step, only in the writer's epoch (-1 otherwise).
_PUBLISH = r"""
if (redis.call('HGET', KEYS[3], 'id') or '') ~= ARGV[2] then return -1 end
local v = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], v .. '-0', 'c', ARGV[1])
return v
"""

# KEYS: snapshot hash, stream, epoch.  ARGV: version, compressed records, entries kept, epoch.  Keeps the
# newest snapshot of the current epoch only.
_SNAPSHOT = r"""
if (redis.call('HGET', KEYS[3], 'id') or '') ~= ARGV[4] then return 0 end
local have = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local v = tonumber(ARGV[1])
if v <= have then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'c', ARGV[2], 'e', ARGV[4])
local keep = v - tonumber(ARGV[3])
if keep > 0 then redis.call('XTRIM', KEYS[2], 'MINID', keep .. '-0') end
return 1
"""

# KEYS: version counter, stream, snapshot hash, epoch.  ARGV: expected epoch, expected version, new epoch,
# new version, compressed records, included positions (JSON).  A new epoch, only if the feed is still as read.
_REPUBLISH = r"""
if (redis.call('HGET', KEYS[4], 'id') or '') ~= ARGV[1] then return 0 end
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('SET', KEYS[1], ARGV[4])
redis.call('HSET', KEYS[3], 'v', ARGV[4], 'c', ARGV[5], 'e', ARGV[3])
redis.call('HSET', KEYS[4], 'id', ARGV[3], 'base', ARGV[4], 'incl', ARGV[6])
return 1
"""


class FeedBehind(LookupError):
    """Changes this host still needs were trimmed from the stream: reload from the snapshot."""


class EpochChanged(RuntimeError):
    """A publish named an epoch the feed is no longer in (it was reset or republished meanwhile)."""


@dataclass(frozen=True)
class Head:
    """Where the feed is: its epoch ("" when it has none: empty, or written before epochs), its version, the
    version its epoch started at, and the positions of earlier epochs it includes."""

    epoch: str
    version: int
    base: int
    included: dict[str, int]


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
        self.k_epoch = f"{tag}:cat:epoch"
        self._s_publish = self.r.register_script(_PUBLISH)
        self._s_snapshot = self.r.register_script(_SNAPSHOT)
        self._s_republish = self.r.register_script(_REPUBLISH)

    def publish(self, upserts: Sequence[dict], deletes: Sequence[str], epoch: str = "") -> int:
        """Append one change in `epoch`; returns its version. EpochChanged when the feed is in another epoch."""
        v = int(self._s_publish(keys=[self.k_ver, self.k_log, self.k_epoch],
                                args=[_pack({"u": list(upserts), "d": list(deletes)}), epoch]))
        if v < 0:
            raise EpochChanged(f"the catalog feed is no longer in epoch {epoch or '(none)'}")
        return v

    def head(self) -> Head:
        """The feed's epoch and version, read in one transaction (StoreUnavailable when Redis does not answer:
        a write then answers 503, never 500)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hgetall(self.k_epoch)
        pipe.get(self.k_ver)
        try:
            epoch, ver = pipe.execute()
        except redis.RedisError as exc:
            raise StoreUnavailable(f"catalog feed: {type(exc).__name__}: {exc}") from exc
        epoch = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                 for k, v in (epoch or {}).items()}
        return Head(epoch.get("id", ""), int(ver or 0), int(epoch.get("base", 0) or 0),
                    {k: int(v) for k, v in json.loads(epoch.get("incl") or "{}").items()})

    def republish(self, expected: Head, version: int, records: Sequence[dict], included: dict[str, int]) -> str | None:
        """Start a new epoch holding `records` as its snapshot at `version`, if the feed is still at
        `expected` (epoch and version); returns the new epoch, or None when another host moved it first."""
        epoch = uuid.uuid4().hex[:16]
        done = self._s_republish(keys=[self.k_ver, self.k_log, self.k_snap, self.k_epoch],
                                 args=[expected.epoch, expected.version, epoch, version, _pack(list(records)),
                                       json.dumps(included, sort_keys=True)])
        return epoch if done else None

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

    def snapshot(self) -> tuple[int, list[dict], str] | None:
        """(version, every artifact record, epoch) of the newest snapshot, or None."""
        got = self.r.hmget(self.k_snap, ["v", "c", "e"])
        if not got[0]:
            return None
        epoch = got[2].decode() if isinstance(got[2], bytes) else (got[2] or "")
        return int(got[0]), _unpack(got[1]), epoch

    def put_snapshot(self, version: int, records: Sequence[dict], epoch: str = "") -> bool:
        """Store the catalog as of `version` in `epoch` if newer than the stored one and the feed is still in
        that epoch; trims the stream behind it."""
        return bool(self._s_snapshot(keys=[self.k_snap, self.k_log, self.k_epoch],
                                     args=[version, _pack(list(records)), KEEP_BEHIND_SNAPSHOT, epoch]))

    def clear(self) -> None:
        self.r.unlink(self.k_ver, self.k_log, self.k_snap, self.k_epoch)

    def close(self) -> None:
        self.r.close()
