"""Memory soak of the Redis match store: N recorded events with a short retention window, Redis memory
sampled as they go, with and without bounded memory, side by side in one run.

    python -m bench.soak --events 200000 --window 10 --every 10000

Each arm gets a redis-server of its own (loopback, spare port, no persistence) and a sharded
`RedisStore` (4 shards). Traffic is realistic in shape: queries drawn from a Zipf law over a fixed
vocabulary of intents (a search service sees the same needs again and again), 10 results out of a
catalog of 5,000 artifacts with 2 capabilities each, one feedback event per 3 searches on a recent
search. Events are written in batches (`record_many`, one pipeline) with their real wall-clock time.

- **bounded**: search ids and feedback identities expire after `--window` seconds, and every `--every`
  events the log is compacted (`compact(retain_s=--window)`: older entries go to JSONL files, Redis
  keeps the tail).
- **unbounded**: no expiry, no compaction (the store before issue 16).

At the end the bounded arm is rebuilt from archive + tail and compared with its live state.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import tempfile
import time
from pathlib import Path

import redis

from bench.common import machine, table
from bench.servers import RedisServer
from graph.events import FeedbackEvent, SearchEvent, Served
from graph.store.redis import RedisStore


def traffic(n: int, seed: int, vocab: int = 2_000, catalog: int = 5_000):
    """Yields batches of events: Zipf-distributed intents, 10 results each, 1 feedback per 3 searches."""
    rng = random.Random(seed)
    cum, total = [], 0.0
    for r in range(vocab):
        total += 1 / (r + 1) ** 1.1
        cum.append(total)
    results = {}
    recent: list[SearchEvent] = []
    batch: list[SearchEvent | FeedbackEvent] = []
    for j in range(n):
        if j % 4 == 3 and recent:
            s = rng.choice(recent)
            batch.append(FeedbackEvent(s.search_id, s.served[rng.randrange(3)].artifact_id, "click", time.time()))
        else:
            intent = rng.choices(range(vocab), cum_weights=cum)[0]
            if intent not in results:  # an intent gets the same results, as a search engine gives
                art = random.Random(intent).sample(range(catalog), 10)
                results[intent] = tuple(Served(f"art-{a}", r, 1.0 / r, ((f"art-{a}#c{a % 2}", 0.5),))
                                        for r, a in enumerate(art, 1))
            served = results[intent]
            ev = SearchEvent(f"s{seed}-{j}", f"intent-{intent}", f"query number {intent}", time.time(), served)
            recent.append(ev)
            if len(recent) > 1000:
                del recent[:500]
            batch.append(ev)
        if len(batch) >= 500:
            yield batch
            batch = []
    if batch:
        yield batch


def run_arm(name: str, args: argparse.Namespace, bounded: bool) -> tuple[list[dict], dict]:
    work = Path(tempfile.mkdtemp(prefix=f"soak-{name}-"))
    own = RedisServer(work / "redis", aof=False).start()
    port = own.port
    try:
        store = RedisStore(f"redis://127.0.0.1:{port}/0", prefix="soak", shards=4,
                           idempotency_window_s=args.window if bounded else 0,
                           archive_dir=work / "archive" if bounded else None)
        info = redis.Redis(port=port)
        rows: list[dict] = []
        start = time.perf_counter()
        done = next_sample = 0
        archived = 0
        for batch in traffic(args.events, args.seed):
            store.record_many(batch)
            done += len(batch)
            if done >= next_sample:
                if bounded:
                    archived += store.compact(retain_s=args.window)["archived"]
                mem = info.info("memory")["used_memory"]
                rows.append({"events": f"{done:,}", "seconds": round(time.perf_counter() - start, 1),
                             "used_memory MB": round(mem / 1e6, 2), "keys": f"{info.dbsize():,}",
                             "log entries in Redis": f"{sum(store.r.xlen(sh.log) for sh in store.shards):,}"})
                next_sample += args.every
        elapsed = time.perf_counter() - start
        script = info.info("commandstats").get("cmdstat_evalsha", {})
        summary = {"events/s": round(args.events / elapsed),
                   "Redis µs per event script": script.get("usec_per_call"), "archived": archived,
                   "archive MB": round(store.archive.bytes() / 1e6, 1) if store.archive else 0.0}
        if bounded:
            live = store.snapshot()
            t = time.perf_counter()
            store.rebuild()
            summary["rebuild s"] = round(time.perf_counter() - t, 1)
            summary["rebuild == live"] = store.snapshot() == live
        store.close()
        return rows, summary
    finally:
        own.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--window", type=float, default=10.0, help="retention window, seconds")
    parser.add_argument("--every", type=int, default=10_000, help="sample (and compact) every N events")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    print(f"## Memory soak: {args.events:,} events, window {args.window:g} s "
          f"({machine()}, {dt.date.today().isoformat()})\n")
    cols = ["events", "seconds", "used_memory MB", "keys", "log entries in Redis"]
    for name, bounded in (("bounded", True), ("unbounded", False)):
        rows, summary = run_arm(name, args, bounded)
        print(f"### {name}\n\n{table(rows, cols)}\n\n{summary}\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
