"""Speed and scale, measured side by side in one run on this machine.

    python -m bench.perf                      # default sizes 10k and 100k capabilities, 3 repeats
    python -m bench.perf --million            # adds 1M capabilities (builds a ~1.6 GB data dir once)
    python -m bench.perf --quick              # CI smoke: tiny sizes, a few requests, seconds
    python -m bench.perf --only http ann      # some sections (embedding ingest cold http ann recording)

Sections (each reports medians over `--repeats` and, where there is an alternative, the ratio measured
in the same run, because times from different runs are not comparable on a shared machine):

- embedding: one query at a time, matchgraph's `Embedder` vs `SentenceTransformer.encode`, same texts,
  interleaved; with torch's default intra-op threads and with 1 thread.
- ingest: capabilities/s of `Engine.ingest` (validation, embedding, index, generation on disk) into an
  empty data dir and vector cache vs `SentenceTransformer.encode` of the same capability texts (the
  engine sends each distinct text through the model once; the table says how many that was).
- cold: a fresh process loading an existing data dir (imports, model, catalog, index, BM25), checked
  to embed and rebuild nothing.
- http: gunicorn as in the Procfile (2 workers x 4 gthreads) on a loopback port over synthetic data dirs
  (bench/vectors.py); a client in this process (keep-alive connections, one thread per client) runs
  1, 4 and 16 concurrent clients, each level bounded by a request count and a time limit, every query
  distinct (query embedding included, no cache hits); spawn-to-ready time and worker RSS per size.
- ann: recall@10 of the served index against exact search for real query embeddings, and the
  index-only search time of IVF vs exact over the same vectors.
- recording: search and feedback events/s through HTTP with 16 clients into SQLite and into Redis,
  feedback both one event per request (POST /v1/feedback) and in batches (POST /v1/feedback:batch), with
  the stored counts checked exactly after each phase; and the stores' own rate with 16 threads.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.client
import itertools
import json
import logging
import math
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from bench.common import ROOT, WORK, load_devset, machine, table
from bench.servers import Gunicorn, call
from search.identity import sign_token

BENCH_SITE_SECRET = secrets.token_hex(16)  # signs the bench's user tokens (one person each); new per run

SECTIONS = ("embedding", "ingest", "cold", "http", "ann", "recording")
DEFAULT_SIZES = (10_000, 100_000)
MILLION = 1_000_000
LEVELS = (1, 4, 16)
REDIS_URL = os.environ.get("MATCHGRAPH_BENCH_REDIS", "redis://127.0.0.1:6379/11")
FEEDBACK_KINDS = ("click", "click", "dwell", "upvote", "downvote")


# --- small helpers ------------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of unsorted values (0 for none)."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(len(s) * p / 100) - 1))]


def med(values: list[float], digits: int = 1) -> float:
    return round(statistics.median(values), digits) if values else 0.0


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def queries() -> list[str]:
    """Distinct real queries (both dev sets), in a fixed shuffled order."""
    seen = dict.fromkeys(r["query"][:500] for name in ("huggingface_eval", "torchhub_train")
                         for r in load_devset(name))
    out = list(seen)
    random.Random(7).shuffle(out)
    return out


def scratch(prefix: str) -> Path:
    """A fresh temporary folder under the bench work dir (removed by the caller)."""
    WORK.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=WORK))


# --- the load client ------------------------------------------------------------------------------------

@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: collections.Counter = field(default_factory=collections.Counter)
    searches: int = 0
    feedback: int = 0
    clicks: int = 0
    served: collections.Counter = field(default_factory=collections.Counter)
    results: list[tuple[str, list[str], str]] = field(default_factory=list)  # (search id, served, token)


def run_clients(port: int, clients: int, jobs: list, max_seconds: float, worker) -> tuple[list[Tally], float]:
    """`clients` threads with one keep-alive connection each take jobs from `jobs` in order until the
    jobs or `max_seconds` run out; `worker(conn, job, tally)` does one request. Returns tallies, elapsed."""
    counter = itertools.count()
    lock = threading.Lock()
    tallies = [Tally() for _ in range(clients)]
    deadline = time.monotonic() + max_seconds

    def loop(tally: Tally) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.monotonic() < deadline:
            with lock:
                i = next(counter)
            if i >= len(jobs):
                break
            try:
                worker(conn, jobs[i], tally)
            except (OSError, http.client.HTTPException) as exc:
                tally.errors[type(exc).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.close()

    threads = [threading.Thread(target=loop, args=(t,), daemon=True) for t in tallies]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 300)
    return tallies, time.perf_counter() - begin


def search_job(conn: http.client.HTTPConnection, q: str, tally: Tally) -> None:
    start = time.perf_counter()
    # each request is its own person: a token signed with the site secret the recording server is given
    # (an unsigned token from one address is one person under the network rule, docs/evidence.md)
    token = sign_token(BENCH_SITE_SECRET, uuid.uuid4().hex)
    status, body = call(0, "GET", "/v1/search?" + urlencode({"q": q, "k": 10, "user_token": token}), conn=conn)
    tally.latencies.append(time.perf_counter() - start)
    if status != 200:
        tally.errors[f"HTTP {status}"] += 1
        return
    tally.searches += 1
    served = [r["artifact_id"] for r in body["results"] if r["rank"] <= 10]
    if not body["low_confidence"]:  # logged, never counted
        tally.served.update(set(served))
    if served:
        tally.results.append((body["search_id"], served, token))


def feedback_job(conn: http.client.HTTPConnection, job: dict, tally: Tally) -> None:
    start = time.perf_counter()
    status, _ = call(0, "POST", "/v1/feedback", job, conn=conn)
    tally.latencies.append(time.perf_counter() - start)
    if status != 202:
        tally.errors[f"HTTP {status}"] += 1
        return
    tally.feedback += 1
    tally.clicks += job["event"] == "click"


def feedback_batch_job(conn: http.client.HTTPConnection, batch: list[dict], tally: Tally) -> None:
    """One POST /v1/feedback:batch; only the events the server reports as accepted are counted."""
    start = time.perf_counter()
    status, body = call(0, "POST", "/v1/feedback:batch", {"events": batch}, conn=conn)
    tally.latencies.append(time.perf_counter() - start)
    if status != 202:
        tally.errors[f"HTTP {status}"] += 1
        return
    refused = {r["index"] for r in body.get("rejected", [])}
    if refused:
        tally.errors["refused events"] += len(refused)
    accepted = [e for i, e in enumerate(batch) if i not in refused]
    if body.get("accepted") != len(accepted):
        tally.errors["accepted count off"] += 1
    tally.feedback += len(accepted)
    tally.clicks += sum(e["event"] == "click" for e in accepted)


def merge(tallies: list[Tally]) -> Tally:
    out = Tally()
    for t in tallies:
        out.latencies += t.latencies
        out.errors.update(t.errors)
        out.searches += t.searches
        out.feedback += t.feedback
        out.clicks += t.clicks
        out.served.update(t.served)
        out.results += t.results
    return out


def latency_row(t: Tally, elapsed: float) -> dict:
    ms = [1000 * v for v in t.latencies]
    return {"n": len(ms), "p50": round(percentile(ms, 50), 1), "p95": round(percentile(ms, 95), 1),
            "p99": round(percentile(ms, 99), 1), "rps": round(len(ms) / elapsed, 1) if elapsed else 0.0,
            "errors": sum(t.errors.values())}


# --- sections -------------------------------------------------------------------------------------------

def section_embedding(args, log) -> dict:
    """Single-query embedding latency: matchgraph's ONNX and torch encoders vs SentenceTransformer, interleaved."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from search.embedder import Embedder, default_model_path

    qs = queries()[:args.embed_queries]
    st = SentenceTransformer(default_model_path(), device="cpu")
    reference = st.encode(qs, normalize_embeddings=True, show_progress_bar=False)
    default_threads = torch.get_num_threads()
    rows = []
    for threads in dict.fromkeys((default_threads, 1)):
        torch.set_num_threads(threads)
        ours = {"matchgraph ONNX Runtime (served)": Embedder(backend="onnx", threads=threads),
                "matchgraph torch (reference)": Embedder(backend="torch")}
        per = {**{name: [] for name in ours}, "sentence-transformers": []}
        for rep in range(args.repeats):
            for emb in ours.values():
                emb._lru.clear()  # every query a model call, as for a query never seen before
            times = {k: [] for k in per}
            for i, q in enumerate(qs):
                shift = (i + rep) % len(per)
                for name in list(per)[shift:] + list(per)[:shift]:
                    start = time.perf_counter()
                    if name == "sentence-transformers":
                        st.encode([q], normalize_embeddings=True, show_progress_bar=False)
                    else:
                        ours[name].encode_query(q)
                    times[name].append(1000 * (time.perf_counter() - start))
            for name in per:
                per[name].append((percentile(times[name], 50), percentile(times[name], 95)))
        for name, reps in per.items():
            diff = float(np.abs(ours[name].encode(qs) - reference).max()) if name in ours else 0.0
            rows.append({"encoder": name, "threads": threads, "queries": len(qs), "repeats": args.repeats,
                         "p50 ms": med([r[0] for r in reps]), "p95 ms": med([r[1] for r in reps]),
                         "max |diff| vs sentence-transformers": f"{diff:.1e}"})
        log(f"embedding, {threads} threads: " + ", ".join(f"{r['encoder']} {r['p50 ms']} ms" for r in rows[-3:]))
    torch.set_num_threads(default_threads)
    for r in rows:
        st_row = next(x for x in rows if x["encoder"] == "sentence-transformers" and x["threads"] == r["threads"])
        r["vs sentence-transformers"] = f"{r['p50 ms'] / st_row['p50 ms']:.2f}x" if st_row["p50 ms"] else ""
    return {"rows": rows}


def _ingest_subset(n_artifacts: int, dest: Path) -> tuple[Path, list[str]]:
    from graph.loader import load_artifacts

    files = sorted((ROOT / "data").glob("*.jsonl"))
    records = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    records = records[:n_artifacts]
    dest.write_text("".join(json.dumps(r) + "\n" for r in records))
    texts = [c.text for a in load_artifacts([dest]) for c in a.capabilities]
    return dest, texts


def section_ingest(args, log) -> dict:
    """Capabilities/s into an empty data dir (fresh vector cache) vs sentence-transformers on the same texts."""
    from sentence_transformers import SentenceTransformer

    from graph.settings import Settings
    from search.embedder import Embedder, default_model_path
    from search.engine import Engine

    tmp = scratch("mg-perf-ingest-")
    try:
        path, texts = _ingest_subset(args.ingest_artifacts, tmp / "subset.jsonl")
        ours = Embedder()
        st = SentenceTransformer(default_model_path(), device="cpu")
        times = {"matchgraph ingest": [], "sentence-transformers encode": []}
        embedded = []
        for rep in range(args.repeats):
            order = list(times) if rep % 2 == 0 else list(times)[::-1]
            for name in order:
                start = time.perf_counter()
                if name == "matchgraph ingest":
                    ours.cache = None  # the engine gives it the new data dir's empty cache
                    engine = Engine(Settings.load(data_dir=tmp / f"var{rep}", store_url=""), embedder=ours)
                    report = engine.ingest([path])
                    embedded.append(report.embedded)
                    engine.close()
                else:
                    st.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
                times[name].append(time.perf_counter() - start)
            log(f"ingest repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in times.items()))
        rows = []
        for name, values in times.items():
            s = statistics.median(values)
            rows.append({"system": name, "capabilities": len(texts),
                         "texts through the model": embedded[0] if name == "matchgraph ingest" else len(texts),
                         "repeats": args.repeats, "median s": round(s, 2),
                         "capabilities/s": round(len(texts) / s, 1)})
        rows[0]["vs sentence-transformers"] = f"{rows[0]['capabilities/s'] / rows[1]['capabilities/s']:.2f}x"
        return {"rows": rows, "embedded_per_ingest": embedded}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


COLD_CHILD = r"""
import json, logging, sys, time
t0 = time.perf_counter()
from pathlib import Path
import search.engine as se
import search.catalogview as cv
import search.generation_layout as gen
from search.index import VectorIndex
from graph.settings import Settings
from search.embedder import Embedder
t_import = time.perf_counter() - t0
warnings = []
class H(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            warnings.append(record.getMessage()[:200])
logging.getLogger().addHandler(H())
phases = {}
def timed(owner, name, label):
    real = getattr(owner, name)
    def wrapper(*a, **k):
        s = time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            phases[label] = phases.get(label, 0.0) + time.perf_counter() - s
    setattr(owner, name, wrapper)
timed(gen, "read_catalog", "catalog parse")  # the catalog view's load steps (search/catalogview.py)
timed(VectorIndex, "load", "index load (checksums, ids)")
timed(cv, "_load_derived", "artifact vectors + BM25 load")
timed(cv, "refresh_derived", "artifact vectors + BM25 rebuilt")
t = time.perf_counter()
emb = Embedder(onnx_dir=sys.argv[2])
t_model = time.perf_counter() - t
t = time.perf_counter()
engine = se.Engine(Settings.load(data_dir=Path(sys.argv[1]), store_url=""), embedder=emb)
t_engine = time.perf_counter() - t
rebuilt = any("unusable" in w for w in warnings)
print(json.dumps({"imports_s": t_import, "model_s": t_model, "data_s": t_engine,
                  "total_s": time.perf_counter() - t0, "phases": phases,
                  "capabilities": len(engine.capabilities), "embedded": emb.encoded_texts,
                  "index_rebuilt": rebuilt, "index": engine.index.kind, "warnings": warnings,
                  "encoder": emb.backend, "torch_loaded": "torch" in sys.modules}))
"""


def cold_start(data_dir: Path) -> dict:
    """A fresh interpreter loading an existing data dir: imports, model, catalog + index + BM25."""
    run = scratch("mg-cold-")
    try:
        from bench.vectors import link_copy

        copy = link_copy(data_dir, Path(run) / "var")
        from bench.common import ensure_onnx_export
        from bench.servers import server_environ
        from graph.settings import Settings

        onnx_dir = ensure_onnx_export()  # a restart finds the export the first start wrote
        out = subprocess.run([sys.executable, "-c", COLD_CHILD, str(copy), str(onnx_dir)], cwd=ROOT,
                             capture_output=True,
                             text=True, timeout=1800,
                             env=server_environ(Settings.load().replace(log_level="WARNING")))
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(run, ignore_errors=True)


def section_cold(args, log, sizes: dict[int, tuple[Path, dict]]) -> dict:
    rows = []
    for n, (path, _info) in sizes.items():
        reps = [cold_start(path) for _ in range(args.repeats)]
        phases = collections.defaultdict(list)
        for r in reps:
            for k, v in r["phases"].items():
                phases[k].append(v)
        row = {"capabilities": f"{n:,}", "repeats": len(reps), "total s": med([r["total_s"] for r in reps], 2),
               "imports s": med([r["imports_s"] for r in reps], 2), "model s": med([r["model_s"] for r in reps], 2),
               "data s": med([r["data_s"] for r in reps], 2),
               **{f"{k} s": med(v, 2) for k, v in phases.items()},
               "re-embedded": max(r["embedded"] for r in reps),
               "index rebuilt": any(r["index_rebuilt"] for r in reps),
               "encoder": reps[0]["encoder"], "torch loaded": any(r["torch_loaded"] for r in reps)}
        rows.append(row)
        log(f"cold start {n:,}: {row['total s']} s (data {row['data s']} s)")
    return {"rows": rows}


def section_http(args, log, sizes: dict[int, tuple[Path, dict]]) -> dict:
    """Latency and throughput through gunicorn at each size and concurrency level."""
    from bench.vectors import link_copy

    pool = queries()
    counts = {1: args.requests[0], 4: args.requests[1], 16: args.requests[2]}
    rows, servers = [], []
    for n, (path, info) in sizes.items():
        per_level = collections.defaultdict(list)
        ready_s, rss_ready, rss_after = [], [], []
        for rep in range(args.repeats):
            run = scratch("mg-http-")
            server = Gunicorn(link_copy(path, run / "var"))
            try:
                ready_s.append(server.wait_ready())
                rss_ready.append(statistics.mean(server.worker_rss()))
                warm = [f"warm up query {i} for {n} capabilities" for i in range(2 * args.workers * 4)]
                run_clients(server.port, args.workers * 4, warm, 120, search_job)
                offset = 0
                for level in LEVELS:
                    jobs = pool[offset:offset + counts[level]]
                    offset += counts[level]
                    tallies, elapsed = run_clients(server.port, level, jobs, args.level_seconds, search_job)
                    row = latency_row(merge(tallies), elapsed)
                    per_level[level].append(row)
                    log(f"http {n:,} caps, {level} clients, repeat {rep + 1}: p50 {row['p50']} p99 {row['p99']} ms, "
                        f"{row['rps']} req/s, errors {row['errors']} (load {load_average()})")
                rss_after.append(statistics.mean(server.worker_rss()))
            finally:
                server.stop()
                shutil.rmtree(run, ignore_errors=True)
        for level in LEVELS:
            reps = per_level[level]
            rows.append({"capabilities": f"{n:,}", "index": info.get("index", ""), "clients": level,
                         "requests": sum(r["n"] for r in reps), "p50 ms": med([r["p50"] for r in reps]),
                         "p95 ms": med([r["p95"] for r in reps]), "p99 ms": med([r["p99"] for r in reps]),
                         "req/s": med([r["rps"] for r in reps]), "errors": sum(r["errors"] for r in reps)})
        servers.append({"capabilities": n, "ready_s": med(ready_s, 2), "rss_ready_mb": round(med(rss_ready) / 2**20),
                        "rss_after_mb": round(med(rss_after) / 2**20)})
    memory = []
    for a, b in itertools.pairwise(servers):
        per_cap = (b["rss_ready_mb"] - a["rss_ready_mb"]) * 2**20 / (b["capabilities"] - a["capabilities"])
        memory.append({"between": f"{a['capabilities']:,} and {b['capabilities']:,}",
                       "RSS per capability (bytes, per worker)": round(per_cap)})
    return {"rows": rows, "servers": servers, "memory": memory, "workers": args.workers}


def section_ann(args, log, sizes: dict[int, tuple[Path, dict]]) -> dict:
    """Recall@10 (ties counted) against exact search for real query embeddings, and index-only search time
    at the engine's depth (k=200): the served index, the same IVF scanning every list (what nprobe tuning
    picked before its fix), and an exact flat index over the same vectors, interleaved per query."""
    import faiss

    from search.embedder import Embedder
    from search.index import VectorIndex

    emb = Embedder()
    qs = [r["query"] for r in load_devset("huggingface_eval")][:args.ann_queries]
    qv = emb.encode(qs)
    rows = []
    for n, (path, _info) in sizes.items():
        idx = VectorIndex.load(path / (path / "CURRENT").read_text().strip())
        tuned = idx.nprobe
        variants = {f"served: {idx.kind}" + (f", nprobe {tuned} of {idx.nlist}" if idx.kind == "ivf" else ""):
                    tuned}
        flat = None
        if idx.kind == "ivf":
            variants[f"ivf, nprobe {idx.nlist} (all lists: the tuning before its fix)"] = idx.nlist
            flat = faiss.IndexFlatIP(idx.dim)
            flat.add(idx._stored()[1])
            variants["exact: faiss IndexFlatIP"] = None
        recall, times = {}, {name: [] for name in variants}
        for name, nprobe in variants.items():
            if nprobe is not None:
                idx.nprobe = nprobe
                recall[name] = idx.measure_recall(qv, k=10)
        for _ in range(args.repeats):
            one: dict[str, list[float]] = {name: [] for name in variants}
            for i, q in enumerate(qv):
                names = list(variants)
                for name in names[i % len(names):] + names[:i % len(names)]:
                    nprobe = variants[name]
                    start = time.perf_counter()
                    if nprobe is None:
                        flat.search(q[None, :], 200)
                    else:
                        idx.nprobe = nprobe
                        idx.search(q[None, :], 200)
                    one[name].append(1000 * (time.perf_counter() - start))
            for name in variants:
                times[name].append(percentile(one[name], 50))
        idx.nprobe = tuned
        for name in variants:
            rows.append({"capabilities": f"{n:,}", "search": name, "queries": len(qs),
                         "recall@10 vs exact": round(recall.get(name, 1.0), 4),
                         "p50 ms (k=200)": med(times[name], 2)})
            log(f"ann {n:,}: {rows[-1]}")
        del idx, flat
    return {"rows": rows}


def _store_rate(store_url: str, data_dir: Path, artifact_ids: list[str], events: int, clients: int,
                batch: int = 50) -> dict:
    """The store's own rate: `clients` threads calling record_search, then record_feedback, then
    record_many with `batch` feedback events at a time, directly."""
    from graph.events import FeedbackEvent, SearchEvent, Served
    from graph.store import open_store

    store = open_store(store_url, data_dir, spool=False)
    store.clear()
    rng = random.Random(3)
    searches = []
    for i in range(events):
        served = tuple(Served(a, r, 1.0 / r) for r, a in enumerate(rng.sample(artifact_ids, 10), start=1))
        searches.append(SearchEvent(uuid.uuid4().hex, f"i{i % 500}", f"query {i % 500}", time.time(), served))
    fb = [FeedbackEvent(s.search_id, s.served[rng.randrange(10)].artifact_id, rng.choice(FEEDBACK_KINDS),
                        time.time(), 2000) for s in searches]
    fb_again = [FeedbackEvent(s.search_id, s.served[rng.randrange(10)].artifact_id, rng.choice(FEEDBACK_KINDS),
                              time.time() + 1, 2000) for s in searches]
    batches = [fb_again[i:i + batch] for i in range(0, len(fb_again), batch)]
    out = {}
    for kind, items, fn in (("search", searches, store.record_search), ("feedback", fb, store.record_feedback),
                            ("feedback_batched", batches, store.record_many)):
        counter, lock = itertools.count(), threading.Lock()

        def loop(items=items, fn=fn, counter=counter, lock=lock) -> None:
            while True:
                with lock:
                    i = next(counter)
                if i >= len(items):
                    return
                fn(items[i])

        threads = [threading.Thread(target=loop) for _ in range(clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out[kind] = round(events / (time.perf_counter() - start))
    s = store.summary()
    out["exact"] = s["searches"] == events and s["feedback"] == 2 * events
    store.clear()
    store.close()
    return out


def _wait_spool(port: int, timeout: float = 60.0) -> dict | None:
    deadline = time.monotonic() + timeout
    spool = None
    while time.monotonic() < deadline:
        _, body = call(port, "GET", "/readyz")
        spool = body.get("checks", {}).get("spool")
        if spool is None or (spool["spooled"] == 0 and spool["parked"] == 0):
            return spool
        time.sleep(0.5)
    return spool


def _clear_redis_prefix(url: str) -> None:
    import redis

    base, _, prefix = url.partition("?prefix=")
    r = redis.Redis.from_url(base)
    keys = list(r.scan_iter(match="{" + prefix + "}*", count=1000))
    for i in range(0, len(keys), 500):
        r.delete(*keys[i:i + 500])
    r.close()


def recording_run(store_name: str, catalog: Path, args, log) -> dict:
    """16 HTTP clients: searches over a small pool of repeated queries (after one warm-up pass their vectors
    come from the LRU, so recording, not the model, dominates), then feedback on what those searches
    served, one event per POST /v1/feedback, then as many events again in POST /v1/feedback:batch requests
    of `--recording-batch` events. The store must hold exactly what was answered, after each feedback phase
    (read through the API) and at the end (read from the store): searches, feedback, clicks, and Times
    Matched of every artifact."""
    from bench.vectors import link_copy
    from graph.store import open_store

    run = scratch("mg-rec-")
    url = f"{REDIS_URL}?prefix=mgbench-{uuid.uuid4().hex[:8]}" if store_name == "redis" else ""
    data_dir = link_copy(catalog, run / "var")
    server = Gunicorn(data_dir, store=url, workers=args.workers, settings={"site_secret": BENCH_SITE_SECRET})
    clients = args.recording_clients
    try:
        server.wait_ready()
        pool = queries()[:args.recording_query_pool]
        warm, _ = run_clients(server.port, clients, pool * 2, 600, search_job)
        rng = random.Random(11)
        jobs = [rng.choice(pool) for _ in range(args.recording_searches)]
        tallies, s_elapsed = run_clients(server.port, clients, jobs, args.level_seconds, search_job)
        searches = merge(tallies)

        pairs = [(sid, aid, token) for sid, served, token in searches.results for aid in dict.fromkeys(served)]
        rng.shuffle(pairs)  # each event on its own (search, artifact): a vote belongs to its search's person

        def events(n: int) -> list[dict]:
            out = []
            for search_id, artifact_id, token in sorted(pairs[:n], key=lambda p: p[2]):
                kind = rng.choice(FEEDBACK_KINDS)
                job = {"search_id": search_id, "artifact_id": artifact_id, "event": kind, "user_token": token}
                if kind == "dwell":
                    job["dwell_ms"] = rng.randint(100, 60_000)
                out.append(job)
            del pairs[:n]
            return out

        def by_person(flat: list[dict]) -> list[list[dict]]:
            """Batches of at most `--recording-batch` events, each of one person (a batch is one identity's)."""
            out: list[list[dict]] = []
            for _, group in itertools.groupby(flat, key=lambda e: e["user_token"]):
                group = list(group)
                out += [group[i:i + args.recording_batch] for i in range(0, len(group), args.recording_batch)]
            return out

        def stored() -> dict:
            spool = _wait_spool(server.port) if url else None
            _, summary = call(server.port, "GET", "/v1/analytics/summary")
            return {**summary, "spool": spool}

        before = stored()
        tallies, f_elapsed = run_clients(server.port, clients, events(args.recording_feedback), args.level_seconds,
                                         feedback_job)
        feedback = merge(tallies)
        middle = stored()
        flat = events(args.recording_feedback)
        batches = by_person(flat)
        tallies, b_elapsed = run_clients(server.port, clients, batches, args.level_seconds, feedback_batch_job)
        batched = merge(tallies)
        summary = stored()
        spool = summary["spool"]
    finally:
        server.stop()
    everything = merge(warm + [searches])

    def phase_exact(a: dict, b: dict, sent: Tally) -> bool:
        return b.get("feedback", -1) - a.get("feedback", 0) == sent.feedback and \
            b.get("clicks", -1) - a.get("clicks", 0) == sent.clicks

    check = open_store(url, data_dir, spool=False)
    try:
        s = check.summary()
        stored_tm = dict(check.top_artifacts(limit=10_000_000))
        mismatched = {a for a in set(stored_tm) | set(everything.served) if stored_tm.get(a, 0) != everything.served[a]}
        exact = (s["searches"] == everything.searches and s["feedback"] == feedback.feedback + batched.feedback
                 and s["clicks"] == feedback.clicks + batched.clicks and summary.get("searches") == s["searches"]
                 and not mismatched and phase_exact(before, middle, feedback) and phase_exact(middle, summary, batched))
        if url:
            check.clear()
    finally:
        check.close()
        if url:
            _clear_redis_prefix(url)
        shutil.rmtree(run, ignore_errors=True)
    srow, frow, brow = (latency_row(searches, s_elapsed), latency_row(feedback, f_elapsed),
                        latency_row(batched, b_elapsed))
    batched_rate = round(batched.feedback / b_elapsed, 1) if b_elapsed else 0.0
    stored_one = middle.get("feedback", 0) - before.get("feedback", 0)  # per phase, read through the API
    stored_batched = summary.get("feedback", 0) - middle.get("feedback", 0)
    log(f"recording {store_name}: {srow['rps']} searches/s, {frow['rps']} feedback/s one per request, "
        f"{batched_rate} feedback/s in batches of {args.recording_batch}, exact {exact}")
    return {"store": store_name, "clients": clients, "search events/s": srow["rps"],
            "search p50/p99 ms": f"{srow['p50']}/{srow['p99']}", "feedback events/s": frow["rps"],
            "feedback p50/p99 ms": f"{frow['p50']}/{frow['p99']}",
            "batched feedback events/s": batched_rate, "batch size": args.recording_batch,
            "batch p50/p99 ms": f"{brow['p50']}/{brow['p99']}",
            "errors": srow["errors"] + frow["errors"] + brow["errors"],
            "searches sent/stored": f"{everything.searches}/{s['searches']}",
            "feedback sent/stored": f"{feedback.feedback}/{stored_one}",
            "batched feedback sent/stored": f"{batched.feedback}/{stored_batched}",
            "clicks sent/stored": f"{feedback.clicks + batched.clicks}/{s['clicks']}",
            "Times Matched checked": f"{len(everything.served)} artifacts, {len(mismatched)} off",
            "counts exact": exact, "spool after": spool}


def section_recording(args, log, catalog: Path) -> dict:
    current = catalog / (catalog / "CURRENT").read_text().strip() / "catalog.jsonl"
    ids = [json.loads(line)["id"] for line in current.read_text().splitlines() if line.strip()]
    http_rows, store_rows = [], []
    for rep in range(args.repeats):
        for name in (("sqlite", "redis") if rep % 2 == 0 else ("redis", "sqlite")):
            http_rows.append({**recording_run(name, catalog, args, log), "repeat": rep + 1})
    for name, url in (("sqlite", ""), ("redis", f"{REDIS_URL}?prefix=mgbench-{uuid.uuid4().hex[:8]}")):
        tmp = scratch("mg-store-")
        try:
            reps = [_store_rate(url, tmp, ids, args.recording_feedback, args.recording_clients, args.recording_batch)
                    for _ in range(args.repeats)]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if url:
                _clear_redis_prefix(url)
        store_rows.append({"store": name, "threads": args.recording_clients, "events": args.recording_feedback,
                           "record_search/s": med([r["search"] for r in reps], 0),
                           "record_feedback/s": med([r["feedback"] for r in reps], 0),
                           f"record_many feedback/s ({args.recording_batch} a call)":
                               med([r["feedback_batched"] for r in reps], 0),
                           "counts exact": all(r["exact"] for r in reps)})
        log(f"store-level {name}: {store_rows[-1]}")
    summary = []
    for name in ("sqlite", "redis"):
        mine = [r for r in http_rows if r["store"] == name]
        summary.append({"store": name, "clients": args.recording_clients, "repeats": len(mine),
                        "search events/s": med([r["search events/s"] for r in mine]),
                        "feedback events/s": med([r["feedback events/s"] for r in mine]),
                        f"batched feedback events/s ({args.recording_batch} a request)":
                            med([r["batched feedback events/s"] for r in mine]),
                        "errors": sum(r["errors"] for r in mine),
                        "counts exact": all(r["counts exact"] for r in mine)})
    return {"http": summary, "http_runs": http_rows, "store": store_rows}


# --- driver ---------------------------------------------------------------------------------------------

def run(args, log=print) -> dict:
    from bench import vectors
    from bench.common import bundled_engine

    WORK.mkdir(parents=True, exist_ok=True)
    report: dict = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
                    "load_average_start": load_average(), "repeats": args.repeats, "sections": {},
                    "command": "python -m bench.perf " + " ".join(args.argv)}
    wanted = args.only or SECTIONS
    engine = bundled_engine()  # the bundled catalog, ingested once into bench/out/catalog (shared with bench.quality)
    catalog = engine.data_dir
    real = vectors.real_catalog(engine) if {"cold", "http", "ann"} & set(wanted) else None
    engine.close()
    del engine
    sizes: dict[int, tuple[Path, dict]] = {}
    if real is not None:
        for n in args.sizes:
            start = time.perf_counter()
            path, info = vectors.ensure(n, rebuild=args.rebuild, real=real)
            how = "reused" if info["reused"] else f"built in {time.perf_counter() - start:.0f} s"
            log(f"data dir {n:,}: {path} ({how})")
            sizes[n] = (path, info)
        report["data_dirs"] = {n: info for n, (_, info) in sizes.items()}
        report["realism"] = vectors.realism(real, vectors.stored_vectors(sizes[max(sizes)][0]))
    for name in SECTIONS:
        if name not in wanted:
            continue
        start = time.perf_counter()
        load = load_average()
        if name == "embedding":
            out = section_embedding(args, log)
        elif name == "ingest":
            out = section_ingest(args, log)
        elif name == "cold":
            out = section_cold(args, log, sizes)
        elif name == "http":
            out = section_http(args, log, sizes)
        elif name == "ann":
            out = section_ann(args, log, sizes)
        else:
            out = section_recording(args, log, catalog)
        out.update(load_average_before=load, load_average_after=load_average(),
                   seconds=round(time.perf_counter() - start))
        report["sections"][name] = out
    report["load_average_end"] = load_average()
    return report


TARGETS = {"p50_100k_ms": 15, "p99_100k_ms": 50, "p50_1m_ms": 25, "recall_1m": 0.95, "cold_100k_s": 5.0,
           "events_redis": 2000}


def render(report: dict) -> str:
    """Markdown tables of a report (what BENCHMARKS.md holds)."""
    s = report["sections"]
    out = [f"`{report['command']}` — {report['date']}, {report['machine']}, {report['repeats']} repeats "
           f"(medians); load average {report['load_average_start']} at start, {report['load_average_end']} at end.",
           ""]

    def block(title: str, name: str, rows_key: str = "rows", cols: list[str] | None = None) -> None:
        if name not in s:
            return
        rows = s[name][rows_key]
        out.extend([f"**{title}** (load average {s[name]['load_average_before']} → "
                    f"{s[name]['load_average_after']}, {s[name]['seconds']} s)", "",
                    table(rows, cols or list(rows[0])), ""])

    if "realism" in report:
        out += ["**Synthetic vectors vs real ones** (2,000-vector samples; NN = nearest other vector in the set)", "",
                table(report["realism"], list(report["realism"][0])), ""]
    block("Query embedding, one query at a time", "embedding")
    block("Ingest throughput", "ingest")
    block("Cold start of a fresh process on an existing data dir", "cold")
    block("/v1/search through gunicorn (2 workers x 4 threads), loopback, distinct queries", "http")
    if "http" in s:
        out += [table(s["http"]["servers"], list(s["http"]["servers"][0])), ""]
        if s["http"]["memory"]:
            out += [table(s["http"]["memory"], list(s["http"]["memory"][0])), ""]
    block("ANN recall and index-only search time", "ann")
    if "recording" in s:
        block("Match recording through HTTP (16 clients, gunicorn 2 workers)", "recording", "http")
        out += ["Per run:", "", table(s["recording"]["http_runs"], [c for c in s["recording"]["http_runs"][0]
                                                                   if c != "spool after"]), "",
                "Store level (16 threads calling the store directly, no HTTP):", "",
                table(s["recording"]["store"], list(s["recording"]["store"][0])), ""]
    return "\n".join(out)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.perf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="capabilities")
    parser.add_argument("--million", action="store_true", help="add 1,000,000 capabilities to the sizes")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, nargs=3, default=[100, 200, 400], metavar=("C1", "C4", "C16"),
                        help="requests at 1, 4 and 16 clients")
    parser.add_argument("--level-seconds", type=float, default=30.0, help="time bound of each load level")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--embed-queries", type=int, default=100)
    parser.add_argument("--ingest-artifacts", type=int, default=300)
    parser.add_argument("--ann-queries", type=int, default=300)
    parser.add_argument("--recording-clients", type=int, default=16)
    parser.add_argument("--recording-searches", type=int, default=1000, help="searches per recording run")
    parser.add_argument("--recording-feedback", type=int, default=4000, help="feedback events per recording run")
    parser.add_argument("--recording-batch", type=int, default=50,
                        help="feedback events per POST /v1/feedback:batch in the batched phase (max 500)")
    parser.add_argument("--recording-query-pool", type=int, default=40)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the synthetic data dirs")
    parser.add_argument("--quick", action="store_true", help="CI smoke: tiny sizes and counts, 1 repeat")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.sizes = [s for s in args.sizes if s < 10_000] or [3_500]
        args.repeats, args.requests, args.level_seconds = 1, [6, 8, 16], 20.0
        args.embed_queries, args.ingest_artifacts, args.ann_queries = 5, 8, 20
        args.recording_searches, args.recording_feedback, args.recording_query_pool = 40, 60, 5
        args.recording_clients, args.recording_batch = 4, 10
    if args.million and MILLION not in args.sizes:
        args.sizes.append(MILLION)
    args.sizes = sorted(set(args.sizes))
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = parse(argv)
    report = run(args, log=lambda m: print(f"[perf {time.strftime('%H:%M:%S')}] {m}", file=sys.stderr, flush=True))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, indent=1, default=str) if args.json else render(report))
    http_rows = report["sections"].get("recording", {}).get("http", [])
    return 0 if all(r["counts exact"] and not r["errors"] for r in http_rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
