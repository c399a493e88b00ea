"""Last resort against a hang that pytest-timeout's signal cannot end (pytest plugin, loaded by conftest.py).

pytest-timeout (pyproject.toml: `timeout`, signal method) fails a hung test and lets the run go on, but its
SIGALRM only lands when the main thread runs Python again: a deadlock inside C code (an OpenMP barrier, a
blocked signal) would hang the run. faulthandler's watchdog thread needs no cooperation from the main
thread: `timeout_last_resort_grace` seconds after the test's own timeout it writes every thread's stack to
stderr and ends the process (exit 1), so such a hang costs minutes and says where it was.
"""

from __future__ import annotations

import faulthandler
import os
import sys
from typing import IO

import pytest

_stderr: IO[str] | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("timeout_last_resort_grace", "seconds after a test's timeout at which the whole run is ended "
                  "with every thread's stack (0: off)", default="120")


def pytest_configure(config: pytest.Config) -> None:
    global _stderr
    if _stderr is None:  # a copy of the real stderr: pytest's fd capture would swallow the dump
        _stderr = os.fdopen(os.dup(sys.__stderr__.fileno()), "w")


def _limit(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and (marker.args or "timeout" in marker.kwargs):
        timeout = float(marker.kwargs.get("timeout", marker.args[0] if marker.args else 0) or 0)
    else:
        timeout = float(item.config.getini("timeout") or 0)
    grace = float(item.config.getini("timeout_last_resort_grace") or 0)
    return timeout + grace if timeout > 0 and grace > 0 else 0.0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    limit = _limit(item)
    if limit and _stderr is not None:
        faulthandler.dump_traceback_later(limit, exit=True, file=_stderr)
    try:
        yield
    finally:
        if limit:
            faulthandler.cancel_dump_traceback_later()
