"""One whole catalog state per request (issue 22).

Before: `api/state.py` reloaded and `Engine.search` reloaded again (the generation pointer read twice per
search request), and a reload emptied `engine.artifacts` and the index while other request threads read
them: 2 gunicorn workers with one writer doing PUT/DELETE answered false 404s for an artifact nobody
touched, and 500s (a scorebook built before the reload meeting new ids). Now the catalog state is an
immutable view swapped by one reference, pinned once per request.
"""

from __future__ import annotations

import json
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
    from search import generation_layout

    engine = make_engine()
    engine.ingest([small_catalog])
    client = create_app(engine=engine, RATELIMIT_ENABLED=False).test_client()
    reads: list[Path] = []
    real = generation_layout.current

    def counted(data_dir: Path):
        reads.append(data_dir)
        return real(data_dir)

    monkeypatch.setattr(generation_layout, "current", counted)
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
    from bench.servers import Gunicorn
    from graph.settings import Settings
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
    eng = Engine(Settings.load(data_dir=root / "var", store_url=""), embedder=embedder)
    eng.ingest([catalog])
    eng.close()
    log_path = root / "gunicorn.log"
    with Gunicorn(root / "var", workers=2, threads=4, timeout=120, log_path=log_path, settings={"api_key": KEY},
                  app="api.app:create_app(RATELIMIT_ENABLED=False)") as server:
        try:
            server.wait_ready(READY_TIMEOUT_S)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"gunicorn not ready: {exc}")
        yield server.base, log_path


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
