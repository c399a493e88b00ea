"""Where one `GET /v1/search` spends its time, stage by stage, in process and over HTTP, in one sitting.

    python -m bench.profile --stages                  # bundled catalog, 200 requests
    python -m bench.profile --stages --size 100000    # the synthetic 100k-capability data dir

Every request is the served product path: a signed `user_token` (one person each, so every search is
recorded), record on, learning on, rate limiting on with the storage the server uses (the data dir's shared
SQLite counters without Redis), distinct queries (the query-vector LRU never answers). Request by request,
alternating, the same query goes (a) through the Flask app in this process (`test_client`, no socket) with
every stage below timed, exclusive of the stages nested in it, and (b) through gunicorn (the Procfile's
gthread workers) over a copy of the same data dir with one keep-alive client. The HTTP row minus the in-process
row is what gunicorn, the socket and HTTP parsing add; the stages name the rest, so the encoder's share and
everything outside it are plain.
"""

from __future__ import annotations

import http.client
import importlib
import shutil
import statistics
import time
import uuid
from urllib.parse import urlencode

from bench.common import machine, table

# (module, class or None for a module attribute, attribute, label); nested stages are subtracted from their callers
STAGES = (
    ("flask.app", "Flask", "full_dispatch_request", "Flask: hooks, dispatch, metrics, headers"),
    ("flask_limiter", "Limiter", "_Limiter__evaluate_limits", "rate limiter: Flask-Limiter's own work"),
    ("graph.infra.ratelimits", "SQLiteLimits", "incr", "rate limiter: shared counters (storage)"),
    ("graph.infra.ratelimits", "SQLiteLimits", "get", "rate limiter: shared counters (storage)"),
    ("graph.infra.ratelimits", "SQLiteLimits", "get_expiry", "rate limiter: shared counters (storage)"),
    ("spectree.plugins.flask_plugin", "FlaskPlugin", "validate",
     "spectree: query parsing and response validation (pydantic), and the view's own code"),
    ("spectree.plugins.flask_plugin", "FlaskPlugin", "validate_response", "spectree: response validation (pydantic)"),
    ("api.spec", "ServingPlugin", "validate_response", "spectree: response validation (pydantic)"),
    ("search.engine", "Engine", "admit", "identity: who, admit (network bound)"),
    ("search.engine", "Engine", "who", "identity: who, admit (network bound)"),
    ("search.catalogstate", "CatalogState", "reload", "reload check (one per request)"),
    ("search.engine", "Engine", "search", "Engine.search: options, pinning"),
    ("search.pipeline", "QueryPipeline", "search_batch", "pipeline: normalise, depth, the loop"),
    ("search.embedder", "Embedder", "encode_query", "encoder: LRU and cache keys"),
    ("search.onnx_encoder", "OnnxEncoder", "encode_batch", "encoder: ONNX Runtime forward pass"),
    ("search.torch_encoder", "TorchEncoder", "encode_batch", "encoder: torch forward pass (forked worker)"),
    ("search.index", "VectorIndex", "search", "FAISS search"),
    ("search.pipeline", "QueryPipeline", "_candidates", "candidates: grouping, direction candidates"),
    ("search.lexical", "LexicalIndex", "scores", "BM25 (bm25s)"),
    ("search.names", "NameIndex", "match", "name tiers (rapidfuzz)"),
    ("search.direction", None, "parse", "direction parse"),
    ("search.pipeline", "QueryPipeline", "_rank", "ranking: tiers, sort, hits"),
    ("search.fusion", "Hybrid", "dense", "fusion (dense, fuse, final)"),
    ("search.fusion", "Hybrid", "fuse", "fusion (dense, fuse, final)"),
    ("search.fusion", "Hybrid", "final", "fusion (dense, fuse, final)"),
    ("search.learning", "IntentMemory", "learned", "learning: neighbour intents and their edges"),
    ("search.engine", "Engine", "serve", "serve: scores of the hits"),
    ("search.evidence", "Evidence", "scorebook", "scorebook (cached per catalog view)"),
    ("search.evidence", "Evidence", "record", "recording the search (store write)"),
    ("search.evidence", "Evidence", "times_matched", "Times Matched (store read)"),
    ("api.v1_search", None, "search_response", "response mapping (api/serialize.py)"),
    ("api.jsonprovider", "OrjsonProvider", "response", "JSON serialisation"),
    ("flask.json.provider", "DefaultJSONProvider", "response", "JSON serialisation"),
)
ENCODER = ("encoder: ONNX Runtime forward pass", "encoder: torch forward pass (forked worker)",
           "encoder: tokenizer", "encoder: LRU and cache keys")


class _TimedTokenizer:
    """The ONNX encoder's `tokenizers.Tokenizer` with `encode_batch` timed (a Rust object: its methods
    cannot be patched, so the encoder gets this stand-in for the run)."""

    def __init__(self, real, timer, label: str) -> None:
        self._real, self._timer, self._label = real, timer, label

    def encode_batch(self, *a, **k):
        return self._timer.timed(self._label, self._real.encode_batch, *a, **k)

    def __getattr__(self, name: str):
        return getattr(self._real, name)


def install(timer) -> None:
    """Wrap every stage above that exists in this version of the code."""
    for module, cls, attr, label in STAGES:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        owner = getattr(mod, cls, None) if cls else mod
        if owner is not None and hasattr(owner, attr):
            timer.wrap(owner, attr, label)


def in_process_app(data_dir, site_secret: str):
    from api.app import create_app
    from bench.servers import BENCH_RATE_LIMIT
    from graph.settings import Settings
    from search.engine import Engine

    engine = Engine(Settings.load(data_dir=data_dir, store_url="", site_secret=site_secret,
                                  rate_limit=BENCH_RATE_LIMIT, feedback_rate_limit=BENCH_RATE_LIMIT))
    return engine, create_app(engine=engine, config=engine.config)


def run(args, log) -> str:
    from bench.perf import load_average, percentile, queries, scratch
    from bench.profile import PhaseTimer, source_dir
    from bench.servers import Gunicorn
    from bench.vectors import link_copy
    from search.identity import sign_token

    source = source_dir(args.size)
    work = scratch("mg-stages-")
    secret = uuid.uuid4().hex
    server = Gunicorn(link_copy(source, work / "http"), settings={"site_secret": secret})
    engine = None
    try:
        engine, app = in_process_app(link_copy(source, work / "inproc"), secret)
        client = app.test_client()
        server.wait_ready()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)

        def url(q: str) -> str:
            return "/v1/search?" + urlencode({"q": q, "k": 10, "user_token": sign_token(secret, uuid.uuid4().hex)})

        def over_http(q: str) -> float:
            start = time.perf_counter()
            conn.request("GET", url(q))
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200, resp.status
            return 1000 * (time.perf_counter() - start)

        def in_process(q: str) -> float:
            start = time.perf_counter()
            resp = client.get(url(q))
            assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
            return 1000 * (time.perf_counter() - start)

        pool = queries()
        for i, q in enumerate(pool[:20]):  # first-use costs (scorebook, lazy imports, both workers) out of the way
            in_process(f"warm up {i} {q}")
            over_http(f"warm up {i} {q}")
        qs = pool[20:20 + args.searches]
        timer = PhaseTimer()
        timer.timed = _timed(timer)
        encoder = getattr(engine.embedder, "_encoder", None)
        real_tokenizer = getattr(encoder, "tokenizer", None)
        if real_tokenizer is not None:
            encoder.tokenizer = _TimedTokenizer(real_tokenizer, timer, "encoder: tokenizer")
        install(timer)
        http_ms, local_ms = [], []
        try:
            for i, q in enumerate(qs):
                if i % 2 == 0:
                    local_ms.append(in_process(q))
                    http_ms.append(over_http(q))
                else:
                    http_ms.append(over_http(q))
                    local_ms.append(in_process(q))
        finally:
            timer.remove()
            if real_tokenizer is not None:
                encoder.tokenizer = real_tokenizer
        suggest_ms, alone_ms = [], []
        for i, q in enumerate(qs):  # suggest over HTTP against the encoder alone, alternating
            prefix = q.split()[0][:6] if q.split() else q[:6]
            for what in (("suggest", "alone") if i % 2 == 0 else ("alone", "suggest")):
                start = time.perf_counter()
                if what == "suggest":
                    conn.request("GET", "/v1/suggest?" + urlencode({"q": prefix}))
                    resp = conn.getresponse()
                    resp.read()
                    assert resp.status == 200, resp.status
                    suggest_ms.append(1000 * (time.perf_counter() - start))
                else:
                    engine.embedder._encode_uncached([q])
                    alone_ms.append(1000 * (time.perf_counter() - start))
        conn.close()
        out = render(args, source, timer, local_ms, http_ms, percentile, load_average(), engine)
        s50, a50 = percentile(suggest_ms, 50), percentile(alone_ms, 50)
        rows = [{"path": "GET /v1/suggest over HTTP (first word of each query, up to 6 letters)",
                 "p50 ms": round(s50, 2), "p99 ms": round(percentile(suggest_ms, 99), 2)},
                {"path": "the encoder alone, one query (tokenizer + ONNX Runtime, in this process)",
                 "p50 ms": round(a50, 2), "p99 ms": round(percentile(alone_ms, 99), 2)},
                {"path": "**suggest / encoder alone** (target: at most 0.5x)", "p50 ms": f"{s50 / a50:.2f}x"}]
        return out + "\n\n" + table(rows, ["path", "p50 ms", "p99 ms"])
    finally:
        server.stop()
        if engine is not None:
            engine.close()
        shutil.rmtree(work, ignore_errors=True)


def _timed(timer):
    """`timer.timed(label, fn, *a)`: one call timed as a stage of its own (nested like a wrapped method)."""
    def timed(label, fn, *a, **k):
        timer._stack.append([0.0])
        start = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent = time.perf_counter() - start
            children = timer._stack.pop()[0]
            timer.total[label] += spent - children
            timer.calls[label] += 1
            if timer._stack:
                timer._stack[-1][0] += spent
    return timed


def render(args, source, timer, local_ms, http_ms, percentile, load, engine) -> str:
    n = len(local_ms)
    local_mean, http_mean = statistics.mean(local_ms), statistics.mean(http_ms)
    staged = sum(timer.total.values()) * 1000 / n
    rows = [{"stage": label, "ms/request": round(1000 * t / n, 2), "share": f"{100000 * t / n / local_mean:.0f}%",
             "calls/request": round(timer.calls[label] / n, 2)} for label, t in timer.total.most_common()]
    rest = local_mean - staged
    rows.append({"stage": "test client and unnamed (in-process total minus the stages)",
                 "ms/request": round(rest, 2), "share": f"{100 * rest / local_mean:.0f}%"})
    rows.append({"stage": "**in process, whole request (mean)**", "ms/request": round(local_mean, 2), "share": "100%"})
    rows.append({"stage": "gunicorn, socket, HTTP parsing (HTTP mean minus in-process mean)",
                 "ms/request": round(http_mean - local_mean, 2)})
    rows.append({"stage": "**over HTTP, whole request (mean)**", "ms/request": round(http_mean, 2)})
    encoder = sum(timer.total[label] for label in ENCODER) * 1000 / n
    summary = [
        {"path": "in process (Flask test client)", "p50 ms": round(percentile(local_ms, 50), 2),
         "p99 ms": round(percentile(local_ms, 99), 2), "mean ms": round(local_mean, 2),
         "mean / encoder": f"{local_mean / encoder:.2f}x" if encoder else ""},
        {"path": "over HTTP (gunicorn, 2 workers x 4 threads)", "p50 ms": round(percentile(http_ms, 50), 2),
         "p99 ms": round(percentile(http_ms, 99), 2), "mean ms": round(http_mean, 2),
         "mean / encoder": f"{http_mean / encoder:.2f}x" if encoder else ""},
        {"path": "the encoder alone (tokenizer + forward pass, in the in-process requests)",
         "mean ms": round(encoder, 2)},
    ]
    head = (f"`python -m bench.profile --stages{f' --size {args.size}' if args.size else ''} --searches "
            f"{args.searches}` over {source.name} ({len(engine.index):,} capabilities, {engine.index.kind} index); "
            f"{n} requests each way, alternating; {machine()}, load average {load} at the end, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    return "\n".join([head, "", table(summary, ["path", "p50 ms", "p99 ms", "mean ms", "mean / encoder"]), "",
                      table(rows, ["stage", "ms/request", "share", "calls/request"])])
