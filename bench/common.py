"""Shared pieces of the benchmarks: dev sets, metrics, an engine over the bundled catalog, gunicorn."""

from __future__ import annotations

import functools
import http.client
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVSETS = Path(__file__).resolve().parent / "devsets"
WORK = Path(os.environ.get("MATCHGRAPH_BENCH_DIR", ROOT / "bench" / "out"))


def load_devset(name: str) -> list[dict]:
    """Rows {"query", "gold"} of bench/devsets/<name>.jsonl (made by data/convert_gorilla.py)."""
    path = DEVSETS / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def split(rows: list[dict], train: float = 0.8, seed: int = 13) -> tuple[list[dict], list[dict]]:
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    cut = int(len(shuffled) * train)
    return shuffled[:cut], shuffled[cut:]


def metrics(ranked: Sequence[Sequence[str]], gold: Sequence[str]) -> dict[str, float]:
    """R@1, R@5, R@10 and MRR@10 of ranked id lists against one gold id each."""
    n = len(gold) or 1
    r1 = sum(1 for r, g in zip(ranked, gold, strict=True) if r[:1] == [g]) / n
    r5 = sum(1 for r, g in zip(ranked, gold, strict=True) if g in r[:5]) / n
    r10 = sum(1 for r, g in zip(ranked, gold, strict=True) if g in r[:10]) / n
    mrr = sum(1 / (list(r[:10]).index(g) + 1) for r, g in zip(ranked, gold, strict=True) if g in r[:10]) / n
    return {"R@1": round(r1, 4), "R@5": round(r5, 4), "R@10": round(r10, 4), "MRR@10": round(mrr, 4)}


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


# The catalog before issue 13: the Gorilla APIBench files and the two seed records (data/*.jsonl; the
# sources added since live in data/catalog/).
GORILLA_SUBSET = tuple(sorted((ROOT / "data").glob("*.jsonl")))


def bundled_engine(data_dir: Path | None = None, paths: Sequence[Path] | None = None, **overrides):
    """An engine over the bundled catalog (or `paths`) in its own data dir (ingested once, then reused)."""
    from graph.settings import Settings
    from search.engine import Engine

    data_dir = data_dir or WORK / "catalog"
    engine = Engine(Settings.load(data_dir=data_dir, store_url="", **overrides))
    if not engine.artifacts:
        engine.ingest(list(paths) if paths else [ROOT / "data"], progress=True)
    return engine


def table(rows: list[dict], columns: Sequence[str]) -> str:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(out)


# --- the server under test ---------------------------------------------------------------------------

BENCH_RATE_LIMIT = "10000000/minute;1000000/second"  # every bench client shares one IP: limits out of the way


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return sorted(out)


def call(port: int, method: str, path: str, body: dict | list | None = None,
         conn: http.client.HTTPConnection | None = None) -> tuple[int, dict]:
    """One request; a fresh connection (closed afterwards) unless `conn` is given (kept alive)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"} if body is not None else {})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        if own:
            conn.close()
    try:
        return resp.status, json.loads(raw) if raw else {}
    except ValueError:
        return resp.status, {}


@functools.cache
def ensure_onnx_export() -> Path:
    """The bench's shared ONNX export dir, exported once: servers then start the way a restart does."""
    from search.embedder import Embedder

    folder = Path(os.environ.get("MATCHGRAPH_ONNX_DIR") or WORK / "onnx")
    Embedder(onnx_dir=folder)  # checks the export, or writes it
    return folder


class Gunicorn:
    """gunicorn as the Procfile runs it (gthread workers), on a free loopback port, over `data_dir`, with
    rate limits raised out of the way; its output goes to `log_path` (default: beside the data dir)."""

    def __init__(self, data_dir: Path, *, store: str = "", workers: int = 2, threads: int = 4,
                 env: dict | None = None, app: str = "api.app:create_app()", log_path: Path | None = None,
                 timeout: int = 300) -> None:
        self.data_dir, self.workers, self.port = data_dir, workers, free_port()
        self.log_path = log_path or data_dir.parent / f"gunicorn-{self.port}.log"
        full_env = dict(os.environ, MATCHGRAPH_DATA_DIR=str(data_dir), MATCHGRAPH_STORE=store,
                        MATCHGRAPH_BOOTSTRAP="0", MATCHGRAPH_RATE_LIMIT=BENCH_RATE_LIMIT,
                        MATCHGRAPH_FEEDBACK_RATE_LIMIT=BENCH_RATE_LIMIT,
                        MATCHGRAPH_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
        full_env.update(env or {})  # the caller's values win (a test may want a real rate limit)
        full_env.pop("REDIS_URL", None)
        full_env.setdefault("MATCHGRAPH_ONNX_DIR", str(ensure_onnx_export()))  # as a restarted server finds it
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
             "--threads", str(threads), "--bind", f"127.0.0.1:{self.port}", "--timeout", str(timeout),
             "--graceful-timeout", "10", app],
            cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 900.0) -> float:
        """Seconds from spawn until every worker has answered /readyz 200 (fresh connections land on
        whichever worker accepts first, so poll until each worker pid has been seen ready)."""
        deadline = time.monotonic() + timeout
        ready: set[int] = set()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"gunicorn not ready after {timeout:.0f}s: {self.tail()}")
            try:
                status, body = call(self.port, "GET", "/readyz")
            except OSError:
                status, body = 0, {}
            if status == 200:
                ready.add(int(body["checks"]["pid"]))
                if len(ready) >= self.workers and set(children(self.proc.pid)) <= ready:
                    return time.perf_counter() - self.started
            else:
                time.sleep(0.05)

    def worker_rss(self) -> list[int]:
        return [rss_bytes(p) for p in children(self.proc.pid)]

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-1500:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()
