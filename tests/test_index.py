"""VectorIndex: exact vs brute force, upsert/remove, the exact -> IVF switch, recall, and crash-safe files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import numpy as np
import pytest

from search.index import IDS_FILE, INDEX_FILE, META_FILE, IndexCorrupt, VectorIndex

DIM = 384


class Clusters:
    """Embedding-like data: unit vectors around random topic centres, with uneven sizes and spreads.

    Isotropic noise has no neighbourhood structure, so IVF recall on it says nothing about real catalogs.
    """

    def __init__(self, n_centres: int = 120, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        centres = self.rng.standard_normal((n_centres, DIM)).astype(np.float32)
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        self.weights = self.rng.pareto(1.5, n_centres) + 1  # a few big topics, a long tail of small ones
        self.weights /= self.weights.sum()
        self.spread = self.rng.uniform(0.03, 0.08, n_centres)  # per-dimension std: cos to centre ~0.5-0.85

    def sample(self, n: int) -> np.ndarray:
        labels = self.rng.choice(len(self.centres), size=n, p=self.weights)
        noise = self.rng.standard_normal((n, DIM)).astype(np.float32) * self.spread[labels, None]
        x = self.centres[labels] + noise.astype(np.float32)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_ids(n: int, start: int = 0) -> list[str]:
    return [f"org{i % 97}/artifact-{i}#{i * 2654435761 % (1 << 48):012x}" for i in range(start, start + n)]


def brute_force(ids: list[str], vecs: np.ndarray, queries: np.ndarray, k: int) -> list[list[str]]:
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    order = np.argsort(-(q @ vecs.T), axis=1, kind="stable")[:, :k]
    return [[ids[j] for j in row] for row in order]


def recall_at(index: VectorIndex, ids: list[str], vecs: np.ndarray, queries: np.ndarray,
              k: int = 10) -> float:
    """recall@k of index.search against a numpy brute force computed independently of the index."""
    truth = brute_force(ids, vecs, queries, k)
    found = index.search(queries, k)
    return float(np.mean([len(set(t) & {i for i, _ in f}) / k for t, f in zip(truth, found, strict=True)]))


def centroids(index: VectorIndex) -> np.ndarray:
    ivf = faiss.extract_index_ivf(index.faiss_index)
    return ivf.quantizer.reconstruct_n(0, ivf.nlist)


@pytest.fixture
def data() -> Clusters:
    return Clusters()


@pytest.fixture
def ivf(data: Clusters) -> tuple[VectorIndex, list[str], np.ndarray]:
    """5,000 clustered vectors pushed past a 2,000 threshold in two upserts."""
    ids, vecs = make_ids(5000), data.sample(5000)
    index = VectorIndex(DIM, ann_threshold=2000)
    index.upsert(ids[:1500], vecs[:1500])
    assert index.kind == "exact"
    index.upsert(ids[1500:], vecs[1500:])
    return index, ids, vecs


def test_exact_search_matches_brute_force(data: Clusters) -> None:
    ids, vecs = make_ids(800), data.sample(800)
    index = VectorIndex(DIM)
    index.upsert(ids, vecs)
    queries = data.sample(25)
    results = index.search(queries, 10)
    assert index.kind == "exact" and len(index) == 800
    assert [[i for i, _ in row] for row in results] == brute_force(ids, vecs, queries, 10)
    scores = queries @ vecs.T
    for row, q_scores in zip(results, scores, strict=True):
        np.testing.assert_allclose([s for _, s in row], np.sort(q_scores)[::-1][:10], atol=1e-5)
    assert index.measure_recall(queries) == 1.0


def test_small_index_and_input_forms(data: Clusters) -> None:
    index = VectorIndex(DIM)
    assert index.search(data.sample(2), 5) == [[], []]
    ids, vecs = make_ids(3), data.sample(3)
    index.upsert(ids, vecs * 7.0)  # stored normalised: scores are cosines whatever the input scale
    hits = index.search(vecs[0], 10)  # a single 1-D query is accepted
    assert len(hits) == 1 and len(hits[0]) == 3
    assert hits[0][0][0] == ids[0] and hits[0][0][1] == pytest.approx(1.0, abs=1e-5)
    assert set(index.ids()) == set(ids) and ids[1] in index and "nope#0" not in index
    np.testing.assert_allclose(index.reconstruct(ids[2]), vecs[2], atol=1e-6)
    with pytest.raises(ValueError):
        index.upsert(["x"], np.ones((1, DIM + 1), np.float32))
    with pytest.raises(ValueError):
        index.upsert(["x"], np.full((1, DIM), np.nan, np.float32))
    with pytest.raises(KeyError):
        index.reconstruct("nope#0")


def test_upsert_replaces(data: Clusters) -> None:
    ids, vecs = make_ids(200), data.sample(200)
    index = VectorIndex(DIM)
    index.upsert(ids, vecs)
    new = data.sample(2)
    index.upsert([ids[5], ids[5]], new)  # repeated id in one call: the last row wins
    assert len(index) == 200
    np.testing.assert_allclose(index.reconstruct(ids[5]), new[1], atol=1e-6)
    top = index.search(vecs[5], 3)[0]
    assert ids[5] not in [i for i, s in top if s > 0.999]
    assert index.search(new[1], 1)[0][0][0] == ids[5]


def test_remove(data: Clusters) -> None:
    ids, vecs = make_ids(300), data.sample(300)
    index = VectorIndex(DIM)
    index.upsert(ids, vecs)
    gone = ids[:50]
    assert index.remove(gone + ["never-added#0"]) == 50
    assert len(index) == 250 and not any(i in index for i in gone)
    for row in index.search(vecs[:50], 300):
        assert len(row) == 250 and not {i for i, _ in row} & set(gone)


def test_crossing_threshold_switches_to_ivf_with_recall(ivf, data: Clusters) -> None:
    index, ids, vecs = ivf
    assert index.kind == "ivf" and len(index) == 5000
    assert 1 <= index.nprobe < index.nlist  # genuinely approximate, not a full scan
    queries = data.sample(300)  # held-out points from the same topics, not copies of stored vectors
    recall = recall_at(index, ids, vecs, queries)
    assert recall >= 0.95
    assert index.measure_recall(queries) == pytest.approx(recall, abs=1e-9)
    for i in (0, 1499, 1500, 4999):
        np.testing.assert_allclose(index.reconstruct(ids[i]), vecs[i], atol=1e-6)


def test_ivf_add_update_remove_without_retraining(ivf, data: Clusters) -> None:
    index, ids, vecs = ivf
    before_centroids, before_nprobe = centroids(index).copy(), index.nprobe
    extra_ids, extra = make_ids(600, start=5000), data.sample(600)
    index.upsert(extra_ids, extra)
    updated = data.sample(100)
    index.upsert(ids[:100], updated)
    index.remove(ids[100:400])
    assert index.kind == "ivf" and len(index) == 5000 + 600 - 300
    np.testing.assert_array_equal(centroids(index), before_centroids)
    assert index.nprobe == before_nprobe

    live_ids = ids[:100] + ids[400:] + extra_ids
    live = np.vstack([updated, vecs[400:], extra])
    np.testing.assert_allclose(index.reconstruct(ids[0]), updated[0], atol=1e-6)
    queries = data.sample(300)
    assert recall_at(index, live_ids, live, queries) >= 0.95
    removed = set(ids[100:400])
    assert not any(i in removed for row in index.search(vecs[100:400], 10) for i, _ in row)


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_save_load_round_trip(kind: str, ivf, data: Clusters, tmp_path: Path) -> None:
    if kind == "ivf":
        index = ivf[0]
    else:
        index = VectorIndex(DIM)
        index.upsert(make_ids(500), data.sample(500))
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert (loaded.kind, loaded.nprobe, loaded.nlist) == (kind, index.nprobe, index.nlist)
    assert len(loaded) == len(index)
    assert sorted(loaded.ids()) == sorted(index.ids())
    queries = data.sample(50)
    assert loaded.search(queries, 10) == index.search(queries, 10)
    meta = json.loads((tmp_path / META_FILE).read_text())
    assert meta["count"] == len(index) and meta["dim"] == DIM and meta["kind"] == kind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([INDEX_FILE, IDS_FILE, META_FILE])
    loaded.upsert(make_ids(5, start=90_000), data.sample(5))  # a loaded index stays mutable
    assert len(loaded) == len(index) + 5


def test_memory_mapped_ivf_searches_the_same_and_copies_itself_on_the_first_change(
        ivf, data: Clusters, tmp_path: Path) -> None:
    """`load(mmap=True)`: the IVF lists stay in the file (shared page cache across workers), searches and
    reconstructs are the same, and a change copies the lists into the process first (the file is never
    written through the mapping, and a mapped index is saved in the ordinary format)."""
    index, ids, _ = ivf
    index.save(tmp_path / "a")
    mapped = VectorIndex.load(tmp_path / "a", mmap=True)
    assert mapped.mapped and mapped.kind == "ivf"
    assert not VectorIndex.load(tmp_path / "a").mapped
    queries = data.sample(50)
    assert mapped.search(queries, 10) == index.search(queries, 10)
    np.testing.assert_allclose(mapped.reconstruct(ids[7]), index.reconstruct(ids[7]), atol=1e-6)
    before = (tmp_path / "a" / INDEX_FILE).read_bytes()
    mapped.save(tmp_path / "b")  # written from a copy: an ordinary file that loads either way
    assert not mapped.mapped and VectorIndex.load(tmp_path / "b", mmap=True).search(queries, 10) == \
        index.search(queries, 10)
    again = VectorIndex.load(tmp_path / "a", mmap=True)
    new = make_ids(3, start=90_000)
    again.upsert(new, data.sample(3))
    again.remove(ids[:10])
    assert not again.mapped and len(again) == len(index) - 7 and new[0] in again and ids[0] not in again
    assert (tmp_path / "a" / INDEX_FILE).read_bytes() == before


@pytest.fixture
def saved(data: Clusters, tmp_path: Path) -> tuple[Path, VectorIndex]:
    index = VectorIndex(DIM)
    index.upsert(make_ids(400), data.sample(400))
    index.save(tmp_path)
    return tmp_path, index


def test_truncated_index_file_raises(saved) -> None:
    folder, _ = saved
    blob = (folder / INDEX_FILE).read_bytes()
    (folder / INDEX_FILE).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(folder)


@pytest.mark.parametrize("name", [INDEX_FILE, IDS_FILE])
def test_altered_file_raises(saved, name: str) -> None:
    folder, _ = saved
    blob = bytearray((folder / name).read_bytes())
    blob[len(blob) // 2] ^= 0x01  # same size, one flipped bit
    (folder / name).write_bytes(bytes(blob))
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(folder)


def test_missing_or_garbled_meta_raises(saved) -> None:
    folder, _ = saved
    (folder / META_FILE).write_text("{not json")
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(folder)
    (folder / META_FILE).unlink()
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(folder)


def test_crash_before_replace_keeps_old_files(saved, data: Clusters, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, index = saved
    queries = data.sample(20)
    expected = index.search(queries, 10)
    index.upsert(make_ids(100, start=10_000), data.sample(100))

    def crash(src, dst):
        raise OSError("simulated crash after the temp files were written")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        index.save(folder)
    monkeypatch.undo()
    loaded = VectorIndex.load(folder)
    assert len(loaded) == 400 and loaded.search(queries, 10) == expected
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # temps cleaned up


def test_crash_between_replaces_is_detected(saved, data: Clusters, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, index = saved
    index.upsert(make_ids(100, start=10_000), data.sample(100))
    real_replace, calls = os.replace, []

    def crash_after_first(src, dst):
        calls.append(dst)
        if len(calls) > 1:
            raise OSError("simulated crash between renames")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_after_first)
    with pytest.raises(OSError):
        index.save(folder)
    monkeypatch.undo()
    with pytest.raises(IndexCorrupt):  # a new index file with the old meta: never a silent mix
        VectorIndex.load(folder)
