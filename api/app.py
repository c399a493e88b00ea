"""Application factory: settings read once (graph.settings), blueprints, limits and headers."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, unquote_to_bytes, urlencode, urlsplit, urlunsplit

from flask import Flask, g, request
from flask_cors import CORS
from flask_limiter import Limiter
from limits.storage import MemoryStorage

from api import errors, jsonprovider, metrics, proxies
from api.bodies import BodyDeadline
from api.spec import spec
from api.state import EngineHolder, release_engine
from api.v1_admin import ADMIN_ENDPOINTS
from graph.infra import ratelimits, redishealth
from graph.settings import REDIS_SCHEMES, Settings
from search.engine import Engine, load_user_secret

CACHEABLE = {"artifacts.list_artifacts", "artifacts.get_artifact", "artifacts.similar", "artifacts.compare",
             "analytics.top", "analytics.timeline", "analytics.queries", "analytics.summary", "ops.openapi",
             "search.suggest"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",  # browsers without CSP frame-ancestors: no framing of the vote buttons
}
FRAMED_ENDPOINTS = {"pages.widget_similar"}  # the embeddable widget (api/pages.py): any page may frame it


class _SweepingMemoryStorage(MemoryStorage):
    """limits' memory storage, sweeping expired windows once a second instead of starting a timer thread
    10 ms after every request: each request then paid for a new thread (measured: ~10% of a search's
    time in process). Expired windows are still ignored on read (`get` checks the expiry)."""

    STORAGE_SCHEME = ["matchgraph-memory"]

    def _MemoryStorage__schedule_expiry(self) -> None:  # overrides the name-mangled private method
        if not self.timer.is_alive():
            self.timer = threading.Timer(1.0, self._MemoryStorage__expire_events)
            self.timer.daemon = True
            self.timer.start()


def limiter_storage(uri: str) -> tuple[str, dict]:
    """Flask-Limiter storage URI and options: the store URL minus our own `prefix` parameter, with
    short timeouts and no retries so a dead Redis costs a request milliseconds (then the fallback)."""
    if uri == "memory://":
        return "matchgraph-memory://", {}
    if not uri.startswith(REDIS_SCHEMES):
        return uri, {}
    parts = urlsplit(uri)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "prefix"])
    cluster = "+cluster" in parts.scheme
    options = redishealth.fail_fast(0.5, cluster=cluster)
    if not cluster:  # (limits builds Cluster nodes without a connection class option)
        options.update(redishealth.client_options(uri))  # the store's circuit breaker: one timeout, then skip
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")), options


def _client_key(settings: Settings, engine: Engine | None):
    """The rate limiter's key of a client: a keyed hash of its address (the same on every worker and host
    sharing the user secret), so the limiter's storage never holds a raw address."""
    data_dir = Path(engine.config.data_dir if engine else settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = load_user_secret(settings.user_secret, data_dir)

    def key() -> str:
        address = (request.remote_addr or "").encode("utf-8")
        return "c" + hmac.new(secret, b"limit\x1f" + address, hashlib.sha256).hexdigest()[:24]

    return key


def create_app(data_dir: str | None = None, *, engine: Engine | None = None, bootstrap: bool | None = None,
               config: Settings | None = None, **flask_config: object) -> Flask:
    """Build the app. Settings: `config`, else read here, once, from the environment (a bad value raises
    `SettingsError` naming the variable). With no `engine`, one is loaded in the background (see /readyz);
    a given `engine` keeps the settings it was built with."""
    settings = config or Settings.load(data_dir=data_dir or (engine.config.data_dir if engine else None))
    app = Flask(__name__)
    jsonprovider.install(app)  # orjson for every JSON response (api/jsonprovider.py)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body,
        RATELIMIT_DEFAULT=settings.rate_limit,
        FEEDBACK_RATE_LIMIT=settings.feedback_rate_limit,
        RATELIMIT_HEADERS_ENABLED=True,
        CORS_ORIGINS=settings.cors_origins,
        JSON_SORT_KEYS=False,
    )
    app.config.update(flask_config)
    app.wsgi_app = BodyDeadline(app.wsgi_app, settings.body_timeout_s, settings.max_body)  # slow bodies: 408
    # outermost: every layer sees the client a trusted proxy forwarded for (api/proxies.py), never a header
    # from anybody else
    app.wsgi_app = proxies.TrustedProxies(app.wsgi_app, proxies.parse_trusted(settings.trusted_proxies),
                                          settings.forwarded_header)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    holder = EngineHolder(settings, engine)
    app.extensions["matchgraph"] = holder
    app.extensions["matchgraph.settings"] = settings
    if engine is None:
        holder.start(bootstrap if bootstrap is not None else settings.bootstrap)

    errors.register(app)
    _timed(app)  # first: the request's timer starts before the rate limiter's check and stops after every hook
    store_url = (engine.config if engine else settings).store_url
    storage, storage_options = limiter_storage(
        settings.ratelimit_storage or (store_url if store_url.startswith(REDIS_SCHEMES)
                                       else ratelimits.storage_uri((engine.config if engine else settings).data_dir)))
    # swallow_errors + in-memory fallback: a Redis outage degrades limits to per-process, never to 500s
    limiter = Limiter(_client_key(settings, engine), app=app, storage_uri=storage, storage_options=storage_options,
                      default_limits=[app.config["RATELIMIT_DEFAULT"]], swallow_errors=True,
                      in_memory_fallback_enabled=True, enabled=app.config.get("RATELIMIT_ENABLED", True))
    app.extensions["limiter_obj"] = limiter

    @app.after_request
    def _no_cors_for_admin(resp):
        """Admin routes never get CORS headers: neither their responses nor a preflight that asks for a
        write method or targets the batch route (the artifact path is shared with the public GET).
        Registered before CORS, so it runs after it."""
        asked = request.headers.get("Access-Control-Request-Method", "").upper()
        if request.endpoint in ADMIN_ENDPOINTS or request.path.startswith("/v1/artifacts:") or (
                request.method == "OPTIONS" and asked in ("PUT", "DELETE", "PATCH")):
            for key in [k for k in resp.headers.keys() if k.lower().startswith("access-control-")]:
                del resp.headers[key]
        return resp

    # CORS for reads and feedback only: no page on another origin may ever be let to write the catalog
    CORS(app, resources={r"/v1/*": {"origins": app.config["CORS_ORIGINS"].split(",")},
                         r"/widget/*": {"origins": "*"}}, methods=["GET", "HEAD", "POST", "OPTIONS"])

    from api import ops, pages, v1_admin, v1_analytics, v1_artifacts, v1_search

    for module in (ops, v1_search, v1_artifacts, v1_analytics, v1_admin, pages):
        app.register_blueprint(module.bp)
    limiter.exempt(ops.bp)
    # a feedback batch is one request against the default limits and, on top, costs one unit per event
    # against FEEDBACK_RATE_LIMIT: batching saves per-request overhead without multiplying what one client
    # may send (wrapped here, not decorated in the blueprint, because the limiter belongs to this app)
    batch = "search.feedback_batch"
    app.view_functions[batch] = limiter.limit(app.config["FEEDBACK_RATE_LIMIT"], cost=v1_search.batch_cost,
                                              override_defaults=False)(app.view_functions[batch])
    spec.register(app)

    _request_hooks(app)
    return app


def _timed(app: Flask) -> None:
    """The request count and latency metrics, registered before every other hook: before-request hooks run in
    the order they were registered and after-request hooks in reverse, so the timer also covers the rate
    limiter's check and the CORS and rate-limit headers (issue 32: every millisecond of a request named)."""
    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(resp):
        endpoint = request.endpoint or "unknown"
        metrics.REQUESTS.labels(endpoint, str(resp.status_code)).inc()
        if hasattr(g, "started"):
            metrics.LATENCY.labels(endpoint).observe(time.perf_counter() - g.started)
        return resp


def _request_hooks(app: Flask) -> None:
    """Per-request hooks: URL and body checks, security and cache headers, the engine's pinned view released."""
    @app.teardown_request
    def _release_engine(_exc: BaseException | None) -> None:
        """The request's pinned catalog view (api/state.py `engine()`) is released with the request."""
        release_engine()

    @app.before_request
    def _utf8_urls_only() -> None:
        """Percent-escapes in the path or query string must decode to UTF-8 (werkzeug would quietly keep
        or replace bad bytes): a clear 400 instead of a search recorded for mojibake."""
        raw_path = (request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or "").split("?", 1)[0]
        try:
            for path in (raw_path, request.environ.get("PATH_INFO", "")):
                unquote_to_bytes(path.encode("latin-1")).decode("utf-8")
            unquote_to_bytes(request.query_string.replace(b"+", b" ")).decode("utf-8")
        except UnicodeError:
            raise errors.ApiError(400, "URL: path or query string is not valid UTF-8", None) from None

    @app.before_request
    def _json_bodies_only() -> None:
        """Writes under /v1 take JSON: any other media type is a clear 415 (spectree would hand the view
        no body at all for a form or multipart upload)."""
        if request.method in ("POST", "PUT", "PATCH") and request.path.startswith("/v1/") \
                and request.routing_exception is None and request.mimetype != "application/json":  # 404/405 first
            raise errors.ApiError(415, "Content-Type: must be application/json", "Content-Type")

    @app.after_request
    def _finish(resp):
        endpoint = request.endpoint or "unknown"
        for key, value in SECURITY_HEADERS.items():
            if endpoint not in FRAMED_ENDPOINTS or key != "X-Frame-Options":  # the widget sets its own CSP
                resp.headers.setdefault(key, value)
        if request.method == "GET" and endpoint in CACHEABLE and resp.status_code == 200:
            resp.headers.setdefault("Cache-Control", "public, max-age=15")
            resp.add_etag()
            resp.make_conditional(request)
        return resp
