"""Fault bench (issue 26): what an outage, a rebuild and a full disk cost in wrong counts, lost writes and 5xx.

    python -m bench.faults [--artifacts 300] [--clients 8] [--phase-s 5] [--events 60000] [--only outage,...]

Three scenarios, each through the real app (Flask test client over an Engine; real SQLite files; a private
redis-server on a spare loopback port, frozen with SIGSTOP and killed with SIGKILL):

- outage: clients search with `user_token`s, 80% new people and 20% a (person, query) pair already searched;
  Redis is healthy, frozen, healthy, killed, back (`--phase-s` each). Once the spool drains it prints
  acknowledged searches (200s) vs searches present in the store, and settled searches (the ones that count)
  vs distinct (person, query) pairs: the drift is how many repeats were counted again;
- rebuild: `--events` searches logged into SQLite, then search latency p50/p99 without a rebuild and while
  `python -m api rebuild` runs in another process, with 5xx counts;
- disk: matches.db may not grow (SQLite's `max_page_count`, what a full disk looks like to it): searches'
  status codes, acknowledged vs recorded, what `/readyz` says and what an admin write answers.

The catalog is the first `--artifacts` records of the bundled data/ (embedded once into the work dir).
Runs on the code it is started from, so the same command gives before/after numbers on two checkouts.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.common import ROOT
from bench.load import copy_data_dir, percentile, queries
from bench.servers import RedisServer

KEY = "fault-bench-key"


def catalog(folder: Path, n: int) -> Path:
    rows = [line for f in sorted((ROOT / "data").glob("*.jsonl")) for line in f.read_text().splitlines() if line]
    path = folder / "catalog.jsonl"
    path.write_text("\n".join(rows[:n]) + "\n")
    return path


def engine_on(data_dir: Path, source: Path, store=None):
    """An engine in `data_dir` over the catalog ingested once into `<work>/seed` (copied: no re-embedding)."""
    from graph.settings import Settings
    from search.engine import Engine

    seed = source.parent / "seed"
    if not (seed / "CURRENT").exists():
        Engine(Settings.load(data_dir=seed, store_url="")).ingest([source])
    if not (data_dir / "CURRENT").exists():
        copy_data_dir(seed, data_dir)
    if (seed / "models").is_dir() and not (data_dir / "models").exists():  # the ONNX export, made once
        shutil.copytree(seed / "models", data_dir / "models")
    return Engine(Settings.load(data_dir=data_dir, store_url=""), store=store)


def app_on(eng):
    from api.app import create_app

    app = create_app(engine=eng, RATELIMIT_ENABLED=False)
    app.extensions["matchgraph.settings"] = app.extensions["matchgraph.settings"].replace(api_key=KEY)
    return app


# --- outage ---------------------------------------------------------------------------------------
def outage(work: Path, source: Path, clients: int, phase_s: float) -> dict:
    from graph.store import redis_client_options
    from graph.store.redis import RedisStore
    from graph.store.spool import SpoolingStore

    for old in ("redis", "outage"):  # a fresh Redis and spool: claims of an earlier run would still be live
        shutil.rmtree(work / old, ignore_errors=True)
    redis = RedisServer(work / "redis")
    redis.start()
    primary = RedisStore(f"redis://127.0.0.1:{redis.port}/0?prefix=faults", **redis_client_options())
    store = SpoolingStore(primary, work / "outage" / "match-spool.db", retry_interval=0.2)
    eng = engine_on(work / "outage", source, store=store)
    http = app_on(eng).test_client()
    qs = queries(60)
    lock = threading.Lock()
    pairs: list[tuple[str, str]] = []
    counted: set[tuple[str, str]] = set()  # distinct (person, query) among confident, non-empty answers
    statuses: collections.Counter = collections.Counter()
    results_total = 0
    stop = threading.Event()

    def client(seed: int) -> None:
        nonlocal results_total
        rng = random.Random(seed)
        while not stop.is_set():
            with lock:
                if pairs and rng.random() < 0.2:
                    user, q = rng.choice(pairs)
                else:
                    user, q = f"p{rng.getrandbits(48):x}", rng.choice(qs)
                    pairs.append((user, q))
            resp = http.get("/v1/search", query_string={"q": q, "k": 10, "user_token": user})
            with lock:
                statuses[resp.status_code] += 1
                if resp.status_code == 200:
                    body = resp.get_json()
                    if body["results"] and not body["low_confidence"] and (user, q) not in counted:
                        counted.add((user, q))
                        results_total += min(10, len(body["results"]))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        time.sleep(phase_s)
        redis.proc.send_signal(signal.SIGSTOP)
        time.sleep(phase_s)
        redis.proc.send_signal(signal.SIGCONT)
        time.sleep(phase_s)
        redis.kill()
        time.sleep(phase_s)
        redis.start()
        time.sleep(phase_s)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    deadline = time.monotonic() + 120
    while (s := store.status())["spooled"] or s["parked"]:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    summary = primary.summary()
    tm = sum(primary.times_matched(list(eng.artifacts)).values())
    out = {"acknowledged": statuses[200], "present": summary["searches"],
           "5xx": sum(n for code, n in statuses.items() if code >= 500),
           "distinct_pairs": len(counted), "settled": summary["settled_searches"],
           "times_matched_expected": results_total, "times_matched_present": tm,
           "replayed": store.replayed, "spool_left": store.status()["spooled"]}
    out["drift_pct"] = round(100 * (out["settled"] - out["distinct_pairs"]) / max(1, out["distinct_pairs"]), 2)
    eng.close()
    redis.stop()
    return out


# --- rebuild under search load ---------------------------------------------------------------------
def _log_events(store, artifact_ids: list[str], n: int) -> None:
    from graph.events import SearchEvent, Served

    rng = random.Random(5)
    batch = []
    t0 = time.time() - 86_400
    for i in range(n):
        q = rng.randrange(300)
        served = tuple(Served(a, r, 1.0 / r) for r, a in enumerate(rng.sample(artifact_ids, 10), 1))
        batch.append(SearchEvent(uuid.uuid4().hex, f"intent-{q}", f"logged query {q}", t0 + i, served,
                                 user=f"u{rng.randrange(20_000)}"))
        if len(batch) == 2000:
            store.record_many(batch)
            batch = []
    if batch:
        store.record_many(batch)


def _timed_searches(http, qs: list[str], clients: int, until) -> tuple[list[float], collections.Counter]:
    lat: list[float] = []
    codes: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while not until():
            start = time.perf_counter()
            resp = http.get("/v1/search", query_string={"q": rng.choice(qs), "user_token": f"r{rng.getrandbits(40)}"})
            took = time.perf_counter() - start
            with lock:
                lat.append(took)
                codes[resp.status_code] += 1

    threads = [threading.Thread(target=client, args=(100 + i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(lat), codes


# what `python -m api rebuild` runs (api/cli.py cmd_rebuild), saying when its engine has loaded
REBUILD = """
import sys
from graph.settings import Settings
from search.engine import Engine
engine = Engine(Settings.load(data_dir=sys.argv[1]))
print("loaded", flush=True)
engine.rebuild()
"""


def rebuild(work: Path, source: Path, clients: int, events: int, baseline_s: float) -> dict:
    data_dir = work / "rebuild"
    eng = engine_on(data_dir, source)
    start = time.perf_counter()
    if eng.store.last_seq() < events:  # a work dir kept from an earlier run (--work) keeps its log
        _log_events(eng.store, list(eng.artifacts), events - eng.store.last_seq())
    logged_s = time.perf_counter() - start
    http = app_on(eng).test_client()
    qs = queries(200)
    for q in qs[:20]:  # warm: the first search learns the logged intents (embeds them), not what is measured
        http.get("/v1/search", query_string={"q": q})
    end = time.monotonic() + baseline_s
    quiet, quiet_codes = _timed_searches(http, qs, clients, lambda: time.monotonic() > end)
    proc = subprocess.Popen([sys.executable, "-c", REBUILD, str(data_dir)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.readline()  # the engine is loaded: the rebuild itself starts now
    started = time.monotonic()
    busy, busy_codes = _timed_searches(http, qs, clients, lambda: proc.poll() is not None)
    took = time.monotonic() - started
    err = proc.stderr.read()[-500:] if proc.returncode else ""
    eng.close()
    p99q, p99b = percentile(quiet, 99), percentile(busy, 99)
    return {"events": events, "logged_s": round(logged_s, 1), "rebuild_s": round(took, 1),
            "rebuild_exit": proc.returncode, "rebuild_error": err,
            "searches_quiet": len(quiet), "p50_quiet_ms": round(1000 * percentile(quiet, 50), 1),
            "p99_quiet_ms": round(1000 * p99q, 1), "searches_during": len(busy),
            "p50_during_ms": round(1000 * percentile(busy, 50), 1), "p99_during_ms": round(1000 * p99b, 1),
            "max_during_ms": round(1000 * (busy[-1] if busy else 0), 1),
            "p99_ratio": round(p99b / p99q, 2) if p99q else None,
            "5xx_quiet": sum(n for c, n in quiet_codes.items() if c >= 500),
            "5xx_during": sum(n for c, n in busy_codes.items() if c >= 500)}


# --- full disk --------------------------------------------------------------------------------------
def disk(work: Path, source: Path, searches: int) -> dict:
    shutil.rmtree(work / "disk", ignore_errors=True)
    eng = engine_on(work / "disk", source)
    app = app_on(eng)
    http = app.test_client()
    before = eng.summary()["searches"]
    sqlite_store = eng.store.authoritative()
    with sqlite_store.db.use() as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.execute(f"PRAGMA max_page_count = {c.execute('PRAGMA page_count').fetchone()[0]}")
    qs = queries(searches)
    codes = collections.Counter(http.get("/v1/search", query_string={"q": q, "user_token": f"d{i}"}).status_code
                                for i, q in enumerate(qs[:searches]))
    ready = http.get("/readyz")
    artifact_id = next(iter(eng.artifacts))
    put = http.put(f"/v1/artifacts/{artifact_id}", json=eng.artifacts[artifact_id].to_record(),
                   headers={"Authorization": f"Bearer {KEY}"})
    with sqlite_store.db.use() as c:
        c.execute("PRAGMA max_page_count = 1073741823")
    try:
        recorded = eng.summary()["searches"] - before
    except Exception as exc:  # noqa: BLE001 - reported
        recorded = f"{type(exc).__name__}"
    body = ready.get_json()
    out = {"searches": sum(codes.values()), "200": codes[200], "5xx": sum(n for c, n in codes.items() if c >= 500),
           "recorded": recorded, "readyz": f"{ready.status_code} {body.get('status')}",
           "reasons": body.get("reasons", []), "admin_put": put.status_code,
           "admin_message": (put.get_json() or {}).get("error", {}).get("message", "")[:160]}
    eng.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--artifacts", type=int, default=300)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--phase-s", type=float, default=5.0)
    p.add_argument("--events", type=int, default=60_000)
    p.add_argument("--baseline-s", type=float, default=15.0)
    p.add_argument("--disk-searches", type=int, default=40)
    p.add_argument("--only", default="outage,rebuild,disk")
    p.add_argument("--work", type=Path, default=None)
    args = p.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="mg-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    source = catalog(work, args.artifacts)
    report: dict = {}
    for name in args.only.split(","):
        start = time.perf_counter()
        if name == "outage":
            report[name] = outage(work, source, args.clients, args.phase_s)
        elif name == "rebuild":
            report[name] = rebuild(work, source, max(2, args.clients // 2), args.events, args.baseline_s)
        elif name == "disk":
            report[name] = disk(work, source, args.disk_searches)
        report[name]["bench_s"] = round(time.perf_counter() - start, 1)
        print(f"{name}: " + json.dumps(report[name]), flush=True)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
