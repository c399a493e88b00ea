"""Search latency of two code versions side by side: the same catalog, the same requests, alternating.

    python -m bench.ab --before main --after HEAD --searches 400
    python -m bench.ab --before 5b913dc^ --after main --catalog before   # the old code cannot read today's
    python -m bench.ab --before main --after HEAD --catalog own   # each version its own bundled catalog

Each revision is checked out into a temporary git worktree (detached; removed afterwards). Its own code
ingests the catalog into its own data dir (`--catalog after`, the default: the after revision's catalog
folder data/, so both serve the same artifacts; `before`: the before revision's, for an old revision that
cannot read today's catalog, e.g. 5b913dc^ refuses pricing "open-weights"; `own`: each its own data/)
and serves it with gunicorn as the Procfile runs it (2 gthread workers x 4 threads, rate limits out of the
way, record on). Then the same distinct queries go to both servers, one
keep-alive client each, request by request, alternating which goes first, each with its own signed
`user_token` (one person per search, so every search is recorded, as in production); passes repeat with a
fresh pair of servers. A loaded machine slows both alike: read the ratio, not the milliseconds.
Prints one markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

from bench.common import ROOT, machine, table

INGEST = ("import sys; from pathlib import Path; from bench.common import bundled_engine; "
          "e = bundled_engine(Path(sys.argv[1]), paths=[Path(p) for p in sys.argv[2:]]); "
          "print(len(e.artifacts), len(e.index)); e.close()")


def worktree(rev: str, dest: Path) -> str:
    """A detached worktree of `rev` at `dest`; returns the commit."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "worktree", "add", "--detach", str(dest), commit], cwd=ROOT, check=True,
                   capture_output=True)
    return commit


def drop_worktree(dest: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(dest)], cwd=ROOT, capture_output=True)
    shutil.rmtree(dest, ignore_errors=True)


def server_settings(data_dir: Path, secret: str):
    from bench.common import ensure_onnx_export
    from bench.servers import BENCH_RATE_LIMIT
    from graph.settings import Settings

    return Settings.load(defaults={"onnx_dir": ensure_onnx_export()}).replace(
        data_dir=data_dir, store_url="", bootstrap=False, rate_limit=BENCH_RATE_LIMIT,
        feedback_rate_limit=BENCH_RATE_LIMIT, log_level="WARNING", site_secret=secret)


def ingest(tree: Path, data_dir: Path, catalog: list[Path], log) -> str:
    """The revision's own code ingests `catalog` into `data_dir` (its own embedding, index, generation)."""
    from bench.servers import server_environ

    env = server_environ(server_settings(data_dir, "x"))
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", INGEST, str(data_dir), *map(str, catalog)], cwd=tree, env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{tree.name}: ingest failed: {out.stderr[-2000:]}")
    artifacts, caps = out.stdout.split()[-2:]
    log(f"{tree.name}: {artifacts} artifacts, {caps} capabilities ingested in {time.perf_counter() - started:.0f} s")
    return f"{int(artifacts):,} artifacts, {int(caps):,} capabilities"


class Served:
    """gunicorn (Procfile settings) over `data_dir`, running the code of `tree`."""

    def __init__(self, tree: Path, data_dir: Path, secret: str, workers: int, threads: int) -> None:
        from bench.servers import Gunicorn, free_port, server_environ

        self.server = Gunicorn.__new__(Gunicorn)  # the bench's gunicorn, started from the revision's tree
        self.server.data_dir, self.server.workers, self.server.port = data_dir, workers, free_port()
        self.server.log_path = data_dir.parent / f"gunicorn-{tree.name}-{self.server.port}.log"
        self.server._spawn([sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class",
                            "gthread", "--threads", str(threads), "--bind", f"127.0.0.1:{self.server.port}",
                            "--timeout", "300", "--graceful-timeout", "10", "api.app:create_app()"],
                           server_environ(server_settings(data_dir, secret)), tree)
        self.conn: http.client.HTTPConnection | None = None
        self.used = 0.0

    def ready(self) -> None:
        self.server.wait_ready()

    def search(self, q: str, token: str) -> float:
        if self.conn is None or time.monotonic() - self.used > 1.0:  # gunicorn drops idle keep-alives after 2 s
            if self.conn is not None:
                self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        start = time.perf_counter()
        self.conn.request("GET", "/v1/search?" + urlencode({"q": q, "k": 10, "user_token": token}))
        resp = self.conn.getresponse()
        body = resp.read()
        spent = 1000 * (time.perf_counter() - start)
        self.used = time.monotonic()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {body[:300]!r}")
        json.loads(body)
        return spent

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.stop()


def run(args, log) -> str:
    from bench.perf import load_average, percentile, queries, scratch
    from bench.vectors import link_copy
    from search.identity import sign_token

    work = scratch("mg-ab-")
    names = ("before", "after")
    trees = {name: work / name for name in names}
    try:
        commits = {name: worktree(rev, trees[name]) for name, rev in zip(names, (args.before, args.after),
                                                                           strict=True)}
        catalogs = {name: [trees[name if args.catalog == "own" else args.catalog] / "data"] for name in names}
        data = {name: work / f"data-{name}" for name in names}
        sizes = {name: ingest(trees[name], data[name], catalogs[name], log) for name in names}
        pool = queries()
        qs = pool[20:20 + args.searches]
        times: dict[str, list[float]] = {name: [] for name in names}
        secret = uuid.uuid4().hex
        for rep in range(args.passes):
            servers = {}
            try:
                for name in names:
                    servers[name] = Served(trees[name], link_copy(data[name], work / f"run{rep}-{name}" / "var"),
                                           secret, args.workers, args.threads)
                for s in servers.values():
                    s.ready()
                for i, q in enumerate(pool[:20]):
                    for s in servers.values():
                        s.search(f"warm up {rep} {i} {q}", sign_token(secret, uuid.uuid4().hex))
                for i, q in enumerate(qs):
                    for name in (names if (i + rep) % 2 == 0 else names[::-1]):
                        times[name].append(servers[name].search(q, sign_token(secret, uuid.uuid4().hex)))
                log(f"pass {rep + 1}: " + ", ".join(f"{n} p50 {percentile(t[-len(qs):], 50):.1f} ms"
                                                    for n, t in times.items()))
            finally:
                for s in servers.values():
                    s.stop()
        rows = []
        for name in names:
            t = times[name]
            rows.append({"version": f"{name}: {getattr(args, name)} ({commits[name][:9]})", "catalog": sizes[name],
                         "requests": len(t), "p50 ms": round(percentile(t, 50), 1),
                         "p95 ms": round(percentile(t, 95), 1), "p99 ms": round(percentile(t, 99), 1)})
        b, a = rows
        rows.append({"version": "**after / before**", "p50 ms": f"{a['p50 ms'] / b['p50 ms']:.2f}x",
                     "p95 ms": f"{a['p95 ms'] / b['p95 ms']:.2f}x", "p99 ms": f"{a['p99 ms'] / b['p99 ms']:.2f}x"})
        head = (f"`python -m bench.ab --before {args.before} --after {args.after} --searches {args.searches} "
                f"--passes {args.passes} --catalog {args.catalog}` — "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}, load average "
                f"{load_average()} at the end; GET /v1/search (record on, k=10), gunicorn {args.workers} workers x "
                f"{args.threads} threads each, one client each, requests alternating")
        return "\n".join([head, "", table(rows, ["version", "catalog", "requests", "p50 ms", "p95 ms", "p99 ms"])])
    finally:
        for tree in trees.values():
            drop_worktree(tree)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="git revision (e.g. 5b913dc^)")
    parser.add_argument("--after", required=True, help="git revision (e.g. main, HEAD)")
    parser.add_argument("--searches", type=int, default=300, help="distinct queries per pass")
    parser.add_argument("--passes", type=int, default=2, help="passes, each with a fresh pair of servers")
    parser.add_argument("--catalog", choices=("after", "before", "own"), default="after",
                        help="whose data/ both versions serve (after, before), or each its own (own)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)

    def log(m: str) -> None:
        print(f"[ab {time.strftime('%H:%M:%S')}] {m}", file=sys.stderr, flush=True)

    print(run(args, log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
