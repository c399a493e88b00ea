"""Shared pytest fixtures. Expensive ones are session-scoped so the model loads once per run."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # plain `pytest` (unlike `python -m pytest`) does not add the repo root
    sys.path.insert(0, str(ROOT))

from hangguard import pytest_addoption, pytest_configure, pytest_runtest_protocol  # noqa: E402, F401


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory, onnx_export_once):
    """The default model, loaded once, with a persistent vector cache in a per-session tmp dir."""
    from search.embedder import Embedder  # imported lazily: tests that never embed skip torch entirely
    from search.vectorcache import VectorCache

    cache = VectorCache(tmp_path_factory.mktemp("vectorcache") / "vectors.sqlite")
    yield Embedder(cache=cache, onnx_dir=os.environ["MATCHGRAPH_ONNX_DIR"])
    cache.close()


@pytest.fixture(scope="session", autouse=True)
def onnx_export_once(tmp_path_factory: pytest.TempPathFactory):
    """One ONNX export per test session, shared by every engine and server process the tests start."""
    os.environ["MATCHGRAPH_ONNX_DIR"] = str(tmp_path_factory.mktemp("onnx"))
    yield


# Every app the tests build validates the responses its views build against their documented models (off in
# production: issue 32); servers the tests start get only the settings they are handed (bench/servers.py).
os.environ.setdefault("MATCHGRAPH_VALIDATE_RESPONSES", "1")


# Raw upstream data. The repo stands alone: converter tests run on compact samples shipped in
# tests/fixtures/shared/<source>/ (raw rows copied unchanged, the source's LICENSE beside them, layout mirroring
# ../shared/data), so a fresh clone passes with no ../shared. Checks that need a whole source (the bundled
# catalog reproduces byte for byte) run where ../shared is present and skip elsewhere, CI included
# (`full_source` says why).
FIXTURES_SHARED = ROOT / "tests" / "fixtures" / "shared"
SHARED = ROOT.parent / "shared"


def fixture_source(name: str) -> Path:
    """The shipped sample of ../shared/data/<name> (tests/fixtures/shared/<name>)."""
    path = FIXTURES_SHARED / name
    assert path.is_dir(), f"{path} is missing: cut it with tests/fixtures/samplers/{name}.py"
    return path


def full_source(name: str) -> Path:
    """../shared/data/<name> when present, else skip (in CI too).

    Why not fail in CI: the repo must stand alone (issue 10), and a clean clone may sit anywhere, with no
    ../shared beside it. Every converter is covered by the shipped samples in tests/fixtures/shared/, which
    always run; these byte-for-byte checks against the full upstream sources are an extra, run wherever the
    sources are (the developers' machines)."""
    path = SHARED / "data" / name
    if not path.is_dir():
        pytest.skip(f"full upstream source {path} not found (only the sample in tests/fixtures/shared/{name} is)")
    return path


@pytest.fixture
def short_fork_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests that hold a lock on purpose while forking: fork() waits 0.2 s (not 5 s) for it, then goes
    ahead and the child gets a fresh lock (graph/infra/forksafe.py)."""
    from graph.infra import forksafe

    monkeypatch.setattr(forksafe, "HOLD_WAIT_S", 0.2)


@contextmanager
def busy_thread(work: Callable[[], object]) -> Iterator[None]:
    """Run `work` in a loop on a second thread for the block: a fork() in the block happens while the locks
    `work` takes are in use, as in a server, instead of in a quiet single-threaded test process."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            work()
            time.sleep(0)

    thread = threading.Thread(target=loop, name="busy", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


DATA = ROOT / "data"
SMALL_IDS = (
    "bert-large-uncased-whole-word-masking-finetuned-squad", "bigcode/the-stack-v2",
    "deepset/roberta-base-squad2", "distilbert-base-uncased-distilled-squad", "salesforce/codegen-350m-multi",
    "salesforce/codet5-base", "dmis-lab/biobert-v1.1", "princeton-nlp/unsup-simcse-roberta-base",
    "torchhub/pytorch-vision-fcn_resnet50", "facebook/detr-resnet-50",
)


def small_records(extra: int = 30) -> list[dict]:
    """The seed page's two artifacts, a few named neighbours and `extra` more from the bundled catalog."""
    import json

    rows = [json.loads(line) for f in sorted(DATA.glob("*.jsonl")) for line in f.read_text().splitlines()]
    by_id = {r["id"]: r for r in rows}
    chosen = [by_id[i] for i in SMALL_IDS if i in by_id]
    chosen += [r for r in rows if r["id"] not in SMALL_IDS][:extra]
    return chosen


def small_engine(embedder, root: Path):
    """An Engine on `root`/var (SQLite store) with small_records() ingested: what module-scoped API suites serve."""
    import json

    from graph.settings import Settings
    from search.engine import Engine

    catalog = root / "small.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in small_records()))
    eng = Engine(Settings.load(data_dir=root / "var", store_url=""), embedder=embedder)
    eng.ingest([catalog])
    return eng


@pytest.fixture(scope="module")
def engine(embedder, tmp_path_factory: pytest.TempPathFactory):
    """small_engine() for one test module (its own data dir), closed after it; a module that needs another
    engine defines its own `engine` fixture."""
    eng = small_engine(embedder, tmp_path_factory.mktemp("engine"))
    yield eng
    eng.close()


@pytest.fixture
def small_catalog(tmp_path: Path) -> Path:
    import json

    path = tmp_path / "catalog" / "small.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(r) + "\n" for r in small_records()))
    return path


@pytest.fixture
def make_engine(embedder, tmp_path: Path):
    """Factory of engines on fresh data dirs (SQLite store), sharing the session's model."""
    from graph.settings import Settings
    from search.engine import Engine

    made = []

    def make(data_dir: Path | None = None, **overrides):
        cfg = Settings.load(data_dir=data_dir or tmp_path / f"var{len(made)}", store_url="", **overrides)
        engine = Engine(cfg, embedder=embedder)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()
