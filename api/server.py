"""`python -m api serve`: gunicorn in-process, so the CLI and the Procfile run the same server."""

from __future__ import annotations

import json
from collections.abc import Callable

import gunicorn.util
from flask import Flask
from gunicorn.app.base import BaseApplication

from api.healthport import post_worker_init

# gunicorn's own request-line limit is 4094 bytes; 8190 (its maximum) leaves room for long pasted queries
LIMIT_REQUEST_LINE = 8190
_CODES = {400: "bad_request", 403: "forbidden", 414: "too_long", 417: "expectation_failed",
          431: "headers_too_large", 500: "error", 501: "not_implemented"}
_FIELDS = {414: "URL", 431: "headers"}


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn answers requests it cannot parse (a request line over its limit, bad headers) itself,
    before the app sees them, with an HTML page: this writes the API's JSON error shape instead."""
    message = f"{_FIELDS[status_int]}: {reason.lower()}" if status_int in _FIELDS else reason
    if status_int == 414:
        message += f" (the request line may be at most {LIMIT_REQUEST_LINE} bytes)"
    elif mesg and status_int != 500:
        message += f": {mesg[:200]}"
    body = json.dumps({"error": {"code": _CODES.get(status_int, "error"), "message": message,
                                 "field": _FIELDS.get(status_int)}}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    gunicorn.util.write_nonblock(sock, head + body)


def install_json_errors() -> None:
    """Route gunicorn's error pages through `write_json_error` (in this process and the workers it forks)."""
    gunicorn.util.write_error = write_json_error


class _Server(BaseApplication):
    def __init__(self, factory: Callable[[], Flask], options: dict) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        install_json_errors()

    def load(self) -> Flask:
        """Called in the worker after fork: the model is loaded there, never in the forking parent."""
        return self.factory()


# the opt-in access log: time, method, path without its query (tokens travel there), status, bytes and
# milliseconds; never the client address, User-Agent, Referer or query string (nothing personal at rest)
ACCESS_LOG_FORMAT = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


def run(factory: Callable[[], Flask], host: str = "127.0.0.1", port: int = 8000, threads: int = 16,
        access_log: bool = False) -> None:
    """One worker with threads: the engine loads once and SQLite sees a single writer process. No access
    log unless `access_log` (MATCHGRAPH_ACCESS_LOG=1), and then one without anything personal. With
    MATCHGRAPH_HEALTH_BIND the worker also answers health checks on a port of its own (api/healthport.py)."""
    options = {"bind": f"{host}:{port}", "workers": 1, "worker_class": "gthread", "threads": threads,
               "timeout": 120, "limit_request_line": LIMIT_REQUEST_LINE, "post_worker_init": post_worker_init}
    if access_log:
        options.update(accesslog="-", access_log_format=ACCESS_LOG_FORMAT)
    _Server(factory, options).run()
