"""Shared backend: Redis (standalone or Cluster), every write one atomic single-slot Lua script.

Sharded key layout. The store has `shards` shards (1 on a single Redis, 16 by default on a Cluster);
shard i's keys carry its hash tag `{p#i.j}` (`{p}` when there is one shard), so each shard is one
Cluster slot and the shards spread evenly over the masters. An event goes to the shard of its intent
(`shard_of`), so the search, its idempotency key, the intent's state and the feedback on the search are
all written by one script in one slot. Per shard (`S` = the tag, `D` = `S:d` live derived state, `T` =
`S:t` where `rebuild` replays before swapping in):

    S:seq                   INCR counter, the shard's log sequence number
    S:log                   stream, entry id `<seq>-0`, field `e` = event JSON
    S:sid:<search id>       {"s": seq, "i": intent_id, "r": {artifact: rank}}; expires after the window
    S:fid:<identity>        seq of a feedback event (hash of search, artifact, event, ts, dwell); expires
    D:tm                    zset artifact -> -times matched (negated: ZRANGE gives ties by id ascending)
    D:tmday:<day>           zset artifact -> -times matched that day;  D:days  zset (lex) of those days
    D:ctm                   hash capability -> times matched
    D:spd                   hash day -> searches
    D:intents               zset intent -> seq of first search;  D:itext / D:isearches  hashes
    D:ae:<intent>           hash "<artifact>|<stat>" -> value (i impressions, x exposure, c clicks,
                            n dwells, d dwell_ms, u upvotes, v downvotes)
    D:ce:<intent>           hash "<capability>|t" -> times, "<capability>|s" -> max similarity
    D:au:<intent>           hash "<artifact>|<user>" -> stance (1 chose, -1 rejected): learning counts users
    D:q:top / q:zero / q:low / q:empty / q:users  zsets query -> -count;  D:q:last  hash query -> latest ts
    D:sum                   hash of summary counters

Store-wide keys (tag `{p}`): `{p}:scores` (artifact -> match score, not derived from the log),
`{p}:rebuild` (lock held while a rebuild runs), `{p}:meta` (the shard count the data was written with),
`{p}:hidden` (queries an operator keeps off public lists); dedup claims (`exchange`, graph/dedup.py) are
`p:c:<key>` keys (no hash tag: spread over all slots) with their own expiry.

Aggregates (Times Matched, day buckets, query counts, summary) are per shard and summed at read time:
exact, since every event counts in exactly one shard. An intent lives in one shard, so its edges are
read from one place. Top-k lists merge the shards' sorted sets with a threshold bound (`_top`).

Floats cross into Lua as Python `repr` strings and are stored as sent (max similarity) or
summed with HINCRBYFLOAT (exposure), never formatted by Lua, so no precision is lost and a
replay performs exactly the same operations in the same order.

Writes are idempotent: a search whose search_id is already recorded, or a feedback event whose
identity is already recorded, returns the stored sequence number and changes nothing. A write
retried after a lost reply (client retries, or the spool replaying an event whose first attempt
timed out after Redis had applied it) therefore counts once, as long as it arrives within the
idempotency window (`idempotency_window_s`, 0 = forever); feedback on a search older than the window
is refused like an unknown search.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import heapq
import json
import os
import shutil
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import redis
from redis.crc import key_slot

from graph.aliases import AliasMap
from graph.events import EdgeStats, FeedbackEvent, SearchEvent, event_from_dict, examination
from graph.infra.redisurl import split_redis_url
from graph.store.archive import ArchiveMissing, LogArchive
from graph.store.base import (
    QUERY_KINDS,
    SUMMARY_COUNTERS,
    Intent,
    MatchStore,
    NotServed,
    QueryStat,
    UnknownSearch,
    check_feedback,
    check_search,
    day_of,
    edge_snapshot,
    query_snapshot,
    served_ranks,
    stance_op,
)

_PAGE = 500  # log entries per XRANGE page, intents per pipeline
_REPLAY_BATCH = 200  # events per replay script call: keeps each call short so Redis stays responsive
_REBUILD_LOCK_MS = 3_600_000
_SLOTS = 16384  # Redis Cluster hash slots
_COMPACT_BATCH = 5_000  # log entries archived and trimmed per step
_RECENT_SEARCHES = 20_000  # search id -> shard remembered per process, so feedback skips the lookup
_STATS = {"i": "impressions", "c": "clicks", "d": "dwell_ms", "n": "dwells", "u": "upvotes", "v": "downvotes"}
_QUERY_KEYS = {"zero_results": "q:zero", "low_confidence": "q:low", "top": "q:top", "filtered_empty": "q:empty",
               "popular": "q:users"}

_LUA_COMMON = r"""
local pos = 0
local function arg() pos = pos + 1; return ARGV[pos] end
local DERIVED = {':sum', ':spd', ':days', ':tm', ':ctm', ':intents', ':itext', ':isearches',
                 ':q:top', ':q:zero', ':q:low', ':q:last', ':q:empty', ':q:users'}

local function apply_search(P, seq)
  local iid, query, day = arg(), arg(), arg()
  local zero, low, ts = arg() == '1', arg() == '1', arg()
  local empty, preview, evidence, popular = arg() == '1', arg() == '1', arg() == '1', arg() == '1'
  local n = tonumber(arg())
  redis.call('HINCRBY', P .. ':sum', 'searches', 1)
  if zero then redis.call('HINCRBY', P .. ':sum', 'zero_result_searches', 1) end
  if low then redis.call('HINCRBY', P .. ':sum', 'low_confidence_searches', 1) end
  if empty then redis.call('HINCRBY', P .. ':sum', 'filtered_empty_searches', 1) end
  if preview then redis.call('HINCRBY', P .. ':sum', 'preview_searches', 1) end
  if evidence then redis.call('HINCRBY', P .. ':sum', 'settled_searches', 1) end
  redis.call('HINCRBY', P .. ':spd', day, 1)
  if not redis.call('ZSCORE', P .. ':intents', iid) then
    redis.call('ZADD', P .. ':intents', seq, iid)
    redis.call('HSET', P .. ':itext', iid, query)
  end
  redis.call('HINCRBY', P .. ':isearches', iid, evidence and 1 or 0)
  redis.call('ZINCRBY', P .. ':q:top', -1, query)
  if zero then redis.call('ZINCRBY', P .. ':q:zero', -1, query) end
  if low then redis.call('ZINCRBY', P .. ':q:low', -1, query) end
  if empty then redis.call('ZINCRBY', P .. ':q:empty', -1, query) end
  if popular then redis.call('ZINCRBY', P .. ':q:users', -1, query) end
  local last = redis.call('HGET', P .. ':q:last', query)
  if (not last) or tonumber(ts) > tonumber(last) then redis.call('HSET', P .. ':q:last', query, ts) end
  local ae, ce, dk = P .. ':ae:' .. iid, P .. ':ce:' .. iid, P .. ':tmday:' .. day
  if not evidence then return end  -- logged only (the caller sends no served results then)
  if n > 0 then redis.call('ZADD', P .. ':days', 0, day) end
  for _ = 1, n do
    local aid, expo, counted, nc = arg(), arg(), arg() == '1', tonumber(arg())
    if counted then
      redis.call('ZINCRBY', P .. ':tm', -1, aid)
      redis.call('ZINCRBY', dk, -1, aid)
    end
    redis.call('HINCRBY', ae, aid .. '|i', 1)
    redis.call('HINCRBYFLOAT', ae, aid .. '|x', expo)
    for _ = 1, nc do
      local cid, sim = arg(), arg()
      if counted then redis.call('HINCRBY', P .. ':ctm', cid, 1) end
      redis.call('HINCRBY', ce, cid .. '|t', 1)
      local old = redis.call('HGET', ce, cid .. '|s')
      if (not old) or tonumber(sim) > tonumber(old) then redis.call('HSET', ce, cid .. '|s', sim) end
    end
  end
end

local FEEDBACK = {click = 'c', dwell = 'n', upvote = 'u', downvote = 'v'}
local function apply_feedback(P, iid, aid, ev, dwell, counted, replaces, user, mode, stance)
  if counted ~= '1' then return end  -- a repeat of this user's click, vote or dwell: logged only
  redis.call('HINCRBY', P .. ':sum', 'feedback', 1)
  local ae = P .. ':ae:' .. iid
  if redis.call('HEXISTS', ae, aid .. '|i') == 0 then  -- feedback on a search that was not evidence
    redis.call('HSET', ae, aid .. '|i', 0, aid .. '|x', '0')
  end
  if FEEDBACK[ev] then redis.call('HINCRBY', ae, aid .. '|' .. FEEDBACK[ev], 1) end  -- an unvote adds nothing
  if replaces ~= '' then redis.call('HINCRBY', ae, aid .. '|' .. FEEDBACK[replaces], -1) end
  if ev == 'click' then redis.call('HINCRBY', P .. ':sum', 'clicks', 1) end
  if ev == 'dwell' then redis.call('HINCRBY', ae, aid .. '|d', dwell) end
  if mode == 'set' then redis.call('HSET', P .. ':au:' .. iid, aid .. '|' .. user, stance) end
  if mode == 'nx' then redis.call('HSETNX', P .. ':au:' .. iid, aid .. '|' .. user, stance) end
  if mode == 'del' then redis.call('HDEL', P .. ':au:' .. iid, aid .. '|' .. user) end
end

local function clear_derived(P)
  for _, day in ipairs(redis.call('ZRANGE', P .. ':days', 0, -1)) do
    redis.call('UNLINK', P .. ':tmday:' .. day)
  end
  for _, iid in ipairs(redis.call('ZRANGE', P .. ':intents', 0, -1)) do
    redis.call('UNLINK', P .. ':ae:' .. iid, P .. ':ce:' .. iid, P .. ':au:' .. iid)
  end
  for _, k in ipairs(DERIVED) do redis.call('UNLINK', P .. k) end
end
"""

# KEYS: seq, log, sid key of this search.  ARGV: D, body, sid-json-without-"{"s":seq,", ttl seconds
# (0: keep), search fields...  The idempotency key expires after the window; the log entry does not.
_RECORD_SEARCH = _LUA_COMMON + r"""
local D, body, rest, ttl = arg(), arg(), arg(), tonumber(arg())
local old = redis.call('GET', KEYS[3])
if old then return cjson.decode(old)['s'] end  -- already recorded: idempotent
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], seq .. '-0', 'e', body)
local v = '{"s": ' .. seq .. ', ' .. rest
if ttl > 0 then redis.call('SET', KEYS[3], v, 'EX', ttl) else redis.call('SET', KEYS[3], v) end
apply_search(D, seq)
return seq
"""

# KEYS: seq, log, sid key, feedback identity key.  ARGV: D, body JSON without intent_id/rank and closing
# brace, artifact_id, event, dwell_ms, ttl.  Validates against the stored search so the check and the
# write are one atomic step; -1 = unknown (or expired) search, -2 = artifact not served (nothing written).
_RECORD_FEEDBACK = _LUA_COMMON + r"""
local D, head, aid, ev, dwell, ttl = arg(), arg(), arg(), arg(), arg(), tonumber(arg())
local counted, replaces, user, mode, stance = arg(), arg(), arg(), arg(), arg()
local done = redis.call('GET', KEYS[4])
if done then return tonumber(done) end  -- already recorded: idempotent
local raw = redis.call('GET', KEYS[3])
if not raw then return -1 end
local s = cjson.decode(raw)
local rank = s['r'][aid]
if rank == nil then return -2 end
local seq = redis.call('INCR', KEYS[1])
local body = head .. ', "intent_id": ' .. cjson.encode(s['i'])
  .. ', "rank": ' .. string.format('%d', rank) .. '}'
redis.call('XADD', KEYS[2], seq .. '-0', 'e', body)
if ttl > 0 then redis.call('SET', KEYS[4], seq, 'EX', ttl) else redis.call('SET', KEYS[4], seq) end
apply_feedback(D, s['i'], aid, ev, dwell, counted, replaces, user, mode, stance)
return seq
"""

# KEYS: seq (routing only).  ARGV: target prefix, then ('s', seq, search fields...) or
# ('f', intent, artifact, event, dwell_ms, counted, replaces, user, mode, stance) records: the same apply
# functions as the writers.
_REPLAY = _LUA_COMMON + r"""
local P = arg()
while pos < #ARGV do
  if arg() == 's' then
    local seq = arg()
    apply_search(P, seq)
  else
    local iid, aid, ev, dwell = arg(), arg(), arg(), arg()
    local counted, replaces, user, mode, stance = arg(), arg(), arg(), arg(), arg()
    apply_feedback(P, iid, aid, ev, dwell, counted, replaces, user, mode, stance)
  end
end
return 1
"""

# KEYS: seq.  ARGV: prefixes to clear.
_CLEAR_DERIVED = _LUA_COMMON + r"""
for i = 1, #ARGV do clear_derived(ARGV[i]) end
return 1
"""

# KEYS: seq.  ARGV: D, T, seq the replay reached.  Swaps T in for D only when no event was
# appended since (else returns 0 and the caller replays the tail first), so the result is exact.
_SWAP = _LUA_COMMON + r"""
local D, T, upto = arg(), arg(), arg()
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(upto) then return 0 end
clear_derived(D)
local function mv(a, b) if redis.call('EXISTS', a) == 1 then redis.call('RENAME', a, b) end end
for _, day in ipairs(redis.call('ZRANGE', T .. ':days', 0, -1)) do
  mv(T .. ':tmday:' .. day, D .. ':tmday:' .. day)
end
for _, iid in ipairs(redis.call('ZRANGE', T .. ':intents', 0, -1)) do
  mv(T .. ':ae:' .. iid, D .. ':ae:' .. iid)
  mv(T .. ':ce:' .. iid, D .. ':ce:' .. iid)
  mv(T .. ':au:' .. iid, D .. ':au:' .. iid)
end
for _, k in ipairs(DERIVED) do mv(T .. k, D .. k) end
return 1
"""

# KEYS: seq, log (of one shard).  ARGV: D, T.  Idempotency keys are removed by `clear` with SCAN.
_CLEAR_ALL = _LUA_COMMON + r"""
clear_derived(ARGV[1])
clear_derived(ARGV[2])
for i = 1, #KEYS do redis.call('UNLINK', KEYS[i]) end
return 1
"""

# KEYS: log, checkpoint (of one shard).  ARGV: seq archived up to.  Moves the checkpoint and trims the
# log behind it in one step, so a reader sees an event either in the stream or behind the checkpoint.
_TRIM = r"""
local upto = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') < upto then redis.call('SET', KEYS[2], upto) end
redis.call('XTRIM', KEYS[1], 'MINID', (upto + 1) .. '-0')
return 1
"""

# KEYS: scores.  ARGV: artifact, score, artifact, score, ...
_PUT_SCORES = r"""
redis.call('UNLINK', KEYS[1])
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""

# KEYS: lock.  ARGV: token.  Release only our own lock.
_UNLOCK = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def feedback_identity(ev: FeedbackEvent) -> str:
    """What makes two feedback events the same event: a retry of a write carries the same one."""
    raw = "\x1f".join((ev.search_id, ev.artifact_id, ev.event, repr(float(ev.ts)), str(int(ev.dwell_ms))))
    return hashlib.blake2b(raw.encode("utf-8"), digest_size=12).hexdigest()


def _search_args(ev: SearchEvent) -> list[Any]:
    """The flat argument list `apply_search` reads; floats as repr so Lua never rounds them."""
    evidence = ev.evidence
    out: list[Any] = [ev.intent_id, ev.query, day_of(ev.ts), int(ev.zero_results), int(ev.low_confidence),
                      repr(float(ev.ts)), int(ev.filtered_empty), int(ev.preview), int(evidence),
                      int(ev.new_user and evidence), len(ev.served) if evidence else 0]
    if not evidence:
        return out
    for s in ev.served:
        out += [s.artifact_id, repr(examination(s.rank)), int(s.rank <= ev.k), len(s.capabilities)]
        for cid, sim in s.capabilities:
            out += [cid, repr(float(sim))]
    return out


def _feedback_args(ev: FeedbackEvent) -> list[Any]:
    """What `apply_feedback` reads after (intent, artifact, event, dwell_ms)."""
    mode, stance = stance_op(ev)
    return [int(ev.counted), ev.replaces, ev.user, mode, stance]


def _parse_artifact_edges(h: Mapping[str, str], users: Mapping[str, str] | None = None) -> dict[str, EdgeStats]:
    out: dict[str, EdgeStats] = {}
    for f, v in (users or {}).items():
        aid, user = f.rsplit("|", 1)
        out.setdefault(aid, EdgeStats()).users[user] = int(v)
    for f, v in h.items():
        aid, stat = f.rsplit("|", 1)
        e = out.setdefault(aid, EdgeStats())
        if stat == "x":
            e.exposure = float(v)
        else:
            setattr(e, _STATS[stat], int(v))
    for e in out.values():
        e.users = dict(sorted(e.users.items()))
    return dict(sorted(out.items()))


def _parse_capability_edges(h: Mapping[str, str]) -> dict[str, tuple[int, float]]:
    times: dict[str, int] = {}
    sims: dict[str, float] = {}
    for f, v in h.items():
        cid, stat = f.rsplit("|", 1)
        if stat == "t":
            times[cid] = int(v)
        else:
            sims[cid] = float(v)
    return {cid: (times[cid], sims[cid]) for cid in sorted(times)}


def shard_tags(prefix: str, shards: int) -> list[str]:
    """The hash tag of each shard: with one shard `{prefix}`; with more, `{prefix#i.j}` where j is the first
    suffix whose Cluster slot falls in the i-th of `shards` equal slot ranges. Deterministic (every host
    computes the same tags) and spread evenly over the slot space, so masters that own equal slot ranges
    (what `redis-cli --cluster create` gives) own nearly equal numbers of shards."""
    if shards == 1:
        return ["{" + prefix + "}"]
    tags = []
    for i in range(shards):
        lo, hi = i * _SLOTS // shards, (i + 1) * _SLOTS // shards
        j = 0
        while not lo <= key_slot(f"{prefix}#{i}.{j}".encode()) < hi:
            j += 1
        tags.append("{" + f"{prefix}#{i}.{j}" + "}")
    return tags


def shard_of(intent_id: str, shards: int) -> int:
    """The shard an intent (and every search for it, and their feedback) lives in: a stable hash."""
    return zlib.crc32(intent_id.encode("utf-8")) % shards if shards > 1 else 0


class _Shard:
    """The key names of one shard; every key carries the shard's hash tag, so one Cluster slot."""

    def __init__(self, index: int, tag: str) -> None:
        self.index, self.tag = index, tag
        self.seq, self.log, self.D, self.T = f"{tag}:seq", f"{tag}:log", f"{tag}:d", f"{tag}:t"
        self.arch, self.iv = f"{tag}:arch", f"{tag}:iv"  # archive checkpoint; intent vectors (float16)

    def sid(self, search_id: str) -> str:
        return f"{self.tag}:sid:{search_id}"

    def fid(self, identity: str) -> str:
        return f"{self.tag}:fid:{identity}"


class RedisStore(MatchStore):
    """Match store in Redis; safe for many processes and hosts (all writes are atomic scripts).

    `url` may be redis://, rediss:// or redis+cluster:// (or pass cluster=True). Query parameters of the URL
    override the arguments: `prefix`, `shards` (default 1 on a single Redis, 16 on a Cluster; fixed for
    the life of a deployment and checked against the stored value) and `idempotency_window_s` (how long a
    search id and a feedback identity are remembered; 0 = forever).

    Sharding: an event goes to the shard of its intent (`shard_of`): the search, its idempotency key,
    the intent's text, searches and edges, and every feedback on that search live under one hash tag, so
    each write is one atomic single-slot script. Aggregates (Times Matched, day buckets, query counts,
    summary counters) are kept per shard and summed at read time (top-k lists by an exact threshold
    merge). Sequence numbers are per shard; the store-wide number of an event is `seq * shards + shard`,
    so it names the event and orders each shard's log, but the shards have no common order.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", prefix: str = "mg", *, cluster: bool = False,
                 shards: int | None = None, idempotency_window_s: float = 0.0,
                 archive_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        parsed = split_redis_url(url, prefix)
        opts, prefix, cluster = parsed.params, parsed.prefix, cluster or parsed.cluster
        if not prefix or any(c in prefix for c in "{}#"):
            raise ValueError(f"prefix must be non-empty and free of braces and '#': {prefix!r}")
        try:
            shards = int(opts.get("shards", shards or (16 if cluster else 1)))
            window = float(opts.get("idempotency_window_s", idempotency_window_s))
        except ValueError as exc:
            raise ValueError(f"bad shards or idempotency_window_s in {url!r}: {exc}") from None
        if not 1 <= shards <= 1024:
            raise ValueError(f"shards must be between 1 and 1024, got {shards}")
        if window < 0:
            raise ValueError(f"idempotency_window_s must be >= 0, got {window}")
        self.url, self.prefix, self.cluster = url, prefix, cluster
        self.n, self.window = shards, int(window)
        self.r = dataclasses.replace(parsed, cluster=cluster).client(decode_responses=True, **kwargs)
        tag = "{" + prefix + "}"
        self.k_scores, self.k_lock, self.k_meta = f"{tag}:scores", f"{tag}:rebuild", f"{tag}:meta"
        self.k_hidden = f"{tag}:hidden"
        self.shards = [_Shard(i, t) for i, t in enumerate(shard_tags(prefix, shards))]
        self.archive = LogArchive(archive_dir, prefix) if archive_dir is not None else None
        self._search_shard: OrderedDict[str, int] = OrderedDict()  # search id -> shard, recent ones
        self._checked_layout = False
        reg = self.r.register_script
        self._s_search, self._s_feedback = reg(_RECORD_SEARCH), reg(_RECORD_FEEDBACK)
        self._s_replay, self._s_swap, self._s_clear_derived = reg(_REPLAY), reg(_SWAP), reg(_CLEAR_DERIVED)
        self._s_clear_all, self._s_scores, self._s_unlock = reg(_CLEAR_ALL), reg(_PUT_SCORES), reg(_UNLOCK)
        self._s_trim = reg(_TRIM)

    # --- layout ------------------------------------------------------------------------------
    def _check_layout(self) -> None:
        """The shard count is part of the data layout: record it on first write, refuse a different one."""
        if self._checked_layout:
            return
        self.r.hsetnx(self.k_meta, "shards", self.n)
        stored = int(self.r.hget(self.k_meta, "shards") or self.n)
        if stored != self.n:
            raise ValueError(f"the store under prefix {self.prefix!r} was created with shards={stored}; "
                             f"this process was configured with shards={self.n}")
        self._checked_layout = True

    def history_epoch(self) -> str:
        """`{p}:meta` field `epoch`, made by the first process that asks (HSETNX): gone with the rest of the
        data when Redis comes back empty, so the next one made differs from what the hosts remember."""
        self.r.hsetnx(self.k_meta, "epoch", uuid.uuid4().hex[:16])
        return str(self.r.hget(self.k_meta, "epoch"))

    def restore_archive(self) -> int:
        """Record the archived events again (in each shard's log order, through the idempotent write path),
        then set the archive folder aside (`<prefix>.restored-<time>`): the next `compact` archives them
        again under their new sequence numbers, so no event is ever counted twice by a rebuild."""
        if self.archive is None or not self.archive.root.is_dir():
            return 0
        restored = 0
        for sh in self.shards:
            batch: list[SearchEvent | FeedbackEvent] = []
            for _, d in self.archive.read(sh.index):
                batch.append(event_from_dict(d))
                if len(batch) >= _REPLAY_BATCH:
                    restored += sum(1 for r in self.record_many(batch) if not isinstance(r, Exception))
                    batch = []
            if batch:
                restored += sum(1 for r in self.record_many(batch) if not isinstance(r, Exception))
        aside = self.archive.root.with_name(f"{self.archive.root.name}.restored-{int(time.time())}")
        os.rename(self.archive.root, aside)
        return restored

    def _enc(self, shard: int, seq: int) -> int:
        return seq * self.n + shard

    def _remember_search(self, search_id: str, shard: int) -> None:
        self._search_shard[search_id] = shard
        self._search_shard.move_to_end(search_id)
        while len(self._search_shard) > _RECENT_SEARCHES:
            self._search_shard.popitem(last=False)

    def _find_searches(self, search_ids: Iterable[str]) -> dict[str, int]:
        """search id -> its shard, for the ids that are recorded (and not expired). One shard: no lookup;
        else recent searches of this process, then one pipelined EXISTS per shard for the rest."""
        ids = list(dict.fromkeys(search_ids))
        if self.n == 1:
            return dict.fromkeys(ids, 0)
        out = {s: self._search_shard[s] for s in ids if s in self._search_shard}
        todo = [s for s in ids if s not in out]
        if todo:
            pipe = self.r.pipeline(transaction=False)
            for s in todo:
                for sh in self.shards:
                    pipe.exists(sh.sid(s))
            found = pipe.execute()
            for j, s in enumerate(todo):
                hit = next((i for i in range(self.n) if found[j * self.n + i]), None)
                if hit is not None:
                    out[s] = hit
        return out

    # --- writing ---------------------------------------------------------------------------
    def _search_call(self, event: SearchEvent) -> tuple[int, list[str], list[Any]]:
        check_search(event)
        sh = self.shards[shard_of(event.intent_id, self.n)]
        rest = json.dumps({"i": event.intent_id, "r": served_ranks(event)}, ensure_ascii=False)[1:]
        return sh.index, [sh.seq, sh.log, sh.sid(event.search_id)], [
            sh.D, json.dumps(event.to_dict(), ensure_ascii=False), rest, self.window, *_search_args(event)]

    def _feedback_call(self, event: FeedbackEvent, shard: int) -> tuple[list[str], list[Any]]:
        d = event.to_dict()
        del d["intent_id"], d["rank"]  # filled in by the script from the stored search
        head = json.dumps(d, ensure_ascii=False)[:-1]
        sh = self.shards[shard]
        return [sh.seq, sh.log, sh.sid(event.search_id), sh.fid(feedback_identity(event))], [
            sh.D, head, event.artifact_id, event.event, int(event.dwell_ms), self.window, *_feedback_args(event)]

    def _feedback_result(self, event: FeedbackEvent, shard: int, res: int) -> int:
        if res == -1:
            raise UnknownSearch(event.search_id)
        if res == -2:
            raise NotServed(f"{event.artifact_id} was not served by search {event.search_id}")
        return self._enc(shard, res)

    def record_search(self, event: SearchEvent) -> int:
        self._check_layout()
        shard, keys, args = self._search_call(event)
        seq = int(self._s_search(keys=keys, args=args))
        self._remember_search(event.search_id, shard)
        return self._enc(shard, seq)

    def record_feedback(self, event: FeedbackEvent) -> int:
        check_feedback(event)
        shard = self._find_searches([event.search_id]).get(event.search_id)
        if shard is None:
            raise UnknownSearch(event.search_id)
        keys, args = self._feedback_call(event, shard)
        return self._feedback_result(event, shard, int(self._s_feedback(keys=keys, args=args)))

    def record_many(self, events: Sequence[SearchEvent | FeedbackEvent]) -> list[int | Exception]:
        """Record events in order in one round trip (a pipeline of the same scripts): for each event its
        sequence number, or the exception recording it alone would raise (UnknownSearch, NotServed,
        ValueError, a Redis error reply). A lost connection raises; the writes are idempotent, so the
        caller simply sends the batch again. Used by the outage spool to replay fast and by feedback batches.
        On a Cluster each event is one call (each goes to its own shard's master)."""
        if self.cluster:
            out: list[int | Exception] = []
            for ev in events:
                try:
                    out.append(self.record_search(ev) if isinstance(ev, SearchEvent) else self.record_feedback(ev))
                except (UnknownSearch, NotServed, ValueError, redis.ResponseError) as exc:
                    out.append(exc)
            return out
        if not events:
            return []
        self._check_layout()
        batch_shards = {ev.search_id: shard_of(ev.intent_id, self.n) for ev in events
                        if isinstance(ev, SearchEvent)}
        known = self._find_searches(ev.search_id for ev in events
                                    if isinstance(ev, FeedbackEvent) and ev.search_id not in batch_shards)
        known.update(batch_shards)
        pipe = self.r.pipeline(transaction=False)
        refused: dict[int, Exception] = {}
        shard_of_event: dict[int, int] = {}
        for i, ev in enumerate(events):
            try:
                if isinstance(ev, SearchEvent):
                    shard, keys, args = self._search_call(ev)
                    self._s_search(keys=keys, args=args, client=pipe)
                else:
                    check_feedback(ev)
                    if ev.search_id not in known:
                        raise UnknownSearch(ev.search_id)
                    shard = known[ev.search_id]
                    keys, args = self._feedback_call(ev, shard)
                    self._s_feedback(keys=keys, args=args, client=pipe)
                shard_of_event[i] = shard
            except (ValueError, UnknownSearch) as exc:
                refused[i] = exc
        replies = iter(pipe.execute(raise_on_error=False) if len(refused) < len(events) else [])
        results: list[int | Exception] = []
        for i, ev in enumerate(events):
            if i in refused:
                results.append(refused[i])
                continue
            reply, shard = next(replies), shard_of_event[i]
            if isinstance(reply, Exception):
                if isinstance(reply, redis.ConnectionError | redis.TimeoutError):
                    raise reply
                results.append(reply)
            elif isinstance(ev, SearchEvent):
                self._remember_search(ev.search_id, shard)
                results.append(self._enc(shard, int(reply)))
            else:
                try:
                    results.append(self._feedback_result(ev, shard, int(reply)))
                except (UnknownSearch, NotServed) as exc:
                    results.append(exc)
        return results

    def exchange(self, key: str, value: str, ttl_s: float, only_if_absent: bool = False) -> str | None:
        return self.r.set(f"{self.prefix}:c:{key}", value, px=max(1, int(ttl_s * 1000)),
                          nx=only_if_absent, get=True)

    def hide_query(self, query: str, hidden: bool = True) -> None:
        (self.r.sadd if hidden else self.r.srem)(self.k_hidden, query)

    def hidden_queries(self) -> set[str]:
        return set(self.r.smembers(self.k_hidden))

    def put_match_scores(self, scores: Mapping[str, float]) -> None:
        args: list[str] = []
        for a, v in scores.items():
            args += [a, repr(float(v))]
        self._s_scores(keys=[self.k_scores], args=args)

    def rebuild(self, aliases: Mapping[str, str] | None = None) -> None:
        """Per shard, replays its log into temp keys in short batches (writers keep going), then swaps
        them in with one script once the replay has caught up, so readers see old or new, never half.
        A reader summing over shards sees each shard old or new: equal values, so no count ever dips."""
        with self._maintenance("rebuild"):
            for sh in self.shards:
                self._rebuild_shard(sh, AliasMap(aliases or {}))

    @contextlib.contextmanager
    def _maintenance(self, what: str) -> Iterator[None]:
        """One rebuild or compaction at a time, store-wide (a lock key with a token and an expiry)."""
        token = uuid.uuid4().hex
        if not self.r.set(self.k_lock, token, nx=True, px=_REBUILD_LOCK_MS):
            raise RuntimeError(f"cannot {what}: another rebuild or compaction is running")
        try:
            yield
        finally:
            self._s_unlock(keys=[self.k_lock], args=[token])

    def compact(self, retain_s: float, now: float | None = None) -> dict[str, int]:
        """Archive and trim each shard's log entries older than `retain_s` seconds (by event time, in log
        order: the first entry inside the window stops the shard). Files first (fsync'd), then the
        checkpoint and the trim in one script; derived state is untouched, and `rebuild` replays archive
        + tail. Returns {"archived": events moved now, "retained": entries left in Redis}."""
        if self.archive is None:
            raise ValueError("compaction needs an archive dir (archive_dir=...)")
        cutoff = (time.time() if now is None else now) - retain_s
        archived = retained = 0
        with self._maintenance("compact"):
            for sh in self.shards:
                start = int(self.r.get(sh.arch) or 0)
                while True:
                    rows = self.r.xrange(sh.log, min=f"{start + 1}-0", max="+", count=_COMPACT_BATCH)
                    take: list[tuple[int, str]] = []
                    for entry_id, fields in rows:
                        if json.loads(fields["e"])["ts"] >= cutoff:
                            break
                        take.append((int(entry_id.split("-", 1)[0]), fields["e"]))
                    if take:
                        self.archive.append(sh.index, take)
                        self._s_trim(keys=[sh.log, sh.arch], args=[take[-1][0]])
                        archived, start = archived + len(take), take[-1][0]
                    if len(take) < _COMPACT_BATCH:
                        break
                retained += int(self.r.xlen(sh.log))
        return {"archived": archived, "retained": retained}

    def _rebuild_shard(self, sh: _Shard, aliases: AliasMap) -> None:
        self._s_clear_derived(keys=[sh.seq], args=[sh.T])
        done = 0
        for _ in range(1000):
            batch: list[Any] = [sh.T]
            n = 0
            for seq, raw in self._shard_events(sh, done):
                ev = aliases.map_event(raw)
                if isinstance(ev, SearchEvent):
                    batch += ["s", seq, *_search_args(ev)]
                else:
                    batch += ["f", ev.intent_id, ev.artifact_id, ev.event, int(ev.dwell_ms), *_feedback_args(ev)]
                n, done = n + 1, seq
                if n >= _REPLAY_BATCH:
                    self._s_replay(keys=[sh.seq], args=batch)
                    batch, n = [sh.T], 0
            if n:
                self._s_replay(keys=[sh.seq], args=batch)
            if self._s_swap(keys=[sh.seq], args=[sh.D, sh.T, done]):
                return
        raise RuntimeError("rebuild could not catch up with concurrent writers")

    def clear(self) -> None:
        for sh in self.shards:
            self._s_clear_all(keys=[sh.seq, sh.log, sh.arch, sh.iv], args=[sh.D, sh.T])
            for pattern in (f"{sh.tag}:sid:*", f"{sh.tag}:fid:*"):
                keys = list(self.r.scan_iter(match=_glob_escape(pattern), count=1000))
                for i in range(0, len(keys), _PAGE):
                    pipe = self.r.pipeline(transaction=False)
                    for k in keys[i:i + _PAGE]:
                        pipe.unlink(k)
                    pipe.execute()
        self.r.unlink(self.k_scores, self.k_meta, self.k_hidden)
        claims = list(self.r.scan_iter(match=_glob_escape(f"{self.prefix}:c:") + "*", count=1000))
        for i in range(0, len(claims), _PAGE):
            pipe = self.r.pipeline(transaction=False)
            for k in claims[i:i + _PAGE]:
                pipe.unlink(k)
            pipe.execute()
        if self.archive is not None:
            shutil.rmtree(self.archive.root, ignore_errors=True)
        self._search_shard.clear()
        self._checked_layout = False

    # --- reading ---------------------------------------------------------------------------
    def _each(self, call: Callable[[Any, _Shard], Any]) -> list[Any]:
        """One pipelined call per shard (`call(pipe, shard)`), replies in shard order."""
        pipe = self.r.pipeline(transaction=False)
        for sh in self.shards:
            call(pipe, sh)
        return pipe.execute()

    def get_search(self, search_id: str) -> SearchEvent | None:
        shard = self._find_searches([search_id]).get(search_id)
        if shard is None:
            return None
        sh = self.shards[shard]
        raw = self.r.get(sh.sid(search_id))
        if raw is None:
            return None
        seq = json.loads(raw)["s"]
        rows = self.r.xrange(sh.log, min=f"{seq}-0", max=f"{seq}-0")
        return SearchEvent.from_dict(json.loads(rows[0][1]["e"])) if rows else None

    def _zsum(self, key: str, members: list[str]) -> dict[str, int]:
        """member -> sum over shards of -score in each shard's zset `key` (counts are stored negated)."""
        out = dict.fromkeys(members, 0)
        for i in range(0, len(members), _PAGE * 2):
            part = members[i:i + _PAGE * 2]
            for scores in self._each(lambda p, sh, part=part: p.zmscore(f"{sh.D}:{key}", part)):
                for m, s in zip(part, scores, strict=True):
                    if s is not None:
                        out[m] += int(-s)
        return out

    def _top(self, key: str, limit: int) -> list[tuple[str, int]]:
        """The exact top `limit` of the per-shard zsets `key` summed (highest first, ties by member), by a
        threshold merge: read the first m of each shard; an unread member cannot total more than the sum of
        the m-th counts, so once the limit-th total beats that bound the answer is exact; else read deeper."""
        if limit <= 0:
            return []
        if self.n == 1:
            return [(m, int(-s)) for m, s in self.r.zrange(f"{self.shards[0].D}:{key}", 0, limit - 1,
                                                           withscores=True)]
        m = limit
        while True:
            lists = self._each(lambda p, sh, m=m: p.zrange(f"{sh.D}:{key}", 0, m - 1, withscores=True))
            seen = list(dict.fromkeys(member for rows in lists for member, _ in rows))
            bound = sum(int(-rows[-1][1]) for rows in lists if len(rows) == m)
            ranked = sorted(self._zsum(key, seen).items(), key=lambda kv: (-kv[1], kv[0]))
            exhausted = all(len(rows) < m for rows in lists)
            if exhausted or (len(ranked) >= limit and ranked[limit - 1][1] > bound):
                return ranked[:limit]
            m *= 4

    def times_matched(self, artifact_ids: Iterable[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(artifact_ids))
        return self._zsum("tm", ids) if ids else {}

    def capability_times_matched(self, capability_ids: Iterable[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(capability_ids))
        if not ids:
            return {}
        out = dict.fromkeys(ids, 0)
        for counts in self._each(lambda p, sh: p.hmget(f"{sh.D}:ctm", ids)):
            for c, n in zip(ids, counts, strict=True):
                out[c] += int(n or 0)
        return out

    def _days(self, since: str | None) -> list[list[str]]:
        """Per shard, the days that have match buckets (from `since` on)."""
        lo = f"[{since}" if since else "-"
        return self._each(lambda p, sh: p.zrangebylex(f"{sh.D}:days", lo, "+"))

    def top_artifacts(self, limit: int = 10, since: str | None = None) -> list[tuple[str, int]]:
        if limit <= 0:
            return []
        if since is None:
            return self._top("tm", limit)
        # ZUNION within a shard (one slot) sums its day buckets; the shards' sums are added here
        pipe = self.r.pipeline(transaction=False)
        for sh, days in zip(self.shards, self._days(since), strict=True):
            if days:
                pipe.zunion([f"{sh.D}:tmday:{d}" for d in days], withscores=True)
        totals: dict[str, int] = {}
        for rows in pipe.execute():
            for a, s in rows:
                totals[a] = totals.get(a, 0) + int(-s)
        return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    def timeline(self, artifact_id: str, since: str | None = None) -> list[tuple[str, int]]:
        pipe = self.r.pipeline(transaction=False)
        asked: list[str] = []
        for sh, days in zip(self.shards, self._days(since), strict=True):
            for d in days:
                pipe.zscore(f"{sh.D}:tmday:{d}", artifact_id)
                asked.append(d)
        out: dict[str, int] = {}
        for d, s in zip(asked, pipe.execute() if asked else [], strict=True):
            if s is not None:
                out[d] = out.get(d, 0) + int(-s)
        return sorted(out.items())

    def searches_per_day(self, since: str | None = None) -> list[tuple[str, int]]:
        out: dict[str, int] = {}
        for rows in self._each(lambda p, sh: p.hgetall(f"{sh.D}:spd")):
            for d, n in rows.items():
                if since is None or d >= since:
                    out[d] = out.get(d, 0) + int(n)
        return sorted(out.items())

    def queries(self, kind: str, limit: int = 20) -> list[QueryStat]:
        if kind not in QUERY_KINDS:
            raise ValueError(f"unknown query kind {kind!r}; expected one of {QUERY_KINDS}")
        qs = [q for q, _ in self._top(_QUERY_KEYS[kind], limit)]
        if not qs:
            return []
        top, zero, low, empty, users = (self._zsum(k, qs) for k in ("q:top", "q:zero", "q:low", "q:empty",
                                                                    "q:users"))
        last = dict.fromkeys(qs, 0.0)
        for stamps in self._each(lambda p, sh: p.hmget(f"{sh.D}:q:last", qs)):
            for q, t in zip(qs, stamps, strict=True):
                if t is not None:
                    last[q] = max(last[q], float(t))
        return [QueryStat(q, top[q], zero[q], low[q], last[q], empty[q], users[q]) for q in qs]

    def summary(self) -> dict[str, int]:
        keys = SUMMARY_COUNTERS
        out = dict.fromkeys(keys, 0)
        for counters in self._each(lambda p, sh: p.hgetall(f"{sh.D}:sum")):
            for k in keys:
                out[k] += int(counters.get(k, 0))
        intents = sum(self._each(lambda p, sh: p.zcard(f"{sh.D}:intents")))  # an intent lives in one shard
        if self.n == 1:
            matched = self.r.zcard(f"{self.shards[0].D}:tm")
        else:  # an artifact is matched in many shards: count the union
            matched = len(set().union(*self._each(lambda p, sh: p.zrange(f"{sh.D}:tm", 0, -1))))
        out.update(intents=int(intents), matched_artifacts=int(matched))
        return out

    def _intents_after(self, positions: Sequence[int]) -> list[Intent]:
        """Intents first seen after each shard's own sequence number: one pipelined read over the shards,
        then the texts and counts of the new ones (nothing more when there are none: the polling case)."""
        rows = self._each(lambda p, sh: p.zrangebyscore(f"{sh.D}:intents", f"({positions[sh.index]}", "+inf",
                                                        withscores=True))
        todo = [(sh, r) for sh, r in zip(self.shards, rows, strict=True) if r]
        if not todo:
            return []
        pipe = self.r.pipeline(transaction=False)
        for sh, r in todo:
            ids = [i for i, _ in r]
            pipe.hmget(f"{sh.D}:itext", ids)
            pipe.hmget(f"{sh.D}:isearches", ids)
        got = pipe.execute()
        out: list[Intent] = []
        for j, (sh, r) in enumerate(todo):
            texts, counts = got[2 * j], got[2 * j + 1]
            out += [Intent(i, t or "", int(n or 0), self._enc(sh.index, int(s)))
                    for (i, s), t, n in zip(r, texts, counts, strict=True)]
        return out

    def intents(self, after_seq: int = 0) -> list[Intent]:
        out = [i for i in self._intents_after([(after_seq - sh.index) // self.n for sh in self.shards])
               if i.seq > after_seq]
        return sorted(out, key=lambda i: i.seq)

    def intents_since(self, cursor: tuple[int, ...] | None = None) -> tuple[list[Intent], tuple[int, ...]]:
        """Per shard from its own position: shards have no common order, so one number cannot be a cursor."""
        pos = list(cursor) if cursor and len(cursor) == self.n else [0] * self.n
        out = self._intents_after(pos)
        for i in out:
            shard, seq = i.seq % self.n, i.seq // self.n
            pos[shard] = max(pos[shard], seq)
        return out, tuple(pos)

    def _edge_hashes(self, kind: str, intent_ids: list[str]) -> Iterator[tuple[str, dict[str, str]]]:
        for i in range(0, len(intent_ids), _PAGE):
            part = intent_ids[i:i + _PAGE]
            pipe = self.r.pipeline(transaction=False)
            for iid in part:
                pipe.hgetall(f"{self.shards[shard_of(iid, self.n)].D}:{kind}:{iid}")
            for iid, h in zip(part, pipe.execute(), strict=True):
                if h:
                    yield iid, h

    def _all_intent_ids(self) -> list[str]:
        return sorted(i for ids in self._each(lambda p, sh: p.zrange(f"{sh.D}:intents", 0, -1)) for i in ids)

    def intent_edges(self, intent_ids: Iterable[str]) -> dict[str, dict[str, EdgeStats]]:
        return self._artifact_edge_map(list(dict.fromkeys(intent_ids)))

    def _artifact_edge_map(self, ids: list[str]) -> dict[str, dict[str, EdgeStats]]:
        edges = dict(self._edge_hashes("ae", ids))
        users = dict(self._edge_hashes("au", [i for i in ids if i in edges]))
        return {iid: _parse_artifact_edges(h, users.get(iid)) for iid, h in edges.items()}

    def capability_edges(self) -> Iterator[tuple[str, str, int, float]]:
        for iid, h in self._edge_hashes("ce", self._all_intent_ids()):
            for cid, (times, sim) in _parse_capability_edges(h).items():
                yield iid, cid, times, sim

    def artifact_edges(self) -> Iterator[tuple[str, str, EdgeStats]]:
        for iid, by in self._artifact_edge_map(self._all_intent_ids()).items():
            for aid, e in by.items():
                yield iid, aid, e

    def match_scores(self) -> dict[str, float]:
        return {a: float(v) for a, v in self.r.hgetall(self.k_scores).items()}

    def _shard_events(self, sh: _Shard, after_local: int) -> Iterator[tuple[int, SearchEvent | FeedbackEvent]]:
        """One shard's log from after its own sequence number `after_local`: the archived part (behind the
        checkpoint) from the archive files, then the tail from Redis, paged (XRANGE). A trim that happens
        while this reads shows as a gap before the first entry read, which is then read from the archive."""
        last = max(after_local, 0)
        while True:
            checkpoint = int(self.r.get(sh.arch) or 0)
            if checkpoint > last:
                if self.archive is None:
                    raise ArchiveMissing(f"events 1..{checkpoint} of shard {sh.index} are archived: "
                                         f"this store has no archive dir to read them from")
                for seq, d in self.archive.read(sh.index, after=last):
                    if seq > checkpoint:
                        break
                    yield seq, event_from_dict(d)
                    last = seq
                if last < checkpoint:
                    raise ArchiveMissing(f"the archive in {self.archive.root} ends at event {last} of shard "
                                         f"{sh.index}, but events up to {checkpoint} were archived")
            rows = self.r.xrange(sh.log, min=f"{last + 1}-0", max="+", count=_PAGE)
            if not rows:
                return
            if int(rows[0][0].split("-", 1)[0]) > last + 1 and int(self.r.get(sh.arch) or 0) > last:
                continue  # trimmed since the checkpoint was read: the gap is in the archive now
            for entry_id, fields in rows:
                last = int(entry_id.split("-", 1)[0])
                yield last, event_from_dict(json.loads(fields["e"]))

    def events(self, after_seq: int = 0) -> Iterator[tuple[int, SearchEvent | FeedbackEvent]]:
        """Every shard's log merged by store-wide sequence number (within a shard: log order)."""
        def numbered(sh: _Shard) -> Iterator[tuple[int, SearchEvent | FeedbackEvent]]:
            for seq, ev in self._shard_events(sh, (after_seq - sh.index) // self.n):
                if self._enc(sh.index, seq) > after_seq:
                    yield self._enc(sh.index, seq), ev
        if self.n == 1:
            return numbered(self.shards[0])
        return heapq.merge(*(numbered(sh) for sh in self.shards), key=lambda t: t[0])

    def last_seq(self) -> int:
        seqs = self._each(lambda p, sh: p.get(sh.seq))
        return max((self._enc(i, int(s)) for i, s in enumerate(seqs) if s), default=0)

    def snapshot(self) -> dict:
        tm = dict(self._top("tm", 1 << 30))
        ctm: dict[str, int] = {}
        for rows in self._each(lambda p, sh: p.hgetall(f"{sh.D}:ctm")):
            for c, n in rows.items():
                ctm[c] = ctm.get(c, 0) + int(n)
        days: dict[str, dict[str, int]] = {}
        for sh, shard_days in zip(self.shards, self._days(None), strict=True):
            for d in shard_days:
                for a, s in self.r.zrange(f"{sh.D}:tmday:{d}", 0, -1, withscores=True):
                    days.setdefault(a, {})[d] = days.get(a, {}).get(d, 0) + int(-s)
        days = {a: dict(sorted(v.items())) for a, v in sorted(days.items())}
        spd = dict(self.searches_per_day())
        intents = {i.intent_id: [i.text, i.searches, i.seq] for i in self.intents()}
        ids = self._all_intent_ids()
        aedges = {iid: {a: edge_snapshot(e) for a, e in by.items()}
                  for iid, by in self._artifact_edge_map(ids).items()}
        cedges = {iid: {c: [t, s] for c, (t, s) in _parse_capability_edges(h).items()}
                  for iid, h in self._edge_hashes("ce", ids)}
        qs = self.queries("top", limit=1 << 30)
        queries = {q.query: query_snapshot(q) for q in sorted(qs, key=lambda q: q.query)}
        return {"times_matched": dict(sorted(tm.items())), "capability_times_matched": dict(sorted(ctm.items())),
                "artifact_days": days, "searches_per_day": spd, "intents": intents, "artifact_edges": aedges,
                "capability_edges": cedges, "queries": queries, "summary": self.summary()}

    def put_intent_vectors(self, vectors: Mapping[str, np.ndarray]) -> None:
        """Store each intent's query vector once, as float16, beside the intent (its shard): every host
        reads it there instead of embedding another host's intents again."""
        pipe = self.r.pipeline(transaction=False)
        for iid, vec in vectors.items():
            raw = np.ascontiguousarray(vec, dtype="<f2").tobytes()
            pipe.hsetnx(self.shards[shard_of(iid, self.n)].iv, iid, base64.b64encode(raw).decode("ascii"))
        if vectors:
            pipe.execute()

    def intent_vectors(self, intent_ids: Iterable[str]) -> dict[str, np.ndarray]:
        ids = list(dict.fromkeys(intent_ids))
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(ids), _PAGE):
            part = ids[i:i + _PAGE]
            pipe = self.r.pipeline(transaction=False)
            for iid in part:
                pipe.hget(self.shards[shard_of(iid, self.n)].iv, iid)
            for iid, raw in zip(part, pipe.execute(), strict=True):
                if raw:
                    out[iid] = np.frombuffer(base64.b64decode(raw), dtype="<f2").astype(np.float32)
        return out

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except redis.RedisError:
            return False

    def check(self) -> None:
        """Ping, raising what went wrong (the spool tells an outage from a wrong password by it)."""
        self.r.ping()

    def close(self) -> None:
        self.r.close()


def _glob_escape(pattern: str) -> str:
    """Escape glob specials other than the trailing `*` (prefixes may hold '[', '?')."""
    body, star = (pattern[:-1], "*") if pattern.endswith("*") else (pattern, "")
    return "".join("\\" + c if c in "*?[]\\" else c for c in body) + star
