"""Smoke versions of the benchmarks (bench/perf.py, bench/peers.py, bench/vectors.py, bench/profile.py):
tiny sizes and a few queries, asserting the report structure and exact counts, never times."""

from __future__ import annotations

import argparse
import copy
import json
import re
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import redis

from bench import peers, perf, vectors
from bench.profile import PhaseTimer

SYNTH_CAPS = 400  # real small catalog (~100 capabilities) + synthetic ones; IVF above the threshold below
ANN_THRESHOLD = "200"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?$")


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(perf.REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def small_real(embedder, tmp_path_factory: pytest.TempPathFactory):
    """The conftest's small catalog ingested, and its vectors as the synthetic generator's seeds."""
    from conftest import small_records

    from graph.settings import Settings
    from search.engine import Engine

    root = tmp_path_factory.mktemp("bench-real")
    path = root / "small.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in small_records()))
    engine = Engine(Settings.load(data_dir=root / "var", store_url=""), embedder=embedder)
    engine.ingest([path])
    yield vectors.real_catalog(engine), engine
    engine.close()


@pytest.fixture(scope="module")
def synth_dir(small_real, tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("MATCHGRAPH_ANN_THRESHOLD", ANN_THRESHOLD)
    try:
        dest, info = vectors.ensure(SYNTH_CAPS, root=tmp_path_factory.mktemp("bench-synth"), real=small_real[0])
    finally:
        mp.undo()
    return dest, info


@pytest.fixture
def args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    monkeypatch.setattr(perf, "WORK", tmp_path)
    a = perf.parse(["--quick"])
    a.repeats, a.requests, a.level_seconds = 1, [3, 4, 8], 60.0
    return a


def test_synthetic_vectors_derive_from_real_ones(small_real) -> None:
    real, _ = small_real
    artifacts, texts, vecs = vectors.synthesize(real, len(real.cap_ids) + 53, seed=1)
    assert sum(len(a.capabilities) for a in artifacts) == len(texts) == len(vecs) == 53
    assert len(set(texts)) == len(texts)  # the lookup embedder keys on text
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert all(ID_PATTERN.match(a.id) for a in artifacts)
    again = vectors.synthesize(real, len(real.cap_ids) + 53, seed=1)
    assert np.array_equal(again[2], vecs) and again[1] == texts  # deterministic per seed
    # every synthetic vector sits close to a real one (a perturbation or mixture, not noise)
    nearest = (vecs @ real.vectors.T).max(axis=1)
    assert nearest.min() > 0.7
    rows = vectors.realism(real, np.concatenate([real.vectors, vecs]))
    assert [r["set"].split()[0] for r in rows] == ["real", "synthetic", "isotropic"]
    assert abs(rows[1]["mean cosine"] - rows[0]["mean cosine"]) < abs(rows[2]["mean cosine"] - rows[0]["mean cosine"])


def test_synthetic_data_dir_loads_like_a_real_one(synth_dir, small_real, embedder) -> None:
    from graph.catalog import Artifact
    from graph.settings import Settings
    from search import tunequeries
    from search.engine import Engine

    path, info = synth_dir
    real, _ = small_real
    assert info["capabilities"] == SYNTH_CAPS and info["index"] == "ivf"
    # no capability text goes through the model, only the IVF's tuning queries (search/tunequeries.py)
    assert 0 < info["embedded_by_model"] <= tunequeries.SAMPLE
    assert info["artifacts"] == len(real.artifacts) + info["synthetic_artifacts"]
    engine = Engine(Settings.load(data_dir=vectors.link_copy(path, path.parent / "copy"), store_url=""),
                    embedder=embedder)
    try:
        assert len(engine.capabilities) == SYNTH_CAPS and engine.index.kind == "ivf"
        for a in list(engine.artifacts.values())[:50]:
            Artifact.from_record(a.to_record())  # every record passes the schema
        hits = engine.search("extractive question answering", k=10, record=False).hits
        assert len(hits) == 10
    finally:
        engine.close()
    _, again = vectors.ensure(SYNTH_CAPS, root=path.parent, real=real)
    assert again["reused"]


def test_cold_start_embeds_and_rebuilds_nothing(synth_dir) -> None:
    out = perf.cold_start(synth_dir[0])
    assert out["capabilities"] == SYNTH_CAPS
    assert out["embedded"] == 0 and not out["index_rebuilt"] and out["index"] == "ivf"
    assert {"catalog parse", "index load (checksums, ids)", "artifact vectors + BM25 load"} <= set(out["phases"])
    assert "artifact vectors + BM25 rebuilt" not in out["phases"]  # persisted in the generation
    assert out["encoder"] == "onnx" and not out["torch_loaded"]  # the export is reused: no torch at start


@pytest.mark.slow
def test_http_levels_and_memory(synth_dir, args) -> None:
    out = perf.section_http(args, quiet, {SYNTH_CAPS: synth_dir})
    assert [r["clients"] for r in out["rows"]] == list(perf.LEVELS)
    assert [r["requests"] for r in out["rows"]] == args.requests  # bounded by count: exactly this many
    assert all(r["errors"] == 0 and r["p50 ms"] <= r["p95 ms"] <= r["p99 ms"] for r in out["rows"])
    server = out["servers"][0]
    assert server["ready_s"] > 0 and server["rss_ready_mb"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_recording_counts_are_exact(store: str, synth_dir, args) -> None:
    assert store != "redis" or redis_up(), "no Redis at " + perf.REDIS_URL  # fail, never skip
    args.recording_searches, args.recording_feedback = 40, 50
    args.recording_clients, args.recording_query_pool, args.recording_batch = 4, 4, 8
    row = perf.recording_run(store, synth_dir[0], args, quiet)
    assert row["errors"] == 0 and row["counts exact"] is True
    sent, stored = row["searches sent/stored"].split("/")
    assert sent == stored and int(sent) == 40 + 2 * 4  # measured searches + the warm-up pass
    assert row["feedback sent/stored"] == "50/50"  # one event per request
    assert row["batched feedback sent/stored"] == "50/50"  # 7 batches of up to 8
    assert row["batched feedback events/s"] > 0 and row["batch size"] == 8
    assert row["Times Matched checked"].endswith(", 0 off")


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_store_rate_counts_are_exact(store: str, small_real, tmp_path: Path) -> None:
    assert store != "redis" or redis_up(), "no Redis at " + perf.REDIS_URL  # fail, never skip
    url = f"{perf.REDIS_URL}?prefix=mgtest-{time.time_ns()}" if store == "redis" else ""
    try:
        out = perf._store_rate(url, tmp_path, sorted(small_real[1].artifacts), events=60, clients=4)
    finally:
        if url:
            perf._clear_redis_prefix(url)
    assert out["exact"] is True and out["search"] > 0 and out["feedback"] > 0 and out["feedback_batched"] > 0


def test_embedding_and_ingest_sections(args) -> None:
    args.embed_queries, args.ingest_artifacts, args.repeats = 3, 4, 2
    emb = perf.section_embedding(args, quiet)
    assert {r["encoder"] for r in emb["rows"]} == {"matchgraph ONNX Runtime (served)", "matchgraph torch (reference)",
                                                   "sentence-transformers"}
    assert all(r["queries"] == 3 and r["p50 ms"] > 0 for r in emb["rows"])
    assert all(float(r["max |diff| vs sentence-transformers"]) < 1e-5 for r in emb["rows"])  # same vectors
    ing = perf.section_ingest(args, quiet)
    caps = ing["rows"][0]["capabilities"]
    assert [r["capabilities"] for r in ing["rows"]] == [caps, caps] and caps > 0
    # every repeat starts from an empty vector cache: everything is embedded every time
    assert len(ing["embedded_per_ingest"]) == 2 and len(set(ing["embedded_per_ingest"])) == 1
    assert ing["embedded_per_ingest"][0] > 0


def test_peers_smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(perf, "WORK", tmp_path)  # peers use perf.scratch
    args = peers.parse(["--quick", "--http-repeats", "0"])
    report = peers.run(args, log=quiet)
    names = [r["system"] for r in report["rows"]]
    assert names[:4] == [peers.Matchgraph.name, peers.Txtai.name, peers.TxtaiLean.name, peers.Floor.name]
    assert report["queries"] == 5 and report["capabilities"] > 0
    for r in report["rows"]:
        assert all(0.0 <= r[m] <= 1.0 for m in ("R@1", "R@5", "R@10", "MRR@10"))
        assert r["R@1"] <= r["R@5"] <= r["R@10"]
    assert report["build_notes"][peers.Matchgraph.name]["embedded"] > 0
    assert len(report["overhead"]) == 3  # no HTTP row when --http-repeats 0
    assert "| system |" in peers.render(report)


def test_peers_names_the_http_time_with_the_workers_own_timers(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP system's time split by the gunicorn workers' own timers (/metrics, summed over workers):
    what Flask and Engine.search took inside, what the client, socket and gunicorn added outside."""
    monkeypatch.setattr(perf, "WORK", tmp_path)
    report = peers.run(peers.parse(["--quick"]), log=quiet)
    parts = {r["part of GET /v1/search over HTTP (means)"]: r["ms"] for r in report["served"]}
    client, inside, engine = list(parts.values())[:3]
    assert 0 < engine < inside < client
    assert "Where the HTTP time goes" in peers.render(report)


def worker_embedder(embedder):
    """Another process's embedder: the session's model, but its own LRU, counters and vector-cache
    connection (None here: the engine opens its data dir's vectors.db, as a gunicorn worker does)."""
    other = copy.copy(embedder)
    other._lru, other.cache = OrderedDict(), None
    other.forward_batches = other.encoded_texts = 0
    return other


def test_a_served_search_embeds_its_query_once(embedder, small_catalog, tmp_path: Path) -> None:
    """The intent-sync fixes measured by `python -m bench.profile --sync-ab`: a process never re-embeds
    the intents it searched for itself, and another worker on the same data dir reads them from the
    shared vector cache instead of running the model on them."""
    from graph.settings import Settings
    from search.engine import Engine

    nonce = f"n{time.time_ns()}"
    cfg = Settings.load(data_dir=tmp_path / "var", store_url="")
    first = Engine(cfg, embedder=worker_embedder(embedder))
    second = None
    try:
        first.ingest([small_catalog])
        first.search(f"warm up {nonce}", k=5, record=False)  # the catalog's gibberish level, once (issue 28)
        before = first.embedder.forward_batches
        for q in ("answer questions from passages", "dedupe a code dataset", "detect objects in photos"):
            first.search(f"{q} {nonce}", k=5)
        first.search(f"one more query {nonce}", k=5)  # syncs the three above: already in memory
        assert first.embedder.forward_batches - before == 4
        second = Engine(cfg, embedder=worker_embedder(embedder))  # another worker, same data dir and store
        second.search(f"translate english to german {nonce}", k=5)
        assert second.embedder.forward_batches == 1  # its own query only: the other 4 come from the cache
        assert len(second.intents.index) == 5
        first.search(f"one last query {nonce}", k=5)  # and back: the second worker's intent is cached too
        assert first.embedder.forward_batches - before == 5 and len(first.intents.index) == 6
    finally:
        first.close()
        if second is not None:
            second.close()


def test_phase_timer_reports_exclusive_time() -> None:
    class Box:
        def outer(self) -> None:
            time.sleep(0.02)
            self.inner()

        def inner(self) -> None:
            time.sleep(0.03)

    timer = PhaseTimer()
    timer.wrap(Box, "outer", "outer")
    timer.wrap(Box, "inner", "inner")
    Box().outer()
    timer.remove()
    assert timer.calls == {"outer": 1, "inner": 1}
    assert 0.015 < timer.total["outer"] < 0.03 < timer.total["inner"]


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert [perf.percentile(values, p) for p in (50, 95, 99)] == [50, 95, 99]
    assert perf.percentile([], 50) == 0.0 and perf.percentile([7.0], 99) == 7.0


def duplicated_clusters(n: int = 3000, copies: int = 6, seed: int = 0) -> tuple[list[str], np.ndarray, object]:
    """Clustered vectors where a third are exact duplicates, as templated capability texts give in real
    catalogs (the bundled one: "A conversational model in ... that works on text" under many artifacts)."""
    from test_index import Clusters

    data = Clusters(seed=seed)
    base = data.sample(n)
    dupes = np.repeat(base[: n // (3 * copies)], copies, axis=0)
    vecs = np.concatenate([base, dupes])
    return [f"a{i}/x#{i:012x}" for i in range(len(vecs))], vecs, data


def test_recall_counts_ties_among_duplicate_vectors() -> None:
    """The bench measured recall 0.855 for an exact index over the real catalog: FAISS and the numpy
    ground truth break ties between identical vectors differently. Ties are now counted as found."""
    from search.index import VectorIndex

    ids, vecs, _ = duplicated_clusters(800)
    index = VectorIndex(vecs.shape[1])
    index.upsert(ids, vecs)
    assert index.kind == "exact"
    assert index.measure_recall(vecs[:40]) == 1.0  # queries that hit the duplicates head on


def test_nprobe_tuning_is_not_a_full_scan_and_holds_recall() -> None:
    """Before the fix, id-only recall could not reach the tuning goal on data with duplicates, so nprobe
    fell back to every list (an IVF slower than exact search); now it stays approximate and real-like
    queries (fresh samples of the same clusters, and mixtures) keep recall@10 >= 0.95."""
    from search.index import VectorIndex

    ids, vecs, data = duplicated_clusters(3000)
    index = VectorIndex(vecs.shape[1], ann_threshold=2000)
    index.upsert(ids, vecs)
    assert index.kind == "ivf" and 1 <= index.nprobe < index.nlist
    assert index.measure_recall(data.sample(100)) >= 0.95
    rng = np.random.default_rng(5)
    mixtures = vecs[rng.integers(len(vecs), size=(100, 2))].sum(axis=1)
    assert index.measure_recall(mixtures) >= 0.95


@pytest.mark.parametrize("module", ["perf", "peers", "quality", "profile", "vectors", "load", "api_examples",
                                    "soak", "workers", "first_start", "names", "ab", "encoders"])
def test_every_bench_command_parses_its_options(module: str) -> None:
    """`--help` builds each command's whole parser: a clash between two options fails here, not in a run."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", f"bench.{module}", "--help"], cwd=root, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert "usage:" in out.stdout
