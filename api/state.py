"""Access to the engine from request handlers, with loading in the background."""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from flask import current_app, request

from api.errors import ApiError
from graph.settings import Settings
from search.engine import Engine, RefusedBootstrap, Who

log = logging.getLogger(__name__)
BUNDLED = Path(__file__).resolve().parent.parent / "data"


LOAD_RETRY_FIRST_S = 1.0
LOAD_RETRY_MAX_S = 30.0
EXIT_JOIN_S = 60.0  # at interpreter exit, how long to wait for a holder's threads (a load in progress)
_HOLDERS: weakref.WeakSet[EngineHolder] = weakref.WeakSet()


@atexit.register
def _join_background_threads() -> None:
    """Stop every holder and let its threads finish before the interpreter finalizes. A daemon thread
    still inside native code then (ONNX Runtime creating a session while the engine loads) is killed
    when it next takes the GIL, by an unwind through C++ frames that aborts the whole process
    ("terminate called without an active exception", exit status 134): seen when a test run or a
    worker ended while an engine was still loading."""
    deadline = time.monotonic() + EXIT_JOIN_S
    for holder in list(_HOLDERS):
        holder.stop()
    for holder in list(_HOLDERS):
        for thread in holder.threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class EngineHolder:
    """Owns the engine; `/readyz` answers 503 until `ready`."""

    def __init__(self, config: Settings, engine: Engine | None = None) -> None:
        self.config = config
        self.engine = engine
        self.error: str | None = None
        self.ready = threading.Event()
        self.stopped = threading.Event()  # set by `stop()`: the loader gives up retrying, the loops end
        self.threads: list[threading.Thread] = []  # joined at interpreter exit (_join_background_threads)
        if engine is not None:
            self.ready.set()

    def stop(self) -> None:
        """Stop retrying a load that keeps failing and end the background loops (app teardown, exit)."""
        self.stopped.set()

    def start(self, bootstrap: bool) -> None:
        self._thread(self._load, "engine-loader", bootstrap)

    def _thread(self, target: Callable[..., None], name: str, *args: object) -> None:
        """A daemon thread that exit joins (`_join_background_threads`)."""
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self.threads.append(thread)
        _HOLDERS.add(self)
        thread.start()

    def _load(self, bootstrap: bool) -> None:
        """Load until it works: a worker whose first try hit a passing fault (a file another worker held,
        Redis restarting) must not stay unready for its whole life. /readyz shows the last error."""
        delay = LOAD_RETRY_FIRST_S
        while True:
            try:
                engine = Engine(self.config)
                if bootstrap:
                    bootstrap_catalog(engine, progress=True)
                break
            except Exception as exc:  # reported by /readyz
                log.exception("engine failed to load; trying again in %.0f s", delay)
                self.error = f"{type(exc).__name__}: {exc}"
                if self.stopped.wait(delay):
                    return
                delay = min(delay * 2, LOAD_RETRY_MAX_S)
        self.engine, self.error = engine, None
        self.ready.set()
        if self.config.recompute_every > 0:
            self._thread(self._recompute_loop, "recompute")
        if self.config.ranker_every > 0:
            self._thread(self._ranker_loop, "ranker")
        if engine.follows_feed and self.config.catalog_poll_s > 0:
            self._thread(self._follow_loop, "catalog-follow")
        log.info("engine ready: %d artifacts, %d capabilities", len(engine.artifacts), len(engine.capabilities))

    def _recompute_loop(self) -> None:
        """Keep Match Graph scores fresh in a single-process deployment (the Procfile has a worker)."""
        while not self.stopped.wait(self.config.recompute_every):
            try:
                self.engine.recompute()
            except Exception:  # the next round tries again; searches are unaffected
                log.exception("match graph recompute failed")

    def _ranker_loop(self) -> None:
        """Retrain the learned ranker on the evidence logged so far (search/ranker.py)."""
        while not self.stopped.wait(self.config.ranker_every):
            try:
                self.engine.train_ranker()
            except Exception:  # the next round tries again; the ranker in use keeps serving
                log.exception("training the learned ranker failed")

    def _follow_loop(self) -> None:
        """Keep this process on the shared catalog: apply what other hosts and workers published."""
        while not self.stopped.wait(self.config.catalog_poll_s):
            try:
                self.engine.follow()
            except Exception:  # the next round tries again; the catalog in memory keeps serving
                log.exception("following the shared catalog failed")

    def get(self) -> Engine:
        if not self.ready.is_set() or self.engine is None:
            raise ApiError(503, self.error or "the search engine is still loading; retry shortly")
        return self.engine


__all__ = ["RefusedBootstrap", "bootstrap_catalog"]  # RefusedBootstrap: raised by Engine.bootstrap


def bootstrap_catalog(engine: Engine, progress: bool = False) -> None:
    """Ingest the bundled catalog when the data dir holds none (`Engine.bootstrap`: one process does it,
    others wait; never over catalog state that does not load)."""
    engine.bootstrap(BUNDLED, progress=progress)


def engine() -> Engine:
    """The engine, on the committed generation: every route sees what `python -m api ingest` or another
    worker committed. The generation pointer is read once per request (`Engine.begin_request`); the whole
    request then reads that one catalog view (released by the app's teardown, `release_engine`)."""
    eng = current_app.extensions["matchgraph"].get()
    eng.begin_request()
    return eng


def release_engine() -> None:
    """End of a request: unpin its catalog view (app teardown)."""
    holder = current_app.extensions.get("matchgraph")
    if holder is not None and holder.engine is not None:
        holder.engine.end_request()


def user_of(eng: Engine, token: str | None = None) -> Who:
    """The request's identity (its `user_token`, else client address + User-Agent, only as keyed hashes) and
    the person it counts as (its network, or itself when the site signed the token): search/identity.py.
    The client address is the peer's, or the one a trusted proxy forwarded (api/proxies.py)."""
    return eng.who(token, request.remote_addr, request.headers.get("User-Agent", ""))


def settings() -> Settings:
    """The app's settings (read once by create_app), for request handlers."""
    return current_app.extensions["matchgraph.settings"]
