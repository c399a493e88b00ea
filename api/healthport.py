"""`/healthz` and `/readyz` on a port of their own, answered by a thread of their own in every worker.

A gthread worker answers requests from a fixed pool of threads; requests that hold every thread (slow or
hostile ones) used to leave `/healthz` waiting in the queue behind them, so a load balancer took a busy
host for a dead one (issue 26: four `/compare/` requests held a 1-worker, 4-thread server for minutes).
With `MATCHGRAPH_HEALTH_BIND` set (e.g. `0.0.0.0:8001`), every worker also listens there (SO_REUSEPORT:
the kernel spreads the checks over the workers) and answers the two health paths from a small thread
pool of its own, whatever the request threads are doing. Every other path answers 404 there.
"""

from __future__ import annotations

import json
import logging
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

log = logging.getLogger(__name__)
HEALTH_PATHS = ("/healthz", "/readyz")


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    allow_reuse_port = True  # one port for every worker of the host


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass


def health_only(app: Any) -> Any:
    """A WSGI app that passes the health paths to `app` and answers 404 (JSON) for everything else."""

    def wsgi(environ: dict, start_response: Any) -> Any:
        if environ.get("PATH_INFO") in HEALTH_PATHS and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return app(environ, start_response)
        body = json.dumps({"error": {"code": "not_found", "message": "this port answers /healthz and /readyz",
                                     "field": None}}).encode()
        start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return wsgi


def serve(app: Any, bind: str) -> WSGIServer:
    """Start answering the health paths of `app` on `bind` ("host:port") from a daemon thread."""
    host, _, port = bind.rpartition(":")
    server = make_server(host or "0.0.0.0", int(port), health_only(app), server_class=_Server,
                         handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="health-listener", daemon=True).start()
    return server


def post_worker_init(worker: Any) -> None:
    """gunicorn hook (gunicorn.conf.py, `python -m api serve`): the worker's app is loaded; start its listener."""
    app = worker.wsgi
    settings = getattr(app, "extensions", {}).get("matchgraph.settings")
    bind = getattr(settings, "health_bind", "")
    if bind:
        serve(app, bind)
        log.info("worker %s answers /healthz and /readyz on %s too", worker.pid, bind)
