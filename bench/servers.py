"""The processes benchmarks and tests start: a redis-server of their own, gunicorn as the Procfile runs it,
and `python -m api serve` as a newcomer runs it; each written once here.

Why one place: the same start-and-wait loops had been written in several test files and benchmarks, each
with its own idea of which environment a server gets. Here a server's product settings are a
`graph.settings.Settings` (loaded through the settings table, never read from `os.environ` by hand) turned
into variables by `server_environ`, on top of this process's environment with every product variable
removed; anything else a child needs (e.g. `OMP_NUM_THREADS`) is passed as `extra`.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graph.settings import SETTINGS, Settings

ROOT = Path(__file__).resolve().parent.parent
BENCH_RATE_LIMIT = "10000000/minute;1000000/second"  # every bench client shares one IP: limits out of the way
PRODUCT_VARS = frozenset(var for s in SETTINGS for var in s.env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (held together while chosen, so none repeats)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def server_environ(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server process: ours without any product setting, then `settings` (every
    value not at its default), then `extra`, which must not hold product settings (pass those in
    `settings`, where they are validated)."""
    bad = sorted(PRODUCT_VARS & set(extra or {}))
    if bad:
        raise ValueError(f"product settings go in `settings`, not `extra`: {', '.join(bad)}")
    env = {k: v for k, v in os.environ.items() if k not in PRODUCT_VARS}
    env.update(settings.environ())
    env.update(extra or {})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


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


def _stop_group(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM to the session we started (a server and its workers), SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


# --- redis-server ----------------------------------------------------------------------------------------
class RedisServer:
    """redis-server on a spare loopback port in `workdir`. With `aof` (the default) every write is fsync'd
    before it is acknowledged, so SIGKILL loses nothing acknowledged; `extra` are more redis-server
    arguments (e.g. the cluster options)."""

    def __init__(self, workdir: Path, port: int | None = None, *extra: str, aof: bool = True) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra, self.aof = extra, aof
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def spawn(self) -> subprocess.Popen:
        """Start the process without waiting for it (a cluster node answers PING before it has slots)."""
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
             "--save", "", *persistence, "--daemonize", "no", "--logfile", str(self.workdir / "redis.log"),
             *self.extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self.proc

    def start(self, timeout: float = 10.0) -> RedisServer:
        import redis

        proc = self.spawn()
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return self
                except redis.RedisError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server on {self.port} did not start; see {self.workdir}") \
                            from None
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown save, connections reset mid-command."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


# --- the API server ----------------------------------------------------------------------------------------
class _Server:
    """A server process in its own session on a loopback port, its output in `log_path`."""

    port: int
    proc: subprocess.Popen
    log_path: Path
    workers = 1

    def _spawn(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        self.ready_pids: set[int] = set()
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 900.0) -> float:
        """Seconds from spawn until every worker has answered /readyz 200 (fresh connections land on
        whichever worker accepts first, so poll until each worker pid has been seen ready)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not ready after {timeout:.0f}s: {self.tail()}")
            try:
                status, body = call(self.port, "GET", "/readyz")
            except OSError:
                status, body = 0, {}
            if status == 200:
                self.ready_pids.add(int(body["checks"]["pid"]))
                if len(self.ready_pids) >= self.workers and self._all_seen():
                    return time.perf_counter() - self.started
            else:
                time.sleep(0.25)

    def _all_seen(self) -> bool:
        return True

    def tail(self, chars: int = 1500) -> str:
        """The end of the server's log, without the access lines of our own /readyz polls."""
        self.log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if '"GET /readyz' not in line)[-chars:]

    def stop(self) -> None:
        _stop_group(self.proc)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Gunicorn(_Server):
    """gunicorn as the Procfile runs it (gthread workers), on a free loopback port, over `data_dir`, with
    rate limits raised out of the way and the bench's ONNX export; `settings` (Settings field names) win
    over those and over this process's environment. Its output goes to `log_path` (default: beside the
    data dir)."""

    def __init__(self, data_dir: Path, *, store: str = "", workers: int = 2, threads: int = 4,
                 settings: Mapping[str, Any] | None = None, extra_env: Mapping[str, str] | None = None,
                 app: str = "api.app:create_app()", log_path: Path | None = None, timeout: int = 300,
                 port: int | None = None) -> None:
        from bench.common import ensure_onnx_export

        self.data_dir, self.workers, self.port = data_dir, workers, port or free_port()
        self.log_path = log_path or data_dir.parent / f"gunicorn-{self.port}.log"
        ours = Settings.load(defaults={"onnx_dir": ensure_onnx_export()})  # as a restarted server finds it
        config = ours.replace(**{"data_dir": data_dir, "store_url": store, "bootstrap": False,
                                 "rate_limit": BENCH_RATE_LIMIT, "feedback_rate_limit": BENCH_RATE_LIMIT,
                                 "log_level": "WARNING", **(settings or {})})
        self._spawn([sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
                     "--threads", str(threads), "--bind", f"127.0.0.1:{self.port}", "--timeout", str(timeout),
                     "--graceful-timeout", "10", app], server_environ(config, extra_env), ROOT)

    def _all_seen(self) -> bool:
        return set(children(self.proc.pid)) <= self.ready_pids

    def worker_rss(self) -> list[int]:
        return [rss_bytes(p) for p in children(self.proc.pid)]


class ApiServe(_Server):
    """`python -m api serve` as the README runs it, on a free loopback port; `settings` are Settings field
    names (`data_dir` among them: it is passed as `--data-dir`); `clean` leaves this process's product
    settings out (a first start as a newcomer makes it)."""

    def __init__(self, log_path: Path, *, settings: Mapping[str, Any] | None = None, cwd: Path = ROOT,
                 clean: bool = False, extra_env: Mapping[str, str] | None = None, port: int | None = None) -> None:
        self.port, self.log_path = port or free_port(), log_path
        config = (Settings.load({}) if clean else Settings.load()).replace(**(settings or {}))
        argv = [sys.executable, "-m", "api", "serve", "--port", str(self.port)]
        if config.source("data_dir") == "flag":
            argv += ["--data-dir", str(config.data_dir)]
        self._spawn(argv, server_environ(config, extra_env), cwd)
