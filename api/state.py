"""Access to the engine from request handlers, with loading in the background."""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from pathlib import Path

from flask import current_app

from api.errors import ApiError
from graph import generations
from graph.settings import Settings
from search.engine import Engine

log = logging.getLogger(__name__)
BUNDLED = Path(__file__).resolve().parent.parent / "data"


LOAD_RETRY_FIRST_S = 1.0
LOAD_RETRY_MAX_S = 30.0


class EngineHolder:
    """Owns the engine; `/readyz` answers 503 until `ready`."""

    def __init__(self, config: Settings, engine: Engine | None = None) -> None:
        self.config = config
        self.engine = engine
        self.error: str | None = None
        self.ready = threading.Event()
        if engine is not None:
            self.ready.set()

    def start(self, bootstrap: bool) -> None:
        threading.Thread(target=self._load, args=(bootstrap,), name="engine-loader", daemon=True).start()

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
                time.sleep(delay)
                delay = min(delay * 2, LOAD_RETRY_MAX_S)
        self.engine, self.error = engine, None
        self.ready.set()
        if self.config.recompute_every > 0:
            threading.Thread(target=self._recompute_loop, name="recompute", daemon=True).start()
        if engine.feed is not None and self.config.catalog_poll_s > 0:
            threading.Thread(target=self._follow_loop, name="catalog-follow", daemon=True).start()
        log.info("engine ready: %d artifacts, %d capabilities", len(engine.artifacts), len(engine.capabilities))

    def _recompute_loop(self) -> None:
        """Keep Match Graph scores fresh in a single-process deployment (the Procfile has a worker)."""
        while True:
            time.sleep(self.config.recompute_every)
            try:
                self.engine.recompute()
            except Exception:  # the next round tries again; searches are unaffected
                log.exception("match graph recompute failed")

    def _follow_loop(self) -> None:
        """Keep this process on the shared catalog: apply what other hosts and workers published."""
        while True:
            time.sleep(self.config.catalog_poll_s)
            try:
                self.engine.follow()
            except Exception:  # the next round tries again; the catalog in memory keeps serving
                log.exception("following the shared catalog failed")

    def get(self) -> Engine:
        if not self.ready.is_set() or self.engine is None:
            raise ApiError(503, self.error or "the search engine is still loading; retry shortly")
        return self.engine


def bootstrap_catalog(engine: Engine, progress: bool = False) -> None:
    """Ingest the bundled catalog when the data dir holds none; one process does it, others wait."""
    if generations.current(engine.data_dir) is not None:
        return
    lock_path = engine.data_dir / ".bootstrap.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if generations.current(engine.data_dir) is None and engine.join(progress=progress):
            log.info("empty data dir: joined the shared catalog at version %d (%d artifacts)",
                     engine.catalog_version, len(engine.artifacts))
        elif generations.current(engine.data_dir) is None:
            log.info("empty data dir: ingesting the bundled catalog from %s", BUNDLED)
            report = engine.ingest([BUNDLED], progress=progress)
            log.info("bundled catalog ingested: %d artifacts -> %s", report.artifacts, report.generation)
        else:
            engine.reload()


def engine() -> Engine:
    return current_app.extensions["matchgraph"].get()


def settings() -> Settings:
    """The app's settings (read once by create_app), for request handlers."""
    return current_app.extensions["matchgraph.settings"]
