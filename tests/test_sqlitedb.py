"""The one SQLite connection helper (graph/infra/sqlitedb.py): per process, fork-safe, one lock, one transaction
rule, used by every SQLite user."""

from __future__ import annotations

import ast
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from graph.infra.sqlitedb import INHERITED_CONNECTIONS, SQLiteFile

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
pytestmark = pytest.mark.usefixtures("short_fork_hold")  # locks are held on purpose while forking here


def _wait_child(pid: int, seconds: float = 60.0) -> int:
    """The child's exit status; a child still running after `seconds` is killed and reported as hung."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung (a lock copied in a held state?)")


def _fork_while_held(lock, child) -> int:
    """Fork while another thread holds `lock`; run `child()` in the child; its exit code."""
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            held.set()
            release.wait(30)

    t = threading.Thread(target=holder, daemon=True)
    t.start()
    assert held.wait(10)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    release.set()
    t.join(10)
    return _wait_child(pid)


@pytest.mark.parametrize("user", ["vectorcache", "sqlitestore", "spool"])
def test_every_sqlite_user_works_in_a_child_forked_while_its_lock_was_held(tmp_path: Path, user: str) -> None:
    """Before the shared helper, VectorCache kept a plain Lock across fork: a child forked while another
    thread held it (a gunicorn worker forked during an encode) hung on its first cache read."""
    if user == "vectorcache":
        from search.vectorcache import VectorCache

        obj = VectorCache(tmp_path / "v.db")
        obj.put_many({"a": np.ones(3, dtype=np.float32)})

        def child() -> None:
            assert set(obj.get_many(["a"])) == {"a"}
            obj.put_many({"b": np.ones(3, dtype=np.float32)})
    elif user == "sqlitestore":
        from graph.store.sqlite import SQLiteStore

        obj = SQLiteStore(tmp_path / "m.db")
        obj.summary()

        def child() -> None:
            assert obj.summary()["searches"] == 0
            obj.put_match_scores({"x": 0.5})
    else:
        from graph.store.spool import SpoolingStore
        from graph.store.sqlite import SQLiteStore

        obj = SpoolingStore(SQLiteStore(tmp_path / "m.db"), tmp_path / "spool.db", replay=False)
        obj.status()

        def child() -> None:
            assert obj.status()["spooled"] == 0

    try:
        assert _fork_while_held(obj.db.lock, child) == 0
    finally:
        obj.close()


def test_the_parents_connection_is_parked_not_used_in_the_child(tmp_path: Path) -> None:
    db = SQLiteFile(tmp_path / "f.db", SCHEMA)
    with db.write() as c:
        c.execute("INSERT INTO kv VALUES ('a', 1)")
    with db.use() as c:
        parent_conn = c

    def child() -> None:
        with db.use() as c:
            assert c is not parent_conn
            assert c.execute("SELECT v FROM kv WHERE k = 'a'").fetchone()[0] == 1
        assert any(x is parent_conn for x in INHERITED_CONNECTIONS)

    assert _fork_while_held(threading.Lock(), child) == 0
    with db.use() as c:  # the parent's connection still works
        assert c is parent_conn and c.execute("SELECT COUNT(*) FROM kv").fetchone()[0] == 1
    db.close()


def test_write_rolls_back_on_error_and_read_is_one_snapshot(tmp_path: Path) -> None:
    db = SQLiteFile(tmp_path / "f.db", SCHEMA)
    with pytest.raises(RuntimeError):
        with db.write() as c:
            c.execute("INSERT INTO kv VALUES ('a', 1)")
            raise RuntimeError("boom")
    with db.read() as c:
        assert c.execute("SELECT COUNT(*) FROM kv").fetchone()[0] == 0
    other = sqlite3.connect(tmp_path / "f.db", isolation_level=None)
    with db.read() as c:
        first = c.execute("SELECT COUNT(*) FROM kv").fetchone()[0]
        other.execute("INSERT INTO kv VALUES ('b', 2)")  # committed by another connection meanwhile
        assert c.execute("SELECT COUNT(*) FROM kv").fetchone()[0] == first  # same snapshot
    with db.read() as c:
        assert c.execute("SELECT COUNT(*) FROM kv").fetchone()[0] == 1
    other.close()
    db.close()


def test_every_sqlite_user_goes_through_the_helper() -> None:
    """sqlite3.connect and BEGIN/COMMIT appear in graph/infra/sqlitedb.py only (among api/, search/, graph/)."""
    hits = []
    for path in sorted(p for pkg in ("api", "graph", "search") for p in (ROOT / pkg).rglob("*.py")):
        if path.name == "sqlitedb.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "connect" and isinstance(node.value, ast.Name) \
                    and node.value.id == "sqlite3":
                hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: sqlite3.connect")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.strip().upper() in ("BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"):
                hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert not hits, "use graph.infra.sqlitedb.SQLiteFile:\n" + "\n".join(hits)
