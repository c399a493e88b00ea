"""A real Redis Cluster for tests: three masters on loopback ports, created with `redis-server
--cluster-enabled yes` and `redis-cli --cluster create`, in a temp dir (tests/test_cluster.py,
tests/test_multihost.py)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

from bench.servers import RedisServer, free_ports

MASTERS = 3


class Cluster:
    """Three masters (no replicas), each with an explicit cluster bus port, in a temp dir."""

    def __init__(self, workdir: Path, *, appendonly: bool = False) -> None:
        self.workdir = workdir
        ports = free_ports(2 * MASTERS)
        self.ports, self.bus_ports = ports[:MASTERS], ports[MASTERS:]
        self.procs: list[subprocess.Popen] = []
        self.appendonly = appendonly  # AOF with fsync always: a restarted master comes back with its data

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    def _spawn(self, i: int) -> subprocess.Popen:
        port, bus = self.ports[i], self.bus_ports[i]
        node = RedisServer(self.workdir / str(port), port, "--cluster-enabled", "yes", "--cluster-config-file",
                           f"nodes-{port}.conf", "--cluster-port", str(bus), "--cluster-node-timeout", "5000",
                           aof=self.appendonly)
        return node.spawn()

    def kill(self, i: int) -> None:
        """SIGKILL master i (no shutdown: what a crashed machine does)."""
        self.procs[i].kill()
        self.procs[i].wait(10)

    def restart(self, i: int) -> None:
        """Start master i again from its own dir (cluster config and AOF) and wait for cluster_state:ok."""
        self.procs[i] = self._spawn(i)
        for port in self.ports:
            self._wait(lambda port=port: redis.Redis(port=port).cluster("info")["cluster_state"] == "ok",
                       "recover cluster_state:ok", timeout=60)

    def start(self) -> Cluster:
        for i in range(MASTERS):
            self.procs.append(self._spawn(i))
        for port in self.ports:
            self._wait(lambda port=port: redis.Redis(port=port, socket_connect_timeout=0.2).ping(), "start")
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        for port in self.ports:
            self._wait(lambda port=port: redis.Redis(port=port).cluster("info")["cluster_state"] == "ok",
                       "reach cluster_state:ok")
        return self

    def _wait(self, ready, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster did not {what}; logs in {self.workdir}")
            time.sleep(0.1)

    def flush(self) -> None:
        for port in self.ports:
            client = redis.Redis(port=port)
            client.flushall()
            client.close()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
