"""`python -m api serve`: gunicorn in-process, so the CLI and the Procfile run the same server."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Server(BaseApplication):
    def __init__(self, factory: Callable[[], Flask], options: dict) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """Called in the worker after fork: the model is loaded there, never in the forking parent."""
        return self.factory()


def run(factory: Callable[[], Flask], host: str = "127.0.0.1", port: int = 8000, threads: int = 4) -> None:
    """One worker with threads: the engine loads once and SQLite sees a single writer process."""
    _Server(factory, {"bind": f"{host}:{port}", "workers": 1, "worker_class": "gthread", "threads": threads,
                      "timeout": 120, "accesslog": "-"}).run()
