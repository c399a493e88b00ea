"""Where a served search spends its time, and side-by-side checks of what was changed to make it cheaper.

    python -m bench.profile                      # pyinstrument + phase table, bundled catalog, 200 searches
    python -m bench.profile --size 100000        # over the synthetic 100k data dir (bench/vectors.py)
    python -m bench.profile --sync-ab            # before/after of the intent-sync fixes, in process, + R@10
    python -m bench.profile --sync-http-ab       # the same through gunicorn, 1 and 16 clients
    python -m bench.profile --ann-ab [--history 300]  # IVF nprobe and mapped-list prefetch, 100k, + R@10
    python -m bench.profile --pipeline-ab --size 100000  # the pipeline's stages before/after (bench/pipeline_ab.py)
    python -m bench.profile --threads-ab         # gunicorn with torch's default threads vs 1 per worker
    python -m bench.profile --query-threads-ab   # ONNX Runtime: 1 vs 2 intra-op threads per query
    python -m bench.profile --encoder-ab         # torch vs ONNX Runtime query encoder: HTTP and dev quality
    python -m bench.profile --stages             # one GET /v1/search by stage, in process and over HTTP
    python -m bench.profile --floor              # search over HTTP vs a no-op and an encode-only Flask app
    python -m bench.profile --checkpoint-ab      # recording: WAL checkpoints in a thread vs in the commit
    python -m bench.profile --index-ab --size 100000  # exact vs IVF vs HNSW at recall@10 >= 0.99
    python -m bench.profile --fp16-ab [--size 100000]  # float32 scan vs fp16 scan + exact re-rank (bench/fp16.py)
    python -m bench.profile --ort-ab             # ONNX Runtime graph optimisation level x threads, one query
    python -m bench.profile --feedback redis     # where a POST /v1/feedback spends its time (Flask test client)

The searches run what `GET /v1/search` runs, in process: `Engine.search` with learning on, then
`Engine.serve` (scores of the hits, the record, Times Matched) and `search_response`. Every query is distinct (the
query-vector LRU never hits), as for real traffic.
"""

from __future__ import annotations

import argparse
import collections
import inspect
import shutil
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from bench.common import load_devset, machine, metrics, table
from bench.perf import (
    latency_row,
    load_average,
    med,
    merge,
    percentile,
    queries,
    run_clients,
    scratch,
    search_job,
)
from bench.servers import Gunicorn

PHASES = (  # (module, class, method, label); nested phases are subtracted from their parents
    ("search.engine", "Engine", "search", "Engine.search: ranking, fusion, the rest"),
    ("search.pipeline", "QueryPipeline", "search_batch", "query pipeline: candidates, fusion, tiers, hits"),
    ("search.embedder", "Embedder", "encode_query", "query embedding (model forward)"),
    ("search.embedder", "Embedder", "encode", "intent sync: embedding recorded intents (model forward)"),
    ("search.learning", "IntentMemory", "learned", "learning: neighbour intents and their edges"),
    ("search.index", "VectorIndex", "search", "FAISS search (capabilities and intents)"),
    ("search.lexical", "LexicalIndex", "scores", "BM25 (bm25s)"),
    ("search.evidence", "Evidence", "record", "recording the search event (store)"),
    ("search.engine", "Engine", "serve", "response: scores, record, Times Matched"),
    ("search.evidence", "Evidence", "scorebook", "scorebook refresh (every 30 s)"),
)


class PhaseTimer:
    """Exclusive wall time per wrapped function (children's time is taken off their caller's)."""

    def __init__(self) -> None:
        self.total: collections.Counter = collections.Counter()
        self.calls: collections.Counter = collections.Counter()
        self._stack: list[list[float]] = []
        self._undo: list = []

    def wrap(self, owner, name: str, label: str) -> None:
        real = getattr(owner, name)

        def wrapper(*a, **k):
            self._stack.append([0.0])
            start = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                spent = time.perf_counter() - start
                children = self._stack.pop()[0]
                self.total[label] += spent - children
                self.calls[label] += 1
                if self._stack:
                    self._stack[-1][0] += spent

        raw = inspect.getattr_static(owner, name)
        setattr(owner, name, staticmethod(wrapper) if isinstance(raw, staticmethod) else wrapper)
        self._undo.append((owner, name, raw))

    def install(self) -> PhaseTimer:
        import importlib

        for module, cls, method, label in PHASES:
            mod = importlib.import_module(module)
            self.wrap(getattr(mod, cls) if cls else mod, method, label)
        return self

    def remove(self) -> None:
        for owner, name, real in reversed(self._undo):
            setattr(owner, name, real)
        self._undo.clear()


def engine_over(data_dir: Path, work: Path):
    from bench.vectors import link_copy
    from graph.settings import Settings
    from search.engine import Engine

    return Engine(Settings.load(data_dir=link_copy(data_dir, work), store_url=""))


def served_search(engine, q: str) -> None:
    """What the /v1/search handler does, minus Flask."""
    import api.serialize as serialize

    result = engine.search(q, k=10, record=False)
    serialize.search_response(result, engine.serve(result, record=True))


def source_dir(size: int | None) -> Path:
    from bench import vectors
    from bench.common import bundled_engine

    engine = bundled_engine()
    engine.close()
    if not size:
        return engine.data_dir
    return vectors.ensure(size, real=vectors.real_catalog(engine))[0]


def profile(args, log) -> str:
    from pyinstrument import Profiler

    import api.serialize  # noqa: F401 - wrapped below

    source = source_dir(args.size)
    work = scratch("mg-profile-")
    try:
        engine = engine_over(source, work / "var")
        qs = queries()
        for q in qs[:5]:
            served_search(engine, q)  # first-use costs (scorebook, lazy imports) out of the way
        qs = qs[5:5 + args.searches]
        batches = engine.embedder.forward_batches
        timer = PhaseTimer().install()
        profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        profiler.start()
        try:
            for q in qs:
                served_search(engine, q)
        finally:
            profiler.stop()
            timer.remove()
        wall = time.perf_counter() - started
        forwards = (engine.embedder.forward_batches - batches) / len(qs)
        engine.close()
        rows = [{"phase": label, "ms/search": round(1000 * t / len(qs), 2), "share": f"{100 * t / wall:.0f}%",
                 "calls/search": round(timer.calls[label] / len(qs), 2)}
                for label, t in timer.total.most_common()]
        head = (f"{len(qs)} served searches over {source.name} ({machine()}, load average {load_average()}): "
                f"{1000 * wall / len(qs):.1f} ms/search, {forwards:.2f} model forward passes per search")
        text = profiler.output_text(unicode=False, color=False, show_all=False, timeline=False)
        lines = text.splitlines()
        return "\n".join([head, "", table(rows, ["phase", "ms/search", "share", "calls/search"]), "",
                          "pyinstrument (top frames):", "```", *lines[:args.lines], "```"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def legacy_sync(self) -> None:
    """`IntentMemory.sync` before the fix: every new intent in the log is embedded again, including
    the ones this process has just searched for (their vectors were already in the index)."""
    new, cursor = self.store.intents_since(self.cursor)
    if not new:
        return
    vectors = self.embedder.encode([i.text for i in new])
    with self._lock:
        self.index.upsert([i.intent_id for i in new], vectors)
        self.cursor = cursor


def legacy_remember(self, intent_id: str, vector, text: str | None = None) -> None:
    """`IntentMemory.remember` before the fix: memory only, nothing for the other workers."""
    with self._lock:
        if intent_id not in self.index:
            self.index.upsert([intent_id], vector[None, :])


@contextmanager
def variant(name: str):
    from search.learning import IntentMemory

    current = IntentMemory.sync, IntentMemory.remember
    if name == "before":
        IntentMemory.sync, IntentMemory.remember = legacy_sync, legacy_remember
    try:
        yield
    finally:
        IntentMemory.sync, IntentMemory.remember = current


def legacy_app():
    """gunicorn app spec `bench.profile:legacy_app()`: the product with the intent sync as before the fixes."""
    from api.app import create_app
    from search.learning import IntentMemory

    IntentMemory.sync, IntentMemory.remember = legacy_sync, legacy_remember
    return create_app()


def sync_ab(args, log) -> str:
    """The intent-sync fix, before vs after, in one run: served-search latency, forward passes, R@10."""
    from bench.quality import evaluate

    source = source_dir(args.size)
    work = scratch("mg-ab-")
    try:
        engines = {name: engine_over(source, work / name) for name in ("before", "after")}
        qs = queries()
        times = {name: [] for name in engines}
        forwards = dict.fromkeys(engines, 0)
        for name, engine in engines.items():
            with variant(name):
                for q in qs[:5]:
                    served_search(engine, q)
        for i, q in enumerate(qs[5:5 + args.searches]):
            for name in (("before", "after") if i % 2 == 0 else ("after", "before")):
                engine = engines[name]
                with variant(name):
                    b = engine.embedder.forward_batches
                    start = time.perf_counter()
                    served_search(engine, q)
                    times[name].append(1000 * (time.perf_counter() - start))
                    forwards[name] += engine.embedder.forward_batches - b
        dev = load_devset("huggingface_eval")[:args.quality_limit]
        rows = []
        for name, engine in engines.items():
            with variant(name):
                engine.embedder._lru.clear()
                m = evaluate(engine, dev)
            t = times[name]
            rows.append({"variant": "before: sync re-embeds every recorded intent" if name == "before"
                         else "after: own intents kept (and cached for other workers)",
                         "searches": len(t), "p50 ms": round(percentile(t, 50), 1),
                         "p95 ms": round(percentile(t, 95), 1), "mean ms": round(statistics.mean(t), 1),
                         "forward passes/search": round(forwards[name] / len(t), 2),
                         "dev R@10": m["R@10"], "dev MRR@10": m["MRR@10"]})
            engine.close()
        b, a = rows
        return "\n".join([f"intent-sync fix, same run, alternating per query ({machine()}, load average "
                          f"{load_average()}): after/before p50 = {a['p50 ms'] / b['p50 ms']:.2f}x", "",
                          table(rows, list(rows[0]))])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ann_ab(args, log) -> str:
    """Issue 32's index changes on a synthetic IVF data dir, in one engine, variants alternating per query:
    nprobe as tuned on query-like catalog texts vs nprobe 64 (what tuning on mixtures chose), each with the
    memory-mapped lists searched with and without FAISS's prefetch threads, and the nprobe the same texts
    choose on today's grid of nprobes when it differs from the saved one. Engine.search (learning on,
    record off) is timed with the query vector cached, and the encoder alone (tokenizer + forward pass,
    uncached) is timed for the same query just before: Engine.search with a fresh query costs the sum.
    Dev-set quality per variant."""
    import faiss

    from search import tunequeries

    source = source_dir(args.size or 100_000)
    work = scratch("mg-ann-ab-")
    try:
        engine = engine_over(source, work / "var")
        index = engine.index
        if index.kind != "ivf":
            raise SystemExit(f"{source} holds an exact index: use --size above the ANN threshold")
        lists = faiss.downcast_InvertedLists(index.faiss_index.invlists)
        tuned, how = index.nprobe, index.tuning.get("on", "mixtures")
        mapped = "memory-mapped" if index.mapped else "in memory"
        variants = {  # name -> (nprobe, FAISS prefetch threads)
            f"before: nprobe 64 (tuned on mixtures), {mapped}, FAISS prefetch threads on": (64, 32),
            f"nprobe 64, {mapped}, prefetch threads off": (64, 0),
            f"nprobe {tuned} (tuned on {how}), {mapped}, prefetch threads on": (tuned, 32),
            f"after: nprobe {tuned} (tuned on {how}), {mapped}, prefetch threads off": (tuned, 0),
        }
        # the saved nprobe was tuned on the grid of the code that built the index: tuned again on today's
        # (search/index.py `_NPROBES`) over the same query-like texts, the nprobe a build would serve now
        regrid = index.tune_nprobe(tunequeries.vectors(engine.view().artifacts, engine.embedder))
        index.nprobe = tuned
        if regrid != tuned:
            variants[f"nprobe {regrid} (tuned again on today's grid), {mapped}, prefetch threads off"] = (regrid, 0)
        if not index.mapped:
            variants = {n: v for n, v in variants.items() if v[1] == 0}
        every = load_devset("huggingface_eval")
        dev = every[:args.quality_limit]
        if args.history:  # past searches with clicks, as pipeline-ab records them (other requests than dev)
            from bench.pipeline_ab import record_history

            record_history(engine, [r["query"] for r in every[len(dev):len(dev) + args.history]], log)
        times: dict[str, list[float]] = {name: [] for name in variants}
        ranked: dict[str, list[list[str]]] = {name: [] for name in variants}
        encoder: list[float] = []
        faiss_ms: dict[str, list[float]] = {name: [] for name in variants}
        real_search, spent = index.search_numbered, [0.0]

        def timed_search(*a, **k):  # the capability index's own calls (the intents' index is another object)
            start = time.perf_counter()
            try:
                return real_search(*a, **k)
            finally:
                spent[0] += time.perf_counter() - start

        index.search_numbered = timed_search  # what the pipeline calls (VectorIndex.search wraps it too)
        for r in dev[:20]:  # first-use costs out of the way
            engine.search(r["query"], k=10, record=False)
        names = list(variants)
        for rep in range(args.repeats):
            for i, r in enumerate(dev):
                text = engine.pipeline.encoder_text(engine.view(), r["query"])  # what a search encodes
                start = time.perf_counter()
                engine.embedder._encode_uncached([text])
                encoder.append(1000 * (time.perf_counter() - start))
                engine.embedder.encode_query(text)  # into the LRU: the variants below differ after the model
                for name in names[(i + rep) % len(names):] + names[:(i + rep) % len(names)]:
                    index.nprobe, lists.prefetch_nthread = variants[name]
                    spent[0] = 0.0
                    start = time.perf_counter()
                    hits = engine.search(r["query"], k=10, record=False).hits
                    times[name].append(1000 * (time.perf_counter() - start))
                    faiss_ms[name].append(1000 * spent[0])
                    if rep == 0:
                        ranked[name].append([h.artifact.id for h in hits])
        index.nprobe, lists.prefetch_nthread = tuned, 0
        del index.search_numbered
        engine.close()
        enc50, enc_mean = percentile(encoder, 50), statistics.mean(encoder)
        rows = []
        for name in variants:
            m = metrics(ranked[name], [r["gold"] for r in dev])
            rest50, rest_mean = percentile(times[name], 50), statistics.mean(times[name])
            rows.append({"variant": name, "searches": len(times[name]),
                         "after the model p50 ms": round(rest50, 2), "mean ms": round(rest_mean, 2),
                         "of which the capability index, p50 ms": round(percentile(faiss_ms[name], 50), 2),
                         "(encoder + it) / encoder, p50": f"{(enc50 + rest50) / enc50:.2f}x",
                         "same, means": f"{(enc_mean + rest_mean) / enc_mean:.2f}x",
                         "dev R@10": m["R@10"], "dev MRR@10": m["MRR@10"]})
        rows.append({"variant": "the encoder alone (tokenizer + forward pass, uncached, one query)",
                     "searches": len(encoder), "after the model p50 ms": f"{enc50:.2f} (encoder)",
                     "mean ms": f"{enc_mean:.2f} (encoder)"})
        head = (f"`python -m bench.profile --ann-ab --size {args.size or 100_000}"
                f"{f' --history {args.history}' if args.history else ''}` over {source.name} "
                f"({len(index):,} capabilities, IVF {index.nlist} lists, {mapped}); {len(dev)} huggingface_eval "
                f"queries x {args.repeats}, variants alternating per query; {machine()}, load average "
                f"{load_average()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        return "\n".join([head, "", table(rows, list(rows[0]))])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def feedback_profile(args, log) -> str:
    """pyinstrument over POST /v1/feedback through the Flask app in process (no sockets): what a recorded
    event costs besides the store."""
    import uuid

    from pyinstrument import Profiler

    from api.app import create_app
    from bench.perf import FEEDBACK_KINDS, REDIS_URL, _clear_redis_prefix
    from bench.servers import BENCH_RATE_LIMIT
    from bench.vectors import link_copy
    from graph.settings import Settings
    from search.engine import Engine

    url = f"{REDIS_URL}?prefix=mgprof-{uuid.uuid4().hex[:8]}" if args.feedback == "redis" else ""
    work = scratch("mg-fb-")
    try:
        engine = Engine(Settings.load(data_dir=link_copy(source_dir(None), work / "var"), store_url=url,
                                      rate_limit=BENCH_RATE_LIMIT))
        client = create_app(engine=engine, config=engine.config).test_client()
        served = []
        for q in queries()[:20]:
            body = client.get("/v1/search", query_string={"q": q, "k": 10}).get_json()
            served += [(body["search_id"], r["artifact_id"]) for r in body["results"]]
        jobs = [{"search_id": s, "artifact_id": a, "event": FEEDBACK_KINDS[i % 5], "dwell_ms": 1500}
                for i, (s, a) in enumerate(served * (1 + args.searches // max(1, len(served))))][:args.searches]
        store_time = PhaseTimer()
        store_time.wrap(type(engine.store), "record_feedback", "store.record_feedback")
        profiler = Profiler(interval=0.0002)
        started = time.perf_counter()
        profiler.start()
        for job in jobs:
            resp = client.post("/v1/feedback", json=job)
            assert resp.status_code == 202, resp.get_data(as_text=True)
        profiler.stop()
        wall = time.perf_counter() - started
        store_time.remove()
        engine.close()
        per = 1000 * wall / len(jobs)
        in_store = 1000 * store_time.total["store.record_feedback"] / len(jobs)
        head = (f"{len(jobs)} POST /v1/feedback in process ({args.feedback} store, {machine()}, load average "
                f"{load_average()}): {per:.2f} ms each, of which {in_store:.2f} ms in the store; "
                f"one core's ceiling {1000 / per:.0f} events/s")
        lines = profiler.output_text(unicode=False, color=False, show_all=False).splitlines()
        return "\n".join([head, "", "```", *lines[:args.lines], "```"])
    finally:
        if url:
            _clear_redis_prefix(url)
        shutil.rmtree(work, ignore_errors=True)


def http_ab(args, log, variants: dict[str, dict], title: str) -> str:
    """gunicorn (Procfile settings) variants, alternating per repeat: 1 and 16 clients, distinct queries.
    A variant is Gunicorn keyword arguments (`settings`, `extra_env`, `app`)."""
    from bench.vectors import link_copy

    source = source_dir(args.size)
    pool = queries()
    rows: dict[tuple[str, int], list[dict]] = collections.defaultdict(list)
    for rep in range(args.repeats):
        for name in (list(variants) if rep % 2 == 0 else list(variants)[::-1]):
            work = scratch("mg-http-ab-")
            server = Gunicorn(link_copy(source, work / "var"), **variants[name])
            try:
                server.wait_ready()
                run_clients(server.port, 8, [f"warm up {i}" for i in range(16)], 120, search_job)
                offset = 0
                for clients, count in ((1, args.searches // 2), (16, args.searches)):
                    tallies, elapsed = run_clients(server.port, clients, pool[offset:offset + count], 120, search_job)
                    offset += count
                    rows[(name, clients)].append(latency_row(merge(tallies), elapsed))
                    log(f"{name}, {clients} clients: {rows[(name, clients)][-1]}")
            finally:
                server.stop()
                shutil.rmtree(work, ignore_errors=True)
    out = [{"variant": name, "clients": c, "requests": sum(r["n"] for r in reps),
            "p50 ms": med([r["p50"] for r in reps]), "p95 ms": med([r["p95"] for r in reps]),
            "p99 ms": med([r["p99"] for r in reps]), "req/s": med([r["rps"] for r in reps]),
            "errors": sum(r["errors"] for r in reps)} for (name, c), reps in rows.items()]
    out.sort(key=lambda r: (r["clients"], list(variants).index(r["variant"])))
    return "\n".join([f"{title}: gunicorn 2 workers x 4 threads over {source.name}, {args.repeats} repeats "
                      f"alternating ({machine()}, load average {load_average()})", "", table(out, list(out[0]))])


def query_threads_ab(args, log) -> str:
    """ONNX Runtime intra-op threads for one query: 1 (the default) vs 2 (MATCHGRAPH_ENCODER_THREADS)."""
    return http_ab(args, log, {"ONNX query session, 1 intra-op thread (default)": {},
                               "ONNX query session, 2 intra-op threads": {"settings": {"encoder_threads": 2}}},
                   "query encoder threads")


def spin_ab(args, log) -> str:
    """ONNX Runtime's intra-op threads spinning within a forward pass (opt-in) or sleeping at every step:
    the encoder alone in this process (one query, alternating), then both through gunicorn (1 and 16 clients)."""
    import numpy as np
    import onnxruntime as ort

    from search.embedder import Embedder

    encoder = Embedder()._encoder
    sessions = {}
    for name, spin in (("spinning within a pass (MATCHGRAPH_ENCODER_SPINNING=1)", "1"), ("no spinning (default)", "0")):
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.force_spinning_stop", "1")
        sessions[name] = ort.InferenceSession(encoder._path, options, providers=["CPUExecutionProvider"])
    feeds = []
    for q in queries()[:args.searches]:
        e = encoder.tokenizer.encode_batch([q])[0]
        columns = {"input_ids": [e.ids], "attention_mask": [e.attention_mask], "token_type_ids": [e.type_ids]}
        feeds.append({n: np.asarray(columns[n], dtype=np.int64) for n in encoder.input_names})
    ms: dict[str, list[float]] = {name: [] for name in sessions}
    cpu: dict[str, float] = dict.fromkeys(sessions, 0.0)
    wall: dict[str, float] = dict.fromkeys(sessions, 0.0)
    names = list(sessions)
    for i, feed in enumerate(feeds * args.repeats):
        for name in (names if i % 2 == 0 else names[::-1]):
            c, start = time.process_time(), time.perf_counter()
            sessions[name].run(None, feed)
            ms[name].append(1000 * (time.perf_counter() - start))
            time.sleep(0.002)  # idle between queries, as a server is: spinning past the pass would show here
            cpu[name] += time.process_time() - c
            wall[name] += time.perf_counter() - start
    rows = [{"encoder session": name, "queries": len(v), "p50 ms": round(percentile(v, 50), 2),
             "p90 ms": round(percentile(v, 90), 2), "mean ms": round(statistics.mean(v), 2),
             "CPU / wall (pass + 2 ms idle)": round(cpu[name] / wall[name], 2)} for name, v in ms.items()]
    alone = "\n".join([f"`python -m bench.profile --spin-ab`: the encoder alone, one query at a time, 2 intra-op "
                       f"threads, sessions alternating ({machine()}, load average {load_average()}, "
                       f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "", table(rows, list(rows[0]))])
    http = http_ab(args, log, {"spinning within a pass (MATCHGRAPH_ENCODER_SPINNING=1)":
                               {"settings": {"encoder_spinning": True}}, "no spinning (default)": {}},
                   "encoder spinning")
    return alone + "\n\n" + http


def threads_ab(args, log) -> str:
    return http_ab(args, log, {"torch default threads (as the Procfile runs)": {},
                               "OMP_NUM_THREADS=1 per worker": {"env": {"OMP_NUM_THREADS": "1",
                                                                        "MKL_NUM_THREADS": "1"}}},
                   "torch intra-op threads")


def encoder_ab(args, log) -> str:
    """The torch encoder (before) against ONNX Runtime (exact, and int8 opt-in) through gunicorn, and the
    dev-set quality of each, every one embedding the whole catalog and the queries itself."""
    from bench.common import ROOT, load_devset
    from bench.quality import evaluate
    from graph.settings import Settings
    from search.embedder import Embedder
    from search.engine import Engine

    quality = []
    rows = load_devset("huggingface_eval")[:args.quality_limit]
    for backend in ("torch", "onnx", "onnx-int8"):
        work = scratch("mg-enc-q-")
        try:  # a fresh data dir and vector cache: this encoder embeds the catalog and every query
            engine = Engine(Settings.load(data_dir=work / "var", store_url="", onnx_dir=work / "models"),
                            embedder=Embedder(backend=backend, onnx_dir=work / "models"))
            engine.ingest([ROOT / "data"])
            for mode in ("dense", "hybrid"):
                quality.append({"encoder": backend, "search": mode, **evaluate(engine, rows, mode),
                                "queries": len(rows)})
                log(f"dev quality with {backend}, {mode}: {quality[-1]}")
            engine.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    http = http_ab(args, log, {"before: torch encoder, default threads": {"settings": {"encoder": "torch"}},
                               "before, tuned: torch encoder, OMP_NUM_THREADS=1": {
                                   "settings": {"encoder": "torch"}, "extra_env": {"OMP_NUM_THREADS": "1"}},
                               "after: ONNX Runtime, one thread per query (default)": {
                                   "settings": {"encoder": "onnx"}},
                               "opt-in: ONNX Runtime int8": {"settings": {"encoder": "onnx-int8"}}},
                   "query encoder")
    return "\n".join([http, "", "dev-set quality (huggingface_eval); each encoder embedded the catalog and the "
                       "queries itself:", "", table(quality, list(quality[0]))])


def sync_http_ab(args, log) -> str:
    return http_ab(args, log, {"before: every worker re-embeds every recorded intent":
                               {"app": "bench.profile:legacy_app()"},
                               "after: own intents kept, others' read from the vector cache": {}},
                   "intent-sync fixes through HTTP")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=None, help="synthetic data dir of this many capabilities")
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--lines", type=int, default=60, help="pyinstrument lines to print")
    parser.add_argument("--sync-ab", action="store_true", help="before/after of the intent-sync fix")
    parser.add_argument("--sync-http-ab", action="store_true", help="the same through gunicorn")
    parser.add_argument("--ann-ab", action="store_true", help="IVF nprobe tuning, mapped-list prefetch: A/B")
    parser.add_argument("--pipeline-ab", action="store_true", help="the pipeline's old vs new stages: A/B")
    parser.add_argument("--quick-identity", action="store_true", help="--pipeline-ab: only the timed queries")
    parser.add_argument("--history", type=int, default=0,
                        help="--ann-ab: first record this many other requests, each clicked by 3 people")
    parser.add_argument("--threads-ab", action="store_true", help="torch threads per gunicorn worker, A/B")
    parser.add_argument("--spin-ab", action="store_true", help="ONNX encoder threads spinning or not, A/B")
    parser.add_argument("--query-threads-ab", action="store_true", help="ONNX intra-op threads per query, A/B")
    parser.add_argument("--encoder-ab", action="store_true", help="torch vs ONNX Runtime query encoder, A/B")
    parser.add_argument("--stages", action="store_true", help="one request by stage, in process and over HTTP")
    parser.add_argument("--floor", action="store_true", help="search over HTTP vs a no-op and an encode-only app")
    parser.add_argument("--checkpoint-ab", action="store_true",
                        help="recording with WAL checkpoints in a thread vs inside the commit")
    parser.add_argument("--index-ab", action="store_true", help="exact vs IVF vs HNSW at a 0.99 recall floor")
    parser.add_argument("--fp16-ab", action="store_true", help="float32 vs fp16 scan + exact re-rank, A/B")
    parser.add_argument("--ort-ab", action="store_true", help="ONNX Runtime optimisation levels and threads")
    parser.add_argument("--feedback", choices=("sqlite", "redis"), help="profile POST /v1/feedback instead")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality-limit", type=int, default=None, help="dev queries for the R@10 check")
    args = parser.parse_args(argv)

    def log(m: str) -> None:
        print(f"[profile {time.strftime('%H:%M:%S')}] {m}", file=sys.stderr, flush=True)

    if args.stages:
        from bench import stages

        print(stages.run(args, log))
    elif args.floor:
        from bench import floor

        print(floor.run(args, log))
    elif args.checkpoint_ab:
        from bench import checkpoints

        print(checkpoints.run(args, log))
    elif args.ort_ab:
        from bench import encoder_ab

        print(encoder_ab.run(args, log))
    elif args.fp16_ab:
        from bench import fp16

        print(fp16.run(args, log))
    elif args.index_ab:
        from bench import indexes

        print(indexes.run(args, log))
    elif args.sync_ab:
        print(sync_ab(args, log))
    elif args.sync_http_ab:
        print(sync_http_ab(args, log))
    elif args.ann_ab:
        print(ann_ab(args, log))
    elif args.pipeline_ab:
        from bench import pipeline_ab

        print(pipeline_ab.run(args, log))
    elif args.feedback:
        print(feedback_profile(args, log))
    elif args.threads_ab:
        print(threads_ab(args, log))
    elif args.spin_ab:
        print(spin_ab(args, log))
    elif args.query_threads_ab:
        print(query_threads_ab(args, log))
    elif args.encoder_ab:
        print(encoder_ab(args, log))
    else:
        print(profile(args, log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
