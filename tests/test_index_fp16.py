"""VectorIndex with `half_scan` (search/halfscan.py): the fp16 scan + exact re-rank returns exactly what the
float32 index returns (ids, scores, order), for the exact kind and for IVF at the same nprobe, through every
change the index takes (upsert, update, remove, copy, save and load, memory-mapped lists)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_index import DIM, Clusters, make_ids

from search import halfscan
from search.index import HALF_FILE, IDS_FILE, INDEX_FILE, META_FILE, VectorIndex

KS = (1, 10, 11, 50, 200, 201)


def pair(n: int, vecs: np.ndarray, ids: list[str], threshold: int = 10**9) -> tuple[VectorIndex, VectorIndex]:
    """The same vectors in a float32-only index and a half-scan one, added in two upserts."""
    out = []
    for half in (False, True):
        index = VectorIndex(DIM, ann_threshold=threshold, half_scan=half)
        index.upsert(ids[:n // 3], vecs[:n // 3])
        index.upsert(ids[n // 3:n], vecs[n // 3:n])
        out.append(index)
    return out[0], out[1]


def same(a: VectorIndex, b: VectorIndex, queries: np.ndarray, ks=KS) -> None:
    """Identical answers one query at a time and in one batch; b's fp16 copy holds what a holds."""
    assert b._scan is not None and b._scan.codes.ntotal == len(b) == len(a)
    assert a.nprobe == b.nprobe
    for k in ks:
        assert a.search(queries[:1], k) == b.search(queries[:1], k)
        assert a.search(queries, k) == b.search(queries, k)


def with_duplicates(data: Clusters, n: int) -> np.ndarray:
    """Clustered vectors where some texts repeat: a group of 11 (ties across k = 10), one of 300 (ties across
    k = 200 and beyond any margin), pairs, and a family of 300 near-copies of row 7 whose similarities to it
    differ by less than fp16 rounding changes them (the fp16 scan ranks them in another order)."""
    vecs = data.sample(n)
    vecs[100:111] = vecs[5]
    vecs[1000:1300] = vecs[6]
    vecs[2000:2100:2] = vecs[2001:2101:2]
    near = vecs[7] + 2e-3 * np.random.default_rng(6).standard_normal((300, DIM)).astype(np.float32) / DIM ** 0.5
    vecs[2400:2700] = near / np.linalg.norm(near, axis=1, keepdims=True)
    return vecs


@pytest.fixture
def data() -> Clusters:
    return Clusters(seed=4)


@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_exact_kind_answers_as_float32(kind: str, data: Clusters) -> None:
    rng = np.random.default_rng(5)
    vecs = rng.standard_normal((3000, DIM)).astype(np.float32) if kind == "random" else with_duplicates(data, 3000)
    ids = make_ids(3000)
    a, b = pair(3000, vecs, ids)
    assert a.kind == b.kind == "exact"
    queries = np.vstack([data.sample(30), vecs[[5, 6, 7, 2001]]])  # the last ones sit on duplicate groups
    same(a, b, queries, KS + (3000,))
    top = b.search(vecs[5], 10)[0]  # 12 vectors tie at 1.0 for 10 places: FAISS's choice and order
    assert [s for _, s in top] == [s for _, s in a.search(vecs[5], 10)[0]] and top[0][1] == pytest.approx(1.0)


def test_ivf_answers_as_float32_at_the_same_nprobe(data: Clusters) -> None:
    vecs, ids = with_duplicates(data, 6000), make_ids(6000)
    a, b = pair(6000, vecs, ids, threshold=2000)
    assert a.kind == b.kind == "ivf" and a.nlist == b.nlist
    b.nprobe = a.nprobe  # tuned on the same vectors with the same seeds: the same, but do not depend on it
    queries = np.vstack([data.sample(40), vecs[[5, 6, 7, 2001]]])
    same(a, b, queries)
    for probe in (1, 3, a.nlist):  # nprobe means the same in both: the same lists are scanned
        a.nprobe = b.nprobe = probe
        same(a, b, queries, (10, 200))
    assert b.measure_recall(queries) == a.measure_recall(queries)


@pytest.mark.parametrize("threshold", [10**9, 2000])
def test_changes_keep_the_fp16_copy_in_step(threshold: int, data: Clusters, tmp_path: Path) -> None:
    vecs, ids = with_duplicates(data, 5000), make_ids(5000)
    a, b = pair(4000, vecs, ids, threshold)
    b.nprobe = a.nprobe
    queries = np.vstack([data.sample(20), vecs[[5, 6, 7]]])
    new = data.sample(50)
    for index in (a, b):
        index.upsert(ids[4000:], vecs[4000:])  # add
        index.upsert(ids[10:60], new)  # update
        index.remove(ids[200:400] + ["not-there#0"])
    same(a, b, queries, (10, 200))
    assert not any(i in ids[200:400] for row in b.search(queries, 300) for i, _ in row)
    copied = b.copy()
    copied.upsert(make_ids(5, start=90_000), data.sample(5))  # the copy changes alone
    assert len(b) == len(a) and copied._scan.codes.ntotal == len(copied) == len(a) + 5
    same(a, b, queries, (10, 200))
    a_copy = a.copy()
    b_copy = b.copy()
    same(a_copy, b_copy, queries, (10, 200))
    b.save(tmp_path)
    saved = [INDEX_FILE, IDS_FILE, META_FILE] + ([HALF_FILE] if a.kind == "ivf" else [])  # IVF: to be mapped
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(saved)
    for mmap in (False, True):
        loaded = VectorIndex.load(tmp_path, mmap=mmap, half_scan=True)
        assert loaded.half_scan and loaded.mapped == loaded._scan.mapped == (mmap and a.kind == "ivf")
        same(a, loaded, queries, (10, 200))
        more = data.sample(3)
        a2 = a.copy()
        for index in (loaded, a2):  # a mapped index copies its lists into memory first
            index.upsert(make_ids(3, start=80_000), more)
            index.remove(ids[500:510])
        same(a2, loaded, queries, (10, 200))


def test_an_index_saved_without_the_fp16_copy_loads_with_it(data: Clusters, tmp_path: Path) -> None:
    """Nothing of the fp16 copy is saved: a data dir written before it (or with the setting off) loads with
    it, built from the saved vectors; and a half-scan index saved loads without it."""
    vecs, ids = data.sample(3000), make_ids(3000)
    for threshold in (10**9, 2000):
        plain, _ = pair(3000, vecs, ids, threshold)
        plain.save(tmp_path / str(threshold))
        for mmap in (False, True):
            loaded = VectorIndex.load(tmp_path / str(threshold), mmap=mmap, half_scan=True)
            same(plain, loaded, data.sample(10), (10, 200))
            assert VectorIndex.load(tmp_path / str(threshold), mmap=mmap)._scan is None


def test_answers_do_not_depend_on_the_margin(data: Clusters, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a margin of 1 most queries cannot be certified from the candidates: they fall back to float32,
    so the answers stay exact (a wrong certificate would show here as a different answer)."""
    vecs, ids = with_duplicates(data, 4000), make_ids(4000)
    queries = np.vstack([data.sample(30), vecs[[5, 6, 7]]])
    for threshold in (10**9, 1500):
        a, b = pair(4000, vecs, ids, threshold)
        b.nprobe = a.nprobe
        monkeypatch.setattr(halfscan, "margin", lambda k: 1)
        before = b._scan.fallbacks
        same(a, b, queries, (10, 200))
        assert b._scan.fallbacks > before
        monkeypatch.undo()
        before = b._scan.fallbacks
        assert a.search(queries[:20], 200) == b.search(queries[:20], 200)
        assert b._scan.fallbacks - before < 5  # the default margin certifies nearly all of them


def test_fp16_error_is_within_the_bound(data: Clusters) -> None:
    """The certificate rests on error_bound: fp16 inner products of unit vectors stay within it (by far)."""
    vecs = data.sample(2000)
    index = VectorIndex(DIM, half_scan=True)
    index.upsert(make_ids(2000), vecs)
    q = data.sample(5)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    scan = index._scan.codes.index
    approx, rows = scan.search(q, 2000)
    exact = np.take_along_axis(q @ vecs.T, rows, axis=1)
    assert np.abs(approx - exact).max() < halfscan.error_bound(DIM) / 4


def test_a_saved_fp16_copy_is_mapped_and_a_bad_one_is_rebuilt(data: Clusters, tmp_path: Path) -> None:
    """An IVF saved with its fp16 copy loads it (mapped with the float lists: shared by a host's workers, not
    rebuilt per worker); a missing, stale or damaged copy is rebuilt from the float vectors instead: the
    answers never depend on it. Saving without the copy removes an earlier one."""
    vecs, ids = data.sample(4000), make_ids(4000)
    a, b = pair(4000, vecs, ids, threshold=1500)
    b.nprobe = a.nprobe
    queries = data.sample(20)
    b.save(tmp_path)
    ref = VectorIndex.load(tmp_path)  # float32 only
    mapped = VectorIndex.load(tmp_path, mmap=True, half_scan=True)
    assert mapped._scan.mapped
    same(a, mapped, queries, (10, 200))
    before = (tmp_path / HALF_FILE).read_bytes()
    more = data.sample(3)
    for index in (a, mapped):
        index.upsert(make_ids(3, start=70_000), more)
        index.remove(ids[:5])
    assert not mapped._scan.mapped and (tmp_path / HALF_FILE).read_bytes() == before  # never written through
    same(a, mapped, queries, (10, 200))
    blob = bytearray(before)
    blob[len(blob) // 2] ^= 0xFF  # damaged: the checksum in the meta no longer matches
    (tmp_path / HALF_FILE).write_bytes(bytes(blob))
    for mmap in (False, True):
        rebuilt = VectorIndex.load(tmp_path, mmap=mmap, half_scan=True)
        assert not rebuilt._scan.mapped
        same(ref, rebuilt, queries, (10, 200))
    (tmp_path / HALF_FILE).unlink()
    same(ref, VectorIndex.load(tmp_path, mmap=True, half_scan=True), queries, (10, 200))
    a.save(tmp_path / "x")
    b.save(tmp_path / "x")
    a.save(tmp_path / "x")
    assert not (tmp_path / "x" / HALF_FILE).exists()


@pytest.mark.parametrize("on", [True, False])
def test_the_setting_reaches_the_served_index_and_survives_writes_and_reloads(on: bool, make_engine,
                                                                             small_catalog: Path) -> None:
    """MATCHGRAPH_INDEX_FP16 decides whether the capability index scans an fp16 copy: in the empty view, after
    an ingest (the index is copied and changed) and after a restart loads the committed generation."""
    engine = make_engine(index_fp16=on)
    assert engine.index.half_scan is on
    engine.ingest([small_catalog])
    assert engine.index.half_scan is on and (engine.index._scan is not None) is on
    cap = engine.index.ids()[0]
    hits = engine.index.search(engine.index.reconstruct(cap), 20)
    again = make_engine(data_dir=engine.data_dir, index_fp16=on)
    assert again.index.half_scan is on and again.index.search(again.index.reconstruct(cap), 20) == hits
