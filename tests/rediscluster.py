"""A real Redis Cluster for tests: three masters on loopback ports, created with `redis-server
--cluster-enabled yes` and `redis-cli --cluster create`, in a temp dir (tests/test_cluster.py,
tests/test_multihost.py)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis

MASTERS = 3
def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Cluster:
    """Three masters (no replicas), each with an explicit cluster bus port, in a temp dir."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        ports = free_ports(2 * MASTERS)
        self.ports, self.bus_ports = ports[:MASTERS], ports[MASTERS:]
        self.procs: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> Cluster:
        for port, bus in zip(self.ports, self.bus_ports, strict=True):
            node_dir = self.workdir / str(port)
            node_dir.mkdir(parents=True)
            self.procs.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
                 "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                 "--cluster-port", str(bus), "--cluster-node-timeout", "5000", "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--logfile", str(node_dir / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
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
