"""One whole catalog state per request (issue 22).

Before: `api/state.py` reloaded and `Engine.search` reloaded again (the generation pointer read twice per
search request), and a reload emptied `engine.artifacts` and the index while other request threads read
them: 2 gunicorn workers with one writer doing PUT/DELETE answered false 404s for an artifact nobody
touched, and 500s (a scorebook built before the reload meeting new ids). Now the catalog state is an
immutable view swapped by one reference, pinned once per request.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from conftest import ROOT

READY_TIMEOUT_S = 180
RUN_S = 20
READERS = 6
UNTOUCHED = "bigcode/the-stack-v2"
KEY = "split-test-key"
CATALOG_SIZE = 1000


def test_one_request_reads_the_generation_pointer_once(make_engine, small_catalog, monkeypatch) -> None:
    """GET /v1/search (and the home page with a query) check for a new generation exactly once."""
    from api.app import create_app
    from search import generation

    engine = make_engine()
    engine.ingest([small_catalog])
    client = create_app(engine=engine, RATELIMIT_ENABLED=False).test_client()
    reads: list[Path] = []
    real = generation.current

    def counted(data_dir: Path):
        reads.append(data_dir)
        return real(data_dir)

    monkeypatch.setattr(generation, "current", counted)
    for path in ("/v1/search?q=extract+answers+from+passages", "/?q=extract+answers+from+passages",
                 f"/v1/artifacts/{UNTOUCHED}"):
        reads.clear()
        assert client.get(path).status_code == 200, path
        assert len(reads) == 1, f"{path}: the generation pointer was read {len(reads)} times"


def test_a_request_keeps_its_view_while_another_generation_is_loaded(make_engine, small_catalog) -> None:
    """A view pinned by a request stays whole however the live state moves meanwhile."""
    from graph.catalog import Artifact

    engine = make_engine()
    engine.ingest([small_catalog])
    other = make_engine(engine.data_dir)  # another worker on the same data dir
    view = other.begin_request()
    try:
        record = {"id": "late/one", "name": "Late one", "type": "tool", "capabilities": [{"title": "arrives late"}]}
        engine.apply(upserts=[Artifact.from_record(record)])
        assert other.reload(), "the other worker sees the new generation"
        assert other.view() is view and "late/one" not in other.artifacts
        assert {h.artifact.id for h in other.search("arrives late", k=40, record=False).hits} <= set(view.artifacts)
        book = other.scorebook()  # built for the pinned view: every id of it has scores
        assert all(book.scores(a) is not None for a in view.artifacts)
    finally:
        other.end_request()
    assert "late/one" in other.artifacts


def test_a_generation_a_process_serves_is_not_pruned(make_engine, small_catalog) -> None:
    """Before: a writer kept the 2 newest generations and its own, and pruned the one another worker was
    still serving (or loading): that worker then logged "no generation of ... loads". Now each process
    holds a lease on the generation it serves, and pruning skips leased ones until they are let go."""
    from graph.catalog import Artifact

    writer = make_engine()
    writer.ingest([small_catalog])
    reader = make_engine(writer.data_dir)
    served = writer.data_dir / reader.generation
    for i in range(3):
        record = {"id": f"late/{i}", "name": f"Late {i}", "type": "tool", "capabilities": [{"title": "arrives late"}]}
        writer.apply(upserts=[Artifact.from_record(record)])
    assert served.is_dir(), "the generation the reader serves was pruned from under it"
    reader.reload()
    writer.apply(deletes=["late/0"])
    assert not served.exists(), "once nobody serves it, the next commit prunes it"


# --- 2 real gunicorn workers, one writer, 6 readers ------------------------------------------------------
@pytest.fixture(scope="module")
def two_workers(embedder, tmp_path_factory):
    """gunicorn, 2 workers (4 threads each), the SQLite store, on a data dir with the small catalog."""
    from search.config import Config
    from search.engine import Engine

    root = tmp_path_factory.mktemp("onestate")
    # ~1,000 artifacts of the bundled catalog, with its shipped vectors (nothing to embed): a reload takes
    # long enough for a reading thread to meet it, as on the real catalog
    rows = [json.loads(line) for f in sorted((ROOT / "data").glob("*.jsonl")) for line in f.read_text().splitlines()]
    chosen = [r for r in rows if r["id"] == UNTOUCHED] + [r for r in rows if r["id"] != UNTOUCHED][:CATALOG_SIZE]
    (root / "catalog").mkdir()
    catalog = root / "catalog" / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in chosen))
    (root / "catalog" / "vectors").symlink_to(ROOT / "data" / "vectors")
    eng = Engine(Config.from_env(data_dir=root / "var", store_url=""), embedder=embedder)
    eng.ingest([catalog])
    eng.close()
    port = _free_port()
    log_path = root / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MATCHGRAPH_", "PROMETHEUS_"))}
    env.update(MATCHGRAPH_DATA_DIR=str(root / "var"), MATCHGRAPH_STORE="", MATCHGRAPH_LOG_LEVEL="WARNING",
               MATCHGRAPH_API_KEY=KEY, MATCHGRAPH_ONNX_DIR=os.environ["MATCHGRAPH_ONNX_DIR"],
               PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{port}",
           "--timeout", "120", "--graceful-timeout", "5", "api.app:create_app(RATELIMIT_ENABLED=False)"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(proc, base, log_path)
            yield base, log_path
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)  # the session we started: the arbiter and its workers
                    proc.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(proc: subprocess.Popen, base: str, log_path: Path) -> None:
    deadline, ready = time.monotonic() + READY_TIMEOUT_S, set()
    while time.monotonic() < deadline and len(ready) < 2:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            resp = requests.get(f"{base}/readyz", timeout=10)
            if resp.status_code == 200:
                ready.add(resp.json()["checks"]["pid"])
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    if len(ready) < 2:
        pytest.fail(f"both workers not ready after {READY_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


def _writer(base: str, stop: threading.Event, out: Counter) -> None:
    """PUT a new artifact, then DELETE it, over and over: every write commits a generation."""
    headers = {"Authorization": f"Bearer {KEY}"}
    n = 0
    while not stop.is_set():
        n += 1
        artifact_id = f"churn/a-{n % 3}"
        body = {"id": artifact_id, "name": f"Churn {n % 3}", "type": "tool",
                "capabilities": [{"title": f"churn capability {n % 3}"}]}
        resp = requests.put(f"{base}/v1/artifacts/{artifact_id}", json=body, headers=headers, timeout=60)
        out[f"put {resp.status_code}"] += 1
        resp = requests.delete(f"{base}/v1/artifacts/{artifact_id}", headers=headers, timeout=60)
        out[f"delete {resp.status_code}"] += 1


def _reader(base: str, stop: threading.Event, out: Counter, bad: list[str], i: int) -> None:
    paths = [f"/v1/artifacts/{UNTOUCHED}", "/v1/search?q=code+dataset+in+many+languages&record=false",
             f"/v1/artifacts/{UNTOUCHED}/similar", "/v1/search?q=churn+capability"]
    n = i
    while not stop.is_set():
        path = paths[n % len(paths)]
        n += 1
        resp = requests.get(base + path, timeout=60)
        out[resp.status_code] += 1
        if resp.status_code >= 500 or resp.status_code == 404:
            bad.append(f"{resp.status_code} {path}: {resp.text[:200]}")


@pytest.mark.slow
def test_two_workers_one_writer_six_readers_no_5xx_no_false_404(two_workers) -> None:
    base, _ = two_workers
    stop, writes, reads, bad = threading.Event(), Counter(), Counter(), []
    threads = [threading.Thread(target=_writer, args=(base, stop, writes))]
    threads += [threading.Thread(target=_reader, args=(base, stop, reads, bad, i)) for i in range(READERS)]
    for t in threads:
        t.start()
    time.sleep(RUN_S)
    stop.set()
    for t in threads:
        t.join(120)
    print(f"writes {dict(writes)}; reads {dict(reads)}")
    assert writes["put 200"] + writes["put 201"] >= 2, writes  # each one commits a generation the other worker loads
    assert not [k for k in writes if not k.endswith(("200", "201", "204"))], writes
    assert sum(reads.values()) >= 100, reads
    kinds = Counter(b.split(":")[0] for b in bad)
    assert not bad, f"{len(bad)} bad of {sum(reads.values())} reads: {dict(kinds)}\n" + "\n".join(bad[:10])
