"""Shared backend: Redis (standalone or Cluster), every write one atomic Lua script.

Key layout (every key carries the hash tag `{prefix}` so all land in one Cluster slot and
multi-key scripts are legal; `D` = `{prefix}:d` is live derived state, `T` = `{prefix}:t`
is where `rebuild` replays before swapping in):

    {p}:seq                 INCR counter, the log sequence number
    {p}:log                 stream, entry id `<seq>-0`, field `e` = event JSON
    {p}:sid                 hash search_id -> {"s": seq, "i": intent_id, "r": {artifact: rank}}
    {p}:fid                 hash feedback identity (hash of search, artifact, event, ts, dwell) -> seq
    {p}:scores              hash artifact -> match score (not derived from the log)
    {p}:rebuild             lock held while a rebuild runs
    D:tm                    zset artifact -> -times matched (negated: ZRANGE gives ties by id ascending)
    D:tmday:<day>           zset artifact -> -times matched that day;  D:days  zset (lex) of those days
    D:ctm                   hash capability -> times matched
    D:spd                   hash day -> searches
    D:intents               zset intent -> seq of first search;  D:itext / D:isearches  hashes
    D:ae:<intent>           hash "<artifact>|<stat>" -> value (i impressions, x exposure, c clicks,
                            n dwells, d dwell_ms, u upvotes, v downvotes)
    D:ce:<intent>           hash "<capability>|t" -> times, "<capability>|s" -> max similarity
    D:q:top / q:zero / q:low  zsets query -> -count;  D:q:last  hash query -> last ts
    D:sum                   hash of summary counters

Floats cross into Lua as Python `repr` strings and are stored as sent (max similarity) or
summed with HINCRBYFLOAT (exposure), never formatted by Lua, so no precision is lost and a
replay performs exactly the same operations in the same order.

Writes are idempotent: a search whose search_id is already recorded, or a feedback event whose
identity is already in `{p}:fid`, returns the stored sequence number and changes nothing. A write
retried after a lost reply (client retries, or the spool replaying an event whose first attempt
timed out after Redis had applied it) therefore counts once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster

from graph.events import EdgeStats, FeedbackEvent, SearchEvent, event_from_dict, examination
from graph.store.base import (
    QUERY_KINDS,
    Intent,
    MatchStore,
    NotServed,
    QueryStat,
    UnknownSearch,
    check_feedback,
    check_search,
    day_of,
    edge_snapshot,
    served_ranks,
)

_PAGE = 500  # log entries per XRANGE page, intents per pipeline
_REPLAY_BATCH = 200  # events per replay script call: keeps each call short so Redis stays responsive
_REBUILD_LOCK_MS = 3_600_000
_STATS = {"i": "impressions", "c": "clicks", "d": "dwell_ms", "n": "dwells", "u": "upvotes", "v": "downvotes"}
_QUERY_KEYS = {"zero_results": "q:zero", "low_confidence": "q:low", "top": "q:top"}

_LUA_COMMON = r"""
local pos = 0
local function arg() pos = pos + 1; return ARGV[pos] end
local DERIVED = {':sum', ':spd', ':days', ':tm', ':ctm', ':intents', ':itext', ':isearches',
                 ':q:top', ':q:zero', ':q:low', ':q:last'}

local function apply_search(P, seq)
  local iid, query, day = arg(), arg(), arg()
  local zero, low, ts = arg() == '1', arg() == '1', arg()
  local n = tonumber(arg())
  redis.call('HINCRBY', P .. ':sum', 'searches', 1)
  if zero then redis.call('HINCRBY', P .. ':sum', 'zero_result_searches', 1) end
  if low then redis.call('HINCRBY', P .. ':sum', 'low_confidence_searches', 1) end
  redis.call('HINCRBY', P .. ':spd', day, 1)
  if not redis.call('ZSCORE', P .. ':intents', iid) then
    redis.call('ZADD', P .. ':intents', seq, iid)
    redis.call('HSET', P .. ':itext', iid, query)
  end
  redis.call('HINCRBY', P .. ':isearches', iid, 1)
  redis.call('ZINCRBY', P .. ':q:top', -1, query)
  if zero then redis.call('ZINCRBY', P .. ':q:zero', -1, query) end
  if low then redis.call('ZINCRBY', P .. ':q:low', -1, query) end
  redis.call('HSET', P .. ':q:last', query, ts)
  local ae, ce, dk = P .. ':ae:' .. iid, P .. ':ce:' .. iid, P .. ':tmday:' .. day
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
local function apply_feedback(P, iid, aid, ev, dwell)
  redis.call('HINCRBY', P .. ':sum', 'feedback', 1)
  local ae = P .. ':ae:' .. iid
  redis.call('HINCRBY', ae, aid .. '|' .. FEEDBACK[ev], 1)
  if ev == 'click' then redis.call('HINCRBY', P .. ':sum', 'clicks', 1) end
  if ev == 'dwell' then redis.call('HINCRBY', ae, aid .. '|d', dwell) end
end

local function clear_derived(P)
  for _, day in ipairs(redis.call('ZRANGE', P .. ':days', 0, -1)) do
    redis.call('UNLINK', P .. ':tmday:' .. day)
  end
  for _, iid in ipairs(redis.call('ZRANGE', P .. ':intents', 0, -1)) do
    redis.call('UNLINK', P .. ':ae:' .. iid, P .. ':ce:' .. iid)
  end
  for _, k in ipairs(DERIVED) do redis.call('UNLINK', P .. k) end
end
"""

# KEYS: seq, log, sid.  ARGV: D, body, search_id, sid-json-without-"{"s":seq,", search fields...
_RECORD_SEARCH = _LUA_COMMON + r"""
local D, body, sid, rest = arg(), arg(), arg(), arg()
local old = redis.call('HGET', KEYS[3], sid)
if old then return cjson.decode(old)['s'] end  -- already recorded: idempotent
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], seq .. '-0', 'e', body)
redis.call('HSET', KEYS[3], sid, '{"s": ' .. seq .. ', ' .. rest)
apply_search(D, seq)
return seq
"""

# KEYS: seq, log, sid, fid.  ARGV: D, body JSON without intent_id/rank and closing brace, search_id,
# artifact_id, event, dwell_ms, identity.  Validates against the stored search so the check and the
# write are one atomic step; -1 = unknown search, -2 = artifact not served (nothing written).
_RECORD_FEEDBACK = _LUA_COMMON + r"""
local D, head, sid, aid, ev, dwell, fid = arg(), arg(), arg(), arg(), arg(), arg(), arg()
local done = redis.call('HGET', KEYS[4], fid)
if done then return tonumber(done) end  -- already recorded: idempotent
local raw = redis.call('HGET', KEYS[3], sid)
if not raw then return -1 end
local s = cjson.decode(raw)
local rank = s['r'][aid]
if rank == nil then return -2 end
local seq = redis.call('INCR', KEYS[1])
local body = head .. ', "intent_id": ' .. cjson.encode(s['i'])
  .. ', "rank": ' .. string.format('%d', rank) .. '}'
redis.call('XADD', KEYS[2], seq .. '-0', 'e', body)
redis.call('HSET', KEYS[4], fid, seq)
apply_feedback(D, s['i'], aid, ev, dwell)
return seq
"""

# KEYS: seq (routing only).  ARGV: target prefix, then ('s', seq, search fields...) or
# ('f', intent, artifact, event, dwell_ms) records: the same apply functions as the writers.
_REPLAY = _LUA_COMMON + r"""
local P = arg()
while pos < #ARGV do
  if arg() == 's' then
    local seq = arg()
    apply_search(P, seq)
  else
    local iid, aid, ev, dwell = arg(), arg(), arg(), arg()
    apply_feedback(P, iid, aid, ev, dwell)
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
end
for _, k in ipairs(DERIVED) do mv(T .. k, D .. k) end
return 1
"""

# KEYS: seq, log, sid, scores, fid.  ARGV: D, T.
_CLEAR_ALL = _LUA_COMMON + r"""
clear_derived(ARGV[1])
clear_derived(ARGV[2])
for i = 1, #KEYS do redis.call('UNLINK', KEYS[i]) end
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
    out: list[Any] = [ev.intent_id, ev.query, day_of(ev.ts), int(ev.zero_results), int(ev.low_confidence),
                      repr(float(ev.ts)), len(ev.served)]
    for s in ev.served:
        out += [s.artifact_id, repr(examination(s.rank)), int(s.rank <= ev.k), len(s.capabilities)]
        for cid, sim in s.capabilities:
            out += [cid, repr(float(sim))]
    return out


def _parse_artifact_edges(h: Mapping[str, str]) -> dict[str, EdgeStats]:
    out: dict[str, EdgeStats] = {}
    for f, v in h.items():
        aid, stat = f.rsplit("|", 1)
        e = out.setdefault(aid, EdgeStats())
        if stat == "x":
            e.exposure = float(v)
        else:
            setattr(e, _STATS[stat], int(v))
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


class RedisStore(MatchStore):
    """Match store in Redis; safe for many processes and hosts (all writes are atomic scripts).

    `url` may be redis://, rediss:// or redis+cluster:// (or pass cluster=True); a `prefix`
    query parameter in the URL overrides the `prefix` argument.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", prefix: str = "mg", *, cluster: bool = False,
                 **kwargs: Any) -> None:
        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        prefix = next((v for k, v in query if k == "prefix"), prefix)
        scheme = parts.scheme
        if scheme.endswith("+cluster"):
            cluster, scheme = True, scheme.removesuffix("+cluster")
        if scheme not in ("redis", "rediss"):
            raise ValueError(f"not a Redis URL: {url!r}")
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"prefix must be non-empty and free of braces: {prefix!r}")
        conn_url = urlunsplit((scheme, parts.netloc, parts.path, urlencode([(k, v) for k, v in query
                                                                              if k != "prefix"]), ""))
        self.url, self.prefix, self.cluster = url, prefix, cluster
        client_cls = RedisCluster if cluster else redis.Redis
        self.r = client_cls.from_url(conn_url, decode_responses=True, **kwargs)
        tag = "{" + prefix + "}"
        self.k_seq, self.k_log, self.k_sid, self.k_fid = f"{tag}:seq", f"{tag}:log", f"{tag}:sid", f"{tag}:fid"
        self.k_scores, self.k_lock = f"{tag}:scores", f"{tag}:rebuild"
        self.D, self.T = f"{tag}:d", f"{tag}:t"
        reg = self.r.register_script
        self._s_search, self._s_feedback = reg(_RECORD_SEARCH), reg(_RECORD_FEEDBACK)
        self._s_replay, self._s_swap, self._s_clear_derived = reg(_REPLAY), reg(_SWAP), reg(_CLEAR_DERIVED)
        self._s_clear_all, self._s_scores, self._s_unlock = reg(_CLEAR_ALL), reg(_PUT_SCORES), reg(_UNLOCK)

    # --- writing ---------------------------------------------------------------------------
    def _search_call(self, event: SearchEvent) -> tuple[list[str], list[Any]]:
        check_search(event)
        rest = json.dumps({"i": event.intent_id, "r": served_ranks(event)}, ensure_ascii=False)[1:]
        return [self.k_seq, self.k_log, self.k_sid], [self.D, json.dumps(event.to_dict(), ensure_ascii=False),
                                                      event.search_id, rest, *_search_args(event)]

    def _feedback_call(self, event: FeedbackEvent) -> tuple[list[str], list[Any]]:
        check_feedback(event)
        d = event.to_dict()
        del d["intent_id"], d["rank"]  # filled in by the script from the stored search
        head = json.dumps(d, ensure_ascii=False)[:-1]
        return [self.k_seq, self.k_log, self.k_sid, self.k_fid], [
            self.D, head, event.search_id, event.artifact_id, event.event, int(event.dwell_ms),
            feedback_identity(event)]

    @staticmethod
    def _feedback_result(event: FeedbackEvent, res: int) -> int:
        if res == -1:
            raise UnknownSearch(event.search_id)
        if res == -2:
            raise NotServed(f"{event.artifact_id} was not served by search {event.search_id}")
        return res

    def record_search(self, event: SearchEvent) -> int:
        keys, args = self._search_call(event)
        return int(self._s_search(keys=keys, args=args))

    def record_feedback(self, event: FeedbackEvent) -> int:
        keys, args = self._feedback_call(event)
        return self._feedback_result(event, int(self._s_feedback(keys=keys, args=args)))

    def record_many(self, events: Sequence[SearchEvent | FeedbackEvent]) -> list[int | Exception]:
        """Record events in order in one round trip (a pipeline of the same scripts): for each event its
        sequence number, or the exception recording it alone would raise (UnknownSearch, NotServed,
        ValueError, a Redis error reply). A lost connection raises; the writes are idempotent, so the
        caller simply sends the batch again. Used by the outage spool to replay fast and by feedback batches."""
        if self.cluster:  # keep cluster pipelines out of it: one call per event
            out: list[int | Exception] = []
            for ev in events:
                try:
                    out.append(self.record_search(ev) if isinstance(ev, SearchEvent) else self.record_feedback(ev))
                except (UnknownSearch, NotServed, ValueError, redis.ResponseError) as exc:
                    out.append(exc)
            return out
        pipe = self.r.pipeline(transaction=False)
        refused: dict[int, Exception] = {}
        for i, ev in enumerate(events):
            try:
                if isinstance(ev, SearchEvent):
                    keys, args = self._search_call(ev)
                    self._s_search(keys=keys, args=args, client=pipe)
                else:
                    keys, args = self._feedback_call(ev)
                    self._s_feedback(keys=keys, args=args, client=pipe)
            except ValueError as exc:
                refused[i] = exc
        replies = iter(pipe.execute(raise_on_error=False) if len(refused) < len(events) else [])
        results: list[int | Exception] = []
        for i, ev in enumerate(events):
            if i in refused:
                results.append(refused[i])
                continue
            reply = next(replies)
            if isinstance(reply, Exception):
                if isinstance(reply, redis.ConnectionError | redis.TimeoutError):
                    raise reply
                results.append(reply)
            elif isinstance(ev, SearchEvent):
                results.append(int(reply))
            else:
                try:
                    results.append(self._feedback_result(ev, int(reply)))
                except (UnknownSearch, NotServed) as exc:
                    results.append(exc)
        return results

    def put_match_scores(self, scores: Mapping[str, float]) -> None:
        args: list[str] = []
        for a, v in scores.items():
            args += [a, repr(float(v))]
        self._s_scores(keys=[self.k_scores], args=args)

    def rebuild(self) -> None:
        """Replays the log into temp keys in short batches (writers keep going), then swaps them
        in with one script once the replay has caught up, so readers see old or new, never half."""
        token = uuid.uuid4().hex
        if not self.r.set(self.k_lock, token, nx=True, px=_REBUILD_LOCK_MS):
            raise RuntimeError("another rebuild is running")
        try:
            self._s_clear_derived(keys=[self.k_seq], args=[self.T])
            done = 0
            for _ in range(1000):
                batch: list[Any] = [self.T]
                n = 0
                for seq, ev in self.events(after_seq=done):
                    if isinstance(ev, SearchEvent):
                        batch += ["s", seq, *_search_args(ev)]
                    else:
                        batch += ["f", ev.intent_id, ev.artifact_id, ev.event, int(ev.dwell_ms)]
                    n, done = n + 1, seq
                    if n >= _REPLAY_BATCH:
                        self._s_replay(keys=[self.k_seq], args=batch)
                        batch, n = [self.T], 0
                if n:
                    self._s_replay(keys=[self.k_seq], args=batch)
                if self._s_swap(keys=[self.k_seq], args=[self.D, self.T, done]):
                    return
            raise RuntimeError("rebuild could not catch up with concurrent writers")
        finally:
            self._s_unlock(keys=[self.k_lock], args=[token])

    def clear(self) -> None:
        self._s_clear_all(keys=[self.k_seq, self.k_log, self.k_sid, self.k_scores, self.k_fid],
                          args=[self.D, self.T])

    # --- reading ---------------------------------------------------------------------------
    def get_search(self, search_id: str) -> SearchEvent | None:
        raw = self.r.hget(self.k_sid, search_id)
        if raw is None:
            return None
        seq = json.loads(raw)["s"]
        rows = self.r.xrange(self.k_log, min=f"{seq}-0", max=f"{seq}-0")
        return SearchEvent.from_dict(json.loads(rows[0][1]["e"])) if rows else None

    def times_matched(self, artifact_ids: Iterable[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(artifact_ids))
        if not ids:
            return {}
        return {a: 0 if s is None else int(-s) for a, s in zip(ids, self.r.zmscore(f"{self.D}:tm", ids),
                                                                strict=True)}

    def capability_times_matched(self, capability_ids: Iterable[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(capability_ids))
        if not ids:
            return {}
        return {c: int(n or 0) for c, n in zip(ids, self.r.hmget(f"{self.D}:ctm", ids), strict=True)}

    def _days(self, since: str | None) -> list[str]:
        return self.r.zrangebylex(f"{self.D}:days", f"[{since}" if since else "-", "+")

    def top_artifacts(self, limit: int = 10, since: str | None = None) -> list[tuple[str, int]]:
        if limit <= 0:
            return []
        if since is None:
            rows = self.r.zrange(f"{self.D}:tm", 0, limit - 1, withscores=True)
        else:
            days = self._days(since)
            if not days:
                return []
            # ZUNION sums the day buckets; scores are negated so ascending order = most matched, ties by id
            rows = self.r.zunion([f"{self.D}:tmday:{d}" for d in days], withscores=True)[:limit]
        return [(a, int(-s)) for a, s in rows]

    def timeline(self, artifact_id: str, since: str | None = None) -> list[tuple[str, int]]:
        days = self._days(since)
        pipe = self.r.pipeline(transaction=False)
        for d in days:
            pipe.zscore(f"{self.D}:tmday:{d}", artifact_id)
        return [(d, int(-s)) for d, s in zip(days, pipe.execute(), strict=True) if s is not None]

    def searches_per_day(self, since: str | None = None) -> list[tuple[str, int]]:
        rows = self.r.hgetall(f"{self.D}:spd")
        return sorted((d, int(n)) for d, n in rows.items() if since is None or d >= since)

    def queries(self, kind: str, limit: int = 20) -> list[QueryStat]:
        if kind not in QUERY_KINDS:
            raise ValueError(f"unknown query kind {kind!r}; expected one of {QUERY_KINDS}")
        if limit <= 0:
            return []
        qs = self.r.zrange(f"{self.D}:{_QUERY_KEYS[kind]}", 0, limit - 1)
        if not qs:
            return []
        pipe = self.r.pipeline(transaction=False)
        for key in ("q:top", "q:zero", "q:low"):
            pipe.zmscore(f"{self.D}:{key}", qs)
        pipe.hmget(f"{self.D}:q:last", qs)
        top, zero, low, last = pipe.execute()
        return [QueryStat(q, int(-(s or 0)), int(-(z or 0)), int(-(lo or 0)), float(t or 0.0))
                for q, s, z, lo, t in zip(qs, top, zero, low, last, strict=True)]

    def summary(self) -> dict[str, int]:
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(f"{self.D}:sum")
        pipe.zcard(f"{self.D}:intents")
        pipe.zcard(f"{self.D}:tm")
        counters, intents, matched = pipe.execute()
        out = {k: int(counters.get(k, 0)) for k in
               ("searches", "feedback", "zero_result_searches", "low_confidence_searches", "clicks")}
        out.update(intents=int(intents), matched_artifacts=int(matched))
        return out

    def intents(self, after_seq: int = 0) -> list[Intent]:
        rows = self.r.zrangebyscore(f"{self.D}:intents", f"({after_seq}", "+inf", withscores=True)
        if not rows:
            return []
        ids = [i for i, _ in rows]
        texts = self.r.hmget(f"{self.D}:itext", ids)
        counts = self.r.hmget(f"{self.D}:isearches", ids)
        return [Intent(i, t or "", int(n or 0), int(s))
                for (i, s), t, n in zip(rows, texts, counts, strict=True)]

    def _edge_hashes(self, kind: str, intent_ids: list[str]) -> Iterator[tuple[str, dict[str, str]]]:
        for i in range(0, len(intent_ids), _PAGE):
            part = intent_ids[i:i + _PAGE]
            pipe = self.r.pipeline(transaction=False)
            for iid in part:
                pipe.hgetall(f"{self.D}:{kind}:{iid}")
            for iid, h in zip(part, pipe.execute(), strict=True):
                if h:
                    yield iid, h

    def _all_intent_ids(self) -> list[str]:
        return sorted(self.r.zrange(f"{self.D}:intents", 0, -1))

    def intent_edges(self, intent_ids: Iterable[str]) -> dict[str, dict[str, EdgeStats]]:
        ids = list(dict.fromkeys(intent_ids))
        return {iid: _parse_artifact_edges(h) for iid, h in self._edge_hashes("ae", ids)}

    def capability_edges(self) -> Iterator[tuple[str, str, int, float]]:
        for iid, h in self._edge_hashes("ce", self._all_intent_ids()):
            for cid, (times, sim) in _parse_capability_edges(h).items():
                yield iid, cid, times, sim

    def artifact_edges(self) -> Iterator[tuple[str, str, EdgeStats]]:
        for iid, h in self._edge_hashes("ae", self._all_intent_ids()):
            for aid, e in _parse_artifact_edges(h).items():
                yield iid, aid, e

    def match_scores(self) -> dict[str, float]:
        return {a: float(v) for a, v in self.r.hgetall(self.k_scores).items()}

    def events(self, after_seq: int = 0) -> Iterator[tuple[int, SearchEvent | FeedbackEvent]]:
        """Paged XRANGE so a long log is streamed rather than loaded at once."""
        start = after_seq + 1
        while True:
            rows = self.r.xrange(self.k_log, min=f"{start}-0", max="+", count=_PAGE)
            if not rows:
                return
            for entry_id, fields in rows:
                seq = int(entry_id.split("-", 1)[0])
                yield seq, event_from_dict(json.loads(fields["e"]))
            start = seq + 1

    def last_seq(self) -> int:
        return int(self.r.get(self.k_seq) or 0)

    def snapshot(self) -> dict:
        D = self.D
        tm = {a: int(-s) for a, s in self.r.zrange(f"{D}:tm", 0, -1, withscores=True)}
        ctm = {c: int(n) for c, n in self.r.hgetall(f"{D}:ctm").items()}
        days: dict[str, dict[str, int]] = {}
        for d in self._days(None):
            for a, s in self.r.zrange(f"{D}:tmday:{d}", 0, -1, withscores=True):
                days.setdefault(a, {})[d] = int(-s)
        days = {a: dict(sorted(v.items())) for a, v in sorted(days.items())}
        spd = dict(self.searches_per_day())
        intents = {i.intent_id: [i.text, i.searches, i.seq] for i in self.intents()}
        ids = self._all_intent_ids()
        aedges = {iid: {a: edge_snapshot(e) for a, e in _parse_artifact_edges(h).items()}
                  for iid, h in self._edge_hashes("ae", ids)}
        cedges = {iid: {c: [t, s] for c, (t, s) in _parse_capability_edges(h).items()}
                  for iid, h in self._edge_hashes("ce", ids)}
        qs = self.queries("top", limit=1 << 30)
        queries = {q.query: [q.searches, q.zero_results, q.low_confidence, q.last_ts]
                   for q in sorted(qs, key=lambda q: q.query)}
        return {"times_matched": tm, "capability_times_matched": ctm, "artifact_days": days,
                "searches_per_day": spd, "intents": intents, "artifact_edges": aedges,
                "capability_edges": cedges, "queries": queries, "summary": self.summary()}

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
