"""Bounded load test: gunicorn on a loopback port, N client threads of mixed searches and feedback for S
seconds, then latency percentiles, throughput, errors and an exact check of the stored counts.

    python -m bench.load --clients 32 --seconds 60 --store redis://127.0.0.1:6379/12
    python -m bench.load --clients 8 --seconds 10 --workers 3            # SQLite store, 3 workers
    python -m bench.load --clients 32 --seconds 60 --outage              # own Redis, SIGKILLed mid-run
    python -m bench.load --clients 32 --seconds 45 --stall 15            # own Redis, SIGSTOPped for 15 s

The server runs over a copy of a pre-ingested data dir (`--source`, default: ingest the bundled catalog
once into bench/out/load-source with `python -m api ingest data`). Everything is loopback; the run stops
by itself after `--seconds` and the server is shut down. All clients share one IP, so the per-client rate
limit is raised for the run (limits themselves are tested in tests/test_fuzz.py).

With `--outage` the run uses a redis-server of its own (AOF, fsync always) on a spare loopback port,
SIGKILLs it after a third of the run and restarts it after two thirds: writes wait in the outage spool
meanwhile, and the counts must still come out exact once the spool has drained.

Counts are exact when, after the run (and after the outage spool drained, for Redis), the store holds
exactly the searches and feedback events that were answered 200/202, Times Matched of every artifact
equals the number of answered searches that served it, and the clicks equal the clicks sent.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.client
import json
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bench.common import DEVSETS, ROOT, WORK, machine
from bench.servers import Gunicorn, RedisServer, call
from search.identity import sign_token

FEEDBACK_KINDS = ("click", "click", "dwell", "upvote", "downvote")


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[idx]


def queries(limit: int = 400) -> list[str]:
    rows = [json.loads(line) for line in (DEVSETS / "huggingface_eval.jsonl").read_text().splitlines() if line]
    return [r["query"][:500] for r in rows[:limit]]


def ensure_source(source: Path | None) -> Path:
    """A data dir holding an ingested catalog (the bundled one unless `source` is given)."""
    if source is not None:
        return source
    source = WORK / "load-source"
    if not (source / "CURRENT").exists():
        subprocess.run([sys.executable, "-m", "api", "ingest", str(ROOT / "data"), "--data-dir", str(source), "-q"],
                       check=True, cwd=ROOT)
    return source


def copy_data_dir(source: Path, dest: Path) -> None:
    """Catalog generation and vector cache; never the match store or spool of the source."""
    dest.mkdir(parents=True, exist_ok=True)
    current = (source / "CURRENT").read_text().strip()
    shutil.copytree(source / current, dest / current)
    shutil.copy2(source / "CURRENT", dest / "CURRENT")
    if (source / "vectors.db").exists():
        shutil.copy2(source / "vectors.db", dest / "vectors.db")


def with_prefix(url: str, prefix: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "prefix"] + [("prefix", prefix)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


LOAD_SITE_SECRET = secrets.token_hex(16)  # signs the load clients' tokens: one person each; new per run
PHASE = {"now": "run"}  # "before" / "outage" / "after" during an outage run
EVENT_AT = {"t": 0.0}  # perf_counter when Redis was stopped or frozen (0: not yet)
SLOW_S = 0.5  # requests slower than this are listed with when they started, relative to EVENT_AT


@dataclass
class Tally:
    """What one client saw; merged at the end."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    searches: int = 0
    feedback: int = 0
    clicks: int = 0
    served: collections.Counter = field(default_factory=collections.Counter)
    errors: collections.Counter = field(default_factory=collections.Counter)
    timed: list[tuple[float, float, str]] = field(default_factory=list)  # (perf_counter start, seconds, "op (phase)")


def client(port: int, deadline: float, qs: list[str], feedback_share: float, seed: int, tally: Tally) -> None:
    """One user: searches, and now and then reacts to a result of one of its own earlier searches."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    mine: list[tuple[str, list[str], str]] = []  # (search id, artifacts not reacted to yet, its person's token)
    while time.monotonic() < deadline:
        if mine and rng.random() < feedback_share:
            at = rng.randrange(len(mine))
            search_id, served, token = mine[at]
            artifact_id = served.pop(rng.randrange(len(served)))  # one event per (search, artifact): all count
            if not served:
                del mine[at]
            kind = rng.choice(FEEDBACK_KINDS)
            body = {"search_id": search_id, "artifact_id": artifact_id, "event": kind,
                    "user_token": token}  # a vote belongs to the person of its search (issue 27)
            if kind == "dwell":
                body["dwell_ms"] = rng.randint(100, 60_000)
            op, method, path, want = "feedback", "POST", "/v1/feedback", 202
        else:
            body, kind = None, ""
            op, method, want = "search", "GET", 200
            token = sign_token(LOAD_SITE_SECRET, f"u{rng.getrandbits(64):x}")  # each search its own person
            path = "/v1/search?" + urlencode({"q": rng.choice(qs), "k": 10, "user_token": token})
        start, phase = time.perf_counter(), PHASE["now"]
        try:
            status, payload = call(conn.port, method, path, body, conn=conn)
        except (OSError, http.client.HTTPException) as exc:
            tally.errors[f"{op} ({phase}): {type(exc).__name__}"] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            continue
        took = time.perf_counter() - start
        tally.latencies[op].append(took)
        tally.timed.append((start, took, f"{op} ({phase})"))
        if phase != "run":
            tally.latencies[f"{op} ({phase})"].append(took)
        if status != want:
            tally.errors[f"{op} ({phase}): HTTP {status}"] += 1
            continue
        if op == "search":
            tally.searches += 1
            served = [r["artifact_id"] for r in payload["results"] if r["rank"] <= 10]
            if not payload["low_confidence"]:  # logged, never counted toward Times Matched
                tally.served.update(served)
            if served:
                mine.append((payload["search_id"], list(dict.fromkeys(served)), token))
                del mine[:-50]
        else:
            tally.feedback += 1
            tally.clicks += kind == "click"
    conn.close()


def open_check_store(store: str, data_dir: Path):
    """The server's store, opened directly (no spool) to read the final counts."""
    from graph.store import open_store

    return open_store(store, data_dir, spool=False)


def wait_for_spool(port: int, timeout: float = 60.0) -> dict | None:
    """Redis behind the spool: wait until no event waits to be replayed (readyz reports the spool)."""
    deadline = time.monotonic() + timeout
    spool = None
    while time.monotonic() < deadline:
        status, body = call(port, "GET", "/readyz")
        spool = body.get("checks", {}).get("spool")
        if spool is None or (spool["spooled"] == 0 and spool["parked"] == 0):
            return spool
        time.sleep(0.5)
    return spool


def _stall(own: RedisServer, seconds: float, stall: float, report: dict) -> None:
    """Freeze Redis (SIGSTOP: connections are accepted, nothing answers) after a third of the run for
    `stall` seconds, then let it go on (SIGCONT)."""
    time.sleep(seconds / 3)
    PHASE["now"] = "stall"
    EVENT_AT["t"] = time.perf_counter()
    report["event_window"] = (EVENT_AT["t"], EVENT_AT["t"] + stall)
    own.proc.send_signal(signal.SIGSTOP)
    report["stall_s"] = stall
    try:
        time.sleep(stall)
    finally:
        own.proc.send_signal(signal.SIGCONT)
    PHASE["now"] = "after"


def _outage(own: RedisServer, seconds: float, report: dict) -> None:
    """Kill Redis (SIGKILL) after a third of the run, start it again after two thirds."""
    time.sleep(seconds / 3)
    PHASE["now"] = "outage"
    EVENT_AT["t"] = time.perf_counter()
    own.kill()
    report["outage_s"] = round(seconds / 3, 1)
    time.sleep(seconds / 3)
    own.start()
    PHASE["now"] = "after"


def run(clients: int = 32, seconds: float = 60.0, store: str = "", workers: int = 2, threads: int = 4,
        feedback_share: float = 0.3, source: Path | None = None, keep: bool = False, seed: int = 1,
        outage: bool = False, stall: float = 0.0) -> dict:
    """Run the load test; returns the report (see `format_report`)."""
    source = ensure_source(source)
    tmp = Path(tempfile.mkdtemp(prefix="mg-load-"))
    data_dir = tmp / "var"
    copy_data_dir(source, data_dir)
    own = None
    if outage or stall:
        own = RedisServer(tmp / "redis")
        own.start()
        store = f"redis://127.0.0.1:{own.port}/0"
    if store.startswith("redis"):
        store = with_prefix(store, f"load-{uuid.uuid4().hex[:8]}")
    server = Gunicorn(data_dir, store=store, workers=workers, threads=threads, log_path=tmp / "gunicorn.log",
                      timeout=120, settings={"site_secret": LOAD_SITE_SECRET})
    report: dict = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
                    "clients": clients, "seconds": seconds, "workers": workers, "threads": threads,
                    "store": store.split("?")[0] if store else "sqlite (data dir)", "feedback_share": feedback_share,
                    "outage": outage, "stall": stall}
    try:
        started = time.monotonic()
        server.wait_ready(timeout=240)
        report["startup_s"] = round(time.monotonic() - started, 1)
        qs = queries()
        tallies = [Tally() for _ in range(clients)]
        begin = time.monotonic()
        deadline = begin + seconds
        PHASE["now"] = "before" if own else "run"
        killer = None
        if stall:
            killer = threading.Thread(target=_stall, args=(own, seconds, stall, report), daemon=True)
        elif own:
            killer = threading.Thread(target=_outage, args=(own, seconds, report), daemon=True)
        if killer is not None:
            killer.start()
        pool = [threading.Thread(target=client, args=(server.port, deadline, qs, feedback_share, seed + i, t),
                                 daemon=True) for i, t in enumerate(tallies)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(seconds + 180)
        if killer is not None:
            killer.join(30)
        elapsed = time.monotonic() - begin
        report["hung_clients"] = sum(t.is_alive() for t in pool)
        total = Tally()
        for t in tallies:
            for op, values in t.latencies.items():
                total.latencies[op] += values
            total.searches += t.searches
            total.feedback += t.feedback
            total.clicks += t.clicks
            total.served.update(t.served)
            total.errors.update(t.errors)
            total.timed += t.timed
        requests = len(total.latencies["search"]) + len(total.latencies["feedback"])
        report.update(elapsed_s=round(elapsed, 1), requests=requests, throughput_rps=round(requests / elapsed, 1),
                      errors=sum(total.errors.values()), error_kinds=dict(total.errors),
                      searches=total.searches, feedback=total.feedback, clicks=total.clicks)
        if EVENT_AT["t"]:  # each slow request, with when it started relative to the freeze/kill
            report["slow_requests"] = sorted((round(start - EVENT_AT["t"], 3), round(took, 3), label)
                                             for start, took, label in total.timed if took > SLOW_S)
        window = report.pop("event_window", None)
        if window:  # every request that was being served at any moment of the freeze, however it started
            for op in ("search", "feedback"):
                total.latencies[f"{op} (overlapping the stall)"] = [
                    took for start, took, label in total.timed
                    if label.split()[0] == op and start < window[1] and start + took > window[0]]
        report["latency_ms"] = {}
        for op in sorted(total.latencies, key=lambda o: (o.split()[0] != "search", len(o), o)):
            values = sorted(total.latencies.get(op, []))
            report["latency_ms"][op] = {
                "n": len(values), **{f"p{p}": round(1000 * percentile(values, p), 1) for p in (50, 95, 99)},
                "max": round(1000 * values[-1], 1) if values else 0.0}
        if store.startswith("redis"):
            drain = time.monotonic()
            report["spool"] = wait_for_spool(server.port)
            report["spool_drained_s"] = round(time.monotonic() - drain, 1)
            probes = [call(server.port, "GET", "/readyz")[1].get("checks", {}) for _ in range(4 * workers)]
            report["request_probes"] = {c["pid"]: c.get("spool", {}).get("request_probes") for c in probes
                                        if "pid" in c}
            # per worker: `spool` above is one worker's view, and its `replayed` counts that worker's replays only
            report["replayed"] = {c["pid"]: c.get("spool", {}).get("replayed") for c in probes if "pid" in c}
        for _ in range(20):  # a worker may answer 503 (Retry-After) for a moment after an outage
            status, summary = call(server.port, "GET", "/v1/analytics/summary")
            if status == 200:
                break
            time.sleep(0.5)
        report["summary_api"] = {k: summary.get(k) for k in ("searches", "feedback", "clicks")}
        check = open_check_store(store, data_dir)
        try:
            stored = check.times_matched(list(total.served))
            s = check.summary()
            report["stored"] = {k: s[k] for k in ("searches", "feedback", "clicks")}
            mismatched = {a: (n, stored.get(a, 0)) for a, n in total.served.items() if stored.get(a, 0) != n}
            top = check.top_artifacts(limit=1_000_000)
            extra = {a: n for a, n in top if a not in total.served}
            report["counts_exact"] = (s["searches"] == total.searches and s["feedback"] == total.feedback
                                      and s["clicks"] == total.clicks and not mismatched and not extra
                                      and summary.get("searches") == total.searches)
            report["times_matched_checked"] = len(total.served)
            report["times_matched_mismatches"] = dict(list(mismatched.items())[:10])
            if store.startswith("redis") and not keep:
                check.clear()
        finally:
            check.close()
    finally:
        server.stop()
        if own is not None:
            own.stop()
        PHASE["now"] = "run"
        EVENT_AT["t"] = 0.0
        report["server_log_tail"] = server.log_path.read_text(errors="replace")[-2000:]
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            report["data_dir"] = str(data_dir)
    return report


def format_report(r: dict) -> str:
    lat = r["latency_ms"]
    lines = [
        f"load test {r['date']} on {r['machine']}",
        f"server: gunicorn {r['workers']} workers x {r['threads']} threads (gthread), store {r['store']}, "
        f"ready in {r.get('startup_s', '?')} s",
        f"clients: {r['clients']} threads, {r['seconds']:.0f} s, {int(r['feedback_share'] * 100)}% feedback",
        f"requests: {r['requests']} in {r['elapsed_s']} s = {r['throughput_rps']} req/s; "
        f"errors: {r['errors']} {r['error_kinds'] or ''}",
        "| operation | n | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for op, x in lat.items():
        lines.append(f"| {op} | {x['n']} | {x['p50']} | {x['p95']} | {x['p99']} | {x['max']} |")
    lines.append(f"sent: {r['searches']} searches, {r['feedback']} feedback ({r['clicks']} clicks); "
                 f"stored: {r.get('stored')}; Times Matched checked for {r.get('times_matched_checked')} artifacts; "
                 f"counts exact: {r.get('counts_exact')}")
    if r.get("outage"):
        lines.append(f"Redis SIGKILLed for {r.get('outage_s')} s in the middle of the run, then restarted")
    if r.get("stall"):
        lines.append(f"Redis frozen (SIGSTOP) for {r.get('stall_s')} s in the middle of the run, then SIGCONT; "
                     f"availability probes run on request threads, per worker: {r.get('request_probes')}")
    if r.get("slow_requests"):
        lines.append(f"requests slower than {SLOW_S} s (start relative to the freeze/kill in s, seconds, op): "
                     + ", ".join(f"{a:+.2f} {b:.2f} {c}" for a, b, c in r["slow_requests"][:40]))
    if r.get("spool") is not None:
        lines.append(f"spool after the run: {r['spool']} (waited {r.get('spool_drained_s')} s for it to drain; "
                     f"one worker's view); events replayed per worker: {r.get('replayed')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--store", default="", help="store URL (default: SQLite in the data dir)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--feedback", type=float, default=0.3, help="share of requests that are feedback")
    parser.add_argument("--source", type=Path, default=None, help="pre-ingested data dir to copy")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and Redis keys")
    parser.add_argument("--outage", action="store_true",
                        help="own redis-server, SIGKILLed for the middle third of the run")
    parser.add_argument("--stall", type=float, default=0.0, metavar="S",
                        help="own redis-server, frozen with SIGSTOP for S seconds after a third of the run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = run(args.clients, args.seconds, args.store, args.workers, args.threads, args.feedback, args.source,
                 args.keep, outage=args.outage, stall=args.stall)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    ok = report["errors"] == 0 and report.get("counts_exact") and not report["hung_clients"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
