"""A hang fails one test, not the run; a hang no signal can end still ends the run, with every stack.

Each case runs a small pytest session in a subprocess with this repo's pytest settings (pyproject.toml) and
the last-resort plugin (tests/hangguard.py), so what is checked is the configuration the suite really runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HANGS_IN_PYTHON = '''
import threading
import pytest

@pytest.mark.timeout(2)
def test_deadlocks_on_a_lock():
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()  # never returns: the same wait as a child stuck on a lock copied in a held state

def test_runs_after_the_hang():
    assert True
'''

HANGS_WHERE_NO_SIGNAL_LANDS = '''
import signal
import time
import pytest

@pytest.mark.timeout(1)
def test_hangs_with_the_timeout_signal_blocked():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # like a wait inside C code
    time.sleep(600)

def test_never_reached():
    assert True
'''


def _pytest(tmp_path: Path, source: str, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(source)
    env = os.environ | {"PYTHONPATH": str(ROOT / "tests")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "hangguard",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), *options, str(tmp_path / "test_inner.py")],
        capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)


def test_a_hung_test_fails_alone_and_the_run_goes_on(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, HANGS_IN_PYTHON)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert "Timeout" in out and "test_deadlocks_on_a_lock" in out, out


def test_a_hang_the_signal_cannot_end_stops_the_run_with_every_stack(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, HANGS_WHERE_NO_SIGNAL_LANDS, "-o", "timeout_last_resort_grace=1")
    assert proc.returncode != 0
    assert "most recent call first" in proc.stderr, proc.stderr  # faulthandler's dump of every thread
    assert "test_hangs_with_the_timeout_signal_blocked" in proc.stderr
    assert "passed" not in proc.stdout  # the run ended there
