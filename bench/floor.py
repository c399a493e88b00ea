"""How close `GET /v1/search` over HTTP is to the least an HTTP search can cost on this machine.

    python -m bench.profile --floor [--searches 300] [--size 100000]

Two gunicorn servers with the Procfile's settings (2 gthread workers x 4 threads): matchgraph over a copy of
the bundled data dir (record on, a signed `user_token` per search so every search is recorded, as in
`bench.ab`), and bench/floorapp.py, a Flask app that does nothing (`/noop`) or only runs matchgraph's query
encoder (`/encode`). One keep-alive client per server; query by query, alternating which goes first, the
same query goes to `/noop`, `/encode`, matchgraph's `/healthz` and `/v1/search`, and matchgraph's encoder
alone runs in this process (one query, no cache: what `bench.peers` interleaves). So one sitting names:

- the floor: gunicorn + socket + HTTP parsing + Flask + a JSON answer, with no work (`/noop`);
- what matchgraph's app adds to every request (`/healthz`: its WSGI middleware and hooks, no work);
- the encoder over HTTP (`/encode`): the least any search over HTTP can cost, whatever else it skips;
- the search over HTTP, and its ratios to each, and to the encoder alone (the issue's 2x target).

A peer searching in process (txtai) pays none of the floor; whether `/v1/search` over HTTP can reach 1.0x of
it is read against `/encode`'s p50 over the encoder alone's.
"""

from __future__ import annotations

import http.client
import shutil
import time
import uuid
from urllib.parse import urlencode

from bench.common import machine, table


def run(args, log) -> str:
    from bench.perf import load_average, percentile, queries, scratch
    from bench.profile import source_dir
    from bench.servers import Gunicorn
    from bench.stages import in_process_app
    from bench.vectors import link_copy
    from search.identity import sign_token

    source = source_dir(args.size)
    work = scratch("mg-floor-")
    secret = uuid.uuid4().hex
    servers = {"search": Gunicorn(link_copy(source, work / "http"), settings={"site_secret": secret})}
    (work / "floor").mkdir()
    servers["floor"] = Gunicorn(work / "floor", app="bench.floorapp:create_app()")
    engine = None
    try:
        engine, _ = in_process_app(link_copy(source, work / "inproc"), secret)  # the encoder alone, as in stages
        for server in servers.values():
            server.wait_ready()
        conns = {name: http.client.HTTPConnection("127.0.0.1", s.port, timeout=120) for name, s in servers.items()}

        def get(name: str, path: str) -> float:
            start = time.perf_counter()
            conns[name].request("GET", path)
            resp = conns[name].getresponse()
            resp.read()
            assert resp.status == 200, (path, resp.status)
            return 1000 * (time.perf_counter() - start)

        def alone(q: str) -> float:
            start = time.perf_counter()
            engine.embedder._encode_uncached([q])
            return 1000 * (time.perf_counter() - start)

        paths = {
            "noop": lambda q: get("floor", "/noop"),
            "encode": lambda q: get("floor", "/encode?" + urlencode({"q": q})),
            "search": lambda q: get("search", "/v1/search?" + urlencode(
                {"q": q, "k": 10, "user_token": sign_token(secret, uuid.uuid4().hex)})),
            "alone": alone,
            "healthz": lambda q: get("search", "/healthz"),  # matchgraph's own app (middleware, hooks), no work
        }
        pool = queries()
        for i, q in enumerate(pool[:20]):  # both workers of each server warm
            for run_one in paths.values():
                run_one(f"warm up {i} {q}")
        ms: dict[str, list[float]] = {name: [] for name in paths}
        order = list(paths)
        for i, q in enumerate(pool[20:20 + args.searches]):
            for name in order[i % len(order):] + order[:i % len(order)]:  # rotate which goes first
                ms[name].append(paths[name](q))
        for conn in conns.values():
            conn.close()
        return render(args, source, engine, ms, percentile, load_average())
    finally:
        for server in servers.values():
            server.stop()
        if engine is not None:
            engine.close()
        shutil.rmtree(work, ignore_errors=True)


LABELS = {
    "noop": "floor: no-op Flask endpoint over HTTP (gunicorn, same config and client)",
    "encode": "floor + matchgraph's encoder: Flask endpoint that only encodes the query, over HTTP",
    "search": "matchgraph GET /v1/search over HTTP (record on, signed user_token)",
    "alone": "matchgraph's encoder alone, in process (one query, no cache)",
    "healthz": "matchgraph GET /healthz over HTTP (its app's middleware and hooks, no work)",
}


def render(args, source, engine, ms, percentile, load) -> str:
    p = {name: percentile(v, 50) for name, v in ms.items()}
    rows = [{"path": LABELS[name], "p50 ms": round(p[name], 2), "p95 ms": round(percentile(ms[name], 95), 2),
             "p99 ms": round(percentile(ms[name], 99), 2)} for name in ("noop", "healthz", "alone", "encode", "search")]
    ratios = [
        {"ratio": "search over HTTP / encoder alone (issue 32: at most 2x)", "p50": f"{p['search'] / p['alone']:.2f}x"},
        {"ratio": "search over HTTP / encoder over HTTP (the least an HTTP search can cost)",
         "p50": f"{p['search'] / p['encode']:.2f}x"},
        {"ratio": "encoder over HTTP / encoder alone (what HTTP alone adds to the model)",
         "p50": f"{p['encode'] / p['alone']:.2f}x"},
        {"ratio": "search over HTTP minus encoder over HTTP, ms (everything matchgraph does besides the model)",
         "p50": f"{p['search'] - p['encode']:.2f}"},
        {"ratio": "no-op over HTTP, ms (the floor: gunicorn, socket, HTTP, Flask)", "p50": f"{p['noop']:.2f}"},
        {"ratio": "matchgraph's /healthz minus the no-op, ms (its middleware and hooks on every request)",
         "p50": f"{p['healthz'] - p['noop']:.2f}"},
    ]
    head = (f"`python -m bench.profile --floor{f' --size {args.size}' if args.size else ''} --searches "
            f"{args.searches}` over {source.name} ({len(engine.index):,} capabilities, {engine.index.kind} index); "
            f"{len(ms['search'])} queries, the five paths rotating query by query; {machine()}, load average "
            f"{load} at the end, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    return "\n".join([head, "", table(rows, ["path", "p50 ms", "p95 ms", "p99 ms"]), "",
                      table(ratios, ["ratio", "p50"])])
