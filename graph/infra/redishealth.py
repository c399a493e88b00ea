"""Every Redis client of the process is made here (`make_client`): one circuit breaker per server, shared
by all of them, and connection pools whose locks survive fork().

Why: the match store, the catalog feed, the query-vector cache and the rate limiter all talk to the same
Redis. When it hangs (SIGSTOP, a stuck fork, a network partition that drops packets), each of them used
to find out on its own, on a request thread, by waiting out its own socket timeout; one request could
wait for two or three timeouts in a row, and the rate limiter probed the server again on request
threads. Now the first timeout or connection error on any connection to a server opens that server's
circuit: every client's next command fails at once (`CircuitOpen`, a ConnectionError, so each client
takes its usual fallback: the spool, the model, in-memory limits), and one daemon thread per server
pings it every `PROBE_S` until it answers, then closes the circuit. A request in flight when the server
froze still waits out its own socket timeout; nothing else does.

The breaker sits in the connection (`client_options()` gives redis-py a `connection_class`), so it covers
every command of every client without each of them knowing. A reply of any kind, even an error (a wrong
password included), means the server answers: only timeouts and connection failures open the circuit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.connection import Connection, ConnectionPool, SSLConnection
from redis.exceptions import AuthenticationError, AuthorizationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from graph.infra.forksafe import reset_after_fork

log = logging.getLogger(__name__)

PROBE_S = 0.25  # while a server's circuit is open, its prober pings it this often
PROBE_TIMEOUT_S = 0.5  # how long one ping may take
_FAILURES = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)
# ConnectionError subclasses that are the server answering (a wrong password, a missing ACL permission):
# the clients' own error handling reports them; they never open the circuit.
_ANSWERS = (AuthenticationError, AuthorizationError, ResponseError)


class CircuitOpen(RedisConnectionError):
    """The server did not answer a moment ago: the command was not sent (a prober is checking it)."""


class Circuit:
    """Open or closed for one (host, port); see the module docstring."""

    def __init__(self, host: str, port: int, probe_class: type[Connection], probe_kwargs: dict[str, Any]) -> None:
        self.host, self.port = host, port
        self.probe_class, self.probe_kwargs = probe_class, probe_kwargs
        self.reason = ""
        self.opened = 0  # times this circuit opened (for tests and /metrics readers)
        self._open = False
        self._lock = threading.Lock()
        self._prober: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        return self._open

    def check(self) -> None:
        """Raise CircuitOpen while the server is known not to answer."""
        if self._open:
            raise CircuitOpen(f"Redis {self.host}:{self.port} is not answering ({self.reason}); retrying in the "
                              "background")

    def trip(self, exc: BaseException) -> None:
        if isinstance(exc, _ANSWERS):
            return
        with self._lock:
            if self._open:
                return
            self._open, self.reason = True, f"{type(exc).__name__}: {exc}"
            self.opened += 1
            log.warning("Redis %s:%s did not answer (%s): its clients skip it until a background ping succeeds",
                        self.host, self.port, self.reason)
            self._prober = threading.Thread(target=self._probe_loop, name=f"redis-probe-{self.port}", daemon=True)
            self._prober.start()

    def _answers(self) -> bool:
        conn = self.probe_class(**self.probe_kwargs)
        try:
            conn.connect()
            conn.send_command("PING")
            conn.read_response()
            return True
        except _ANSWERS:
            return True  # it answered (NOAUTH, LOADING, ...): the clients' own error handling takes it from here
        except Exception:
            return False
        finally:
            conn.disconnect()

    def _probe_loop(self) -> None:
        while True:
            time.sleep(PROBE_S)
            if self._answers():
                with self._lock:
                    self._open = False
                    self._prober = None
                log.warning("Redis %s:%s answers again", self.host, self.port)
                return


_circuits: dict[tuple[str, int], Circuit] = {}
_registry_lock = threading.Lock()


def circuit(host: str, port: int, probe_class: type[Connection] = Connection,
            probe_kwargs: dict[str, Any] | None = None) -> Circuit:
    """The circuit of a server in this process (created closed on first use)."""
    key = (host, int(port))
    found = _circuits.get(key)
    if found is None:
        with _registry_lock:
            found = _circuits.get(key)
            if found is None:
                found = _circuits[key] = Circuit(host, int(port), probe_class, dict(probe_kwargs or {}))
    return found


def _reset_after_fork() -> None:
    """A forked child starts with closed circuits and fresh locks (its parent's prober did not follow it)."""
    global _registry_lock
    _registry_lock = threading.Lock()
    _circuits.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


class _Guarded:
    """Mixin for a redis-py Connection: refuse to send while the server's circuit is open, open it on a
    timeout or connection failure."""

    _probe_class: type[Connection] = Connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        # the prober connects like this connection, minus retries and cluster hooks, with a short timeout
        probe = {k: v for k, v in kwargs.items() if k not in ("retry", "redis_connect_func")}
        probe["socket_timeout"] = probe["socket_connect_timeout"] = PROBE_TIMEOUT_S
        self._mg_probe_kwargs = probe

    def _circuit(self) -> Circuit:
        return circuit(self.host, self.port, self._probe_class, self._mg_probe_kwargs)  # type: ignore[attr-defined]

    def connect(self) -> None:
        c = self._circuit()
        c.check()
        try:
            super().connect()  # type: ignore[misc]
        except _FAILURES as exc:
            c.trip(exc)
            raise

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        c = self._circuit()
        c.check()
        try:
            super().send_packed_command(command, check_health)  # type: ignore[misc]
        except _FAILURES as exc:
            c.trip(exc)
            raise

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except _FAILURES as exc:
            self._circuit().trip(exc)
            raise


class GuardedConnection(_Guarded, Connection):
    _probe_class = Connection


class GuardedSSLConnection(_Guarded, SSLConnection):
    _probe_class = SSLConnection


class ForkSafePool(ConnectionPool):
    """A ConnectionPool whose locks are fresh in a forked child (graph/infra/forksafe.py). redis-py's first use of a
    pool in a child runs `reset()`, which takes `_lock`: held by another thread of the parent at the instant
    of the fork, the child waited forever (seen: a writer process stuck in `ConnectionPool.reset`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reset_after_fork(self, "_lock", "_fork_lock")


def make_client(conn_url: str, cluster: bool = False, **options: Any) -> Any:
    """A redis-py client (Cluster or not) whose connections share the circuit of their server and whose
    locks survive fork(). `graph.infra.redisurl.RedisURL.client` is the way in."""
    options = {**client_options(conn_url), **options}
    if cluster:
        client = RedisCluster.from_url(conn_url, connection_pool_class=ForkSafePool, **options)
        reset_after_fork(client, "_lock")
        reset_after_fork(client.nodes_manager, "_lock", "_initialization_lock")
        return client
    single = options.pop("single_connection_client", False)
    client = redis.Redis(connection_pool=ForkSafePool.from_url(conn_url, **options),
                         single_connection_client=single)
    client.auto_close_connection_pool = True
    return client


def fail_fast(timeout_s: float = 0.5, connect_timeout_s: float | None = None, *, retry_dropped: bool = False,
              cluster: bool = False) -> dict[str, Any]:
    """redis-py keyword arguments every client of ours uses: short socket timeouts, and no retry of a
    timeout (a hung Redis costs a request one timeout; the caller's fallback takes over). With
    `retry_dropped` (the match store) a dropped connection is retried once after a few ms; otherwise
    nothing is retried (Cluster clients keep their own retry: redis-py routes it per node)."""
    from redis.backoff import ExponentialBackoff, NoBackoff
    from redis.retry import Retry

    options: dict[str, Any] = {"socket_timeout": float(timeout_s),
                               "socket_connect_timeout": float(connect_timeout_s or timeout_s)}
    if retry_dropped:
        options["retry"] = Retry(ExponentialBackoff(cap=0.05, base=0.01), 1, supported_errors=(RedisConnectionError,))
    elif not cluster:
        options["retry"] = Retry(NoBackoff(), 0)
    return options


def client_options(conn_url: str) -> dict[str, Any]:
    """redis-py keyword arguments that put the shared circuit breaker under every connection of a client
    made from `conn_url` (redis:// or rediss://; plain or Cluster)."""
    ssl = conn_url.startswith("rediss://")
    return {"connection_class": GuardedSSLConnection if ssl else GuardedConnection}
