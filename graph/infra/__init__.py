"""Infrastructure: how state reaches disk and Redis safely, not what the catalog or the evidence mean.

graph/ holds the domain (catalog, facts, match graph, evidence rules, scores); this package holds what any
service would need underneath it, so the difference is plain in the tree:

- `generation_commit`: the atomic commit of a generation folder (write, fsync, rename, `CURRENT` pointer,
  leases, pruning). What a generation folder holds is `search/generation_layout.py`'s business.
- `sqlitedb`: one SQLite connection helper for every SQLite file (store, spool, vector cache, limiter).
- `redishealth` and `redisurl`: every Redis client, its circuit breaker and its URL.
- `ratelimits`: rate-limit counters shared by the worker processes of a host.
- `forksafe`: locks reset in a forked child.
"""
