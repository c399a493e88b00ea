"""A claim that remembers who made it: `exchange_once`, the primitive behind vote dedup (graph/dedup.py).

Why: a vote's answer depends on what it replaced (the same vote again counts nothing; the opposite vote
replaces it), so its claim is a swap, not a "first one wins". A plain swap (`exchange`: SET ... GET) made
twice for one vote answers "the same vote again" the second time, and a vote's claim *is* made twice
whenever its first reply is lost: a claim sent to a frozen Redis that applies it after the client gave
up, or a spooled vote replayed again after a replay batch failed part way (graph/store/spool.py).
The vote then counted nothing (load test, Redis frozen 5 s: 264 feedback answered 202, 263 stored).

So the stored value carries, besides the value, the answers the key gave to its last `HISTORY` tokens
(one token per event): asked again with a token it remembers, the key changes nothing and answers what it
answered the first time. Stored as JSON `{"v": value, "h": [[token, answer or ""], ...]}` (newest first);
a value written by a plain `exchange` (an older version) reads as that value with no history.

`swap_once` is the rule in Python (SQLiteStore applies it in a transaction); `EXCHANGE_ONCE_LUA` is the
same rule as one Redis script (one key, so one Cluster slot).
"""

from __future__ import annotations

import json

HISTORY = 16  # tokens a claim remembers: a retry arrives after at most a few later votes of one person


def _read(raw: str | None) -> tuple[str, list[list[str]]]:
    """(value held, history) of a stored claim; "" when none."""
    if raw is None:
        return "", []
    try:
        d = json.loads(raw)
    except ValueError:
        return raw, []
    if not isinstance(d, dict) or not isinstance(d.get("v"), str):
        return raw, []
    hist = d.get("h")
    return d["v"], [h for h in hist if isinstance(h, list) and len(h) == 2] if isinstance(hist, list) else []


def swap_once(raw: str | None, value: str, token: str) -> tuple[str | None, str | None]:
    """(the answer, the new stored value or None to leave the key as it is) for `exchange_once(value, token)`
    on a key holding `raw` (None: absent or expired)."""
    held, hist = _read(raw)
    for t, answer in hist:
        if t == token:
            return answer or None, None
    hist = [[token, held], *hist][:HISTORY]
    return held or None, json.dumps({"v": value, "h": hist}, ensure_ascii=False, separators=(",", ":"))


# KEYS: the claim.  ARGV: value, token, ttl ms, history length.  Returns the answer ("" for none).
EXCHANGE_ONCE_LUA = r"""
local value, token, ttl, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local raw = redis.call('GET', KEYS[1])
local held, hist = '', {}
if raw then
  local ok, d = pcall(cjson.decode, raw)
  if ok and type(d) == 'table' and type(d['v']) == 'string' then
    held = d['v']
    if type(d['h']) == 'table' then hist = d['h'] end
  else
    held = raw
  end
end
for _, h in ipairs(hist) do
  if type(h) == 'table' and h[1] == token then return h[2] end
end
table.insert(hist, 1, {token, held})
while #hist > keep do table.remove(hist) end
redis.call('SET', KEYS[1], cjson.encode({v = value, h = hist}), 'PX', ttl)
return held
"""
