"""Application factory: configuration from the environment, blueprints, limits and headers."""

from __future__ import annotations

import logging
import os
import time

from flask import Flask, g, request
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from api import errors, metrics
from api.spec import spec
from api.state import EngineHolder
from search.config import Config
from search.engine import Engine

CACHEABLE = {"artifacts.list_artifacts", "artifacts.get_artifact", "artifacts.similar", "artifacts.compare",
             "analytics.top", "analytics.timeline", "analytics.queries", "analytics.summary", "ops.openapi"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors *",
}


def create_app(data_dir: str | None = None, *, engine: Engine | None = None, bootstrap: bool | None = None,
               config: Config | None = None, **settings: object) -> Flask:
    """Build the app. With no `engine`, one is loaded in the background (see /readyz)."""
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=int(os.environ.get("MATCHGRAPH_MAX_BODY", 1024 * 1024)),
        RATELIMIT_DEFAULT=os.environ.get("MATCHGRAPH_RATE_LIMIT", "1200/minute;100/second"),
        RATELIMIT_HEADERS_ENABLED=True,
        CORS_ORIGINS=os.environ.get("MATCHGRAPH_CORS_ORIGINS", "*"),
        JSON_SORT_KEYS=False,
    )
    app.config.update(settings)
    logging.basicConfig(level=os.environ.get("MATCHGRAPH_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = config or (engine.config if engine else Config.from_env(data_dir=data_dir))
    holder = EngineHolder(cfg, engine)
    app.extensions["matchgraph"] = holder
    if engine is None:
        holder.start(bootstrap if bootstrap is not None else os.environ.get("MATCHGRAPH_BOOTSTRAP", "1") == "1")

    errors.register(app)
    storage = os.environ.get("MATCHGRAPH_RATELIMIT_STORAGE") or (
        cfg.store_url if cfg.store_url.startswith("redis") else "memory://")
    limiter = Limiter(get_remote_address, app=app, storage_uri=storage,
                      default_limits=[app.config["RATELIMIT_DEFAULT"]], swallow_errors=True,
                      enabled=app.config.get("RATELIMIT_ENABLED", True))
    app.extensions["limiter_obj"] = limiter
    CORS(app, resources={r"/v1/*": {"origins": app.config["CORS_ORIGINS"].split(",")},
                         r"/widget/*": {"origins": "*"}})

    from api import ops, pages, v1_admin, v1_analytics, v1_artifacts, v1_search

    for module in (ops, v1_search, v1_artifacts, v1_analytics, v1_admin, pages):
        app.register_blueprint(module.bp)
    limiter.exempt(ops.bp)
    spec.register(app)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _finish(resp):
        endpoint = request.endpoint or "unknown"
        metrics.REQUESTS.labels(endpoint, str(resp.status_code)).inc()
        if hasattr(g, "started"):
            metrics.LATENCY.labels(endpoint).observe(time.perf_counter() - g.started)
        for key, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(key, value)
        if request.method == "GET" and endpoint in CACHEABLE and resp.status_code == 200:
            resp.headers.setdefault("Cache-Control", "public, max-age=15")
            resp.add_etag()
            resp.make_conditional(request)
        return resp

    return app
