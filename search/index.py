"""Cosine nearest-neighbour search over FAISS with string ids: exact when small, IVF when large."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import faiss
import numpy as np

from graph.infra.forksafe import reset_after_fork
from graph.infra.generation_commit import fsync_dir
from search.halfscan import HalfScan, lists_into_memory

INDEX_FILE = "index.faiss"
IDS_FILE = "index.ids.json"
HALF_FILE = "index.fp16.faiss"  # the fp16 scan copy of an IVF (search/halfscan.py); optional, rebuilt when absent
META_FILE = "index.meta.json"
FORMAT = "matchgraph-vectorindex/1"
_ID_MASK = 0x7FFF_FFFF_FFFF_FFFF
_TUNE_QUERIES = 200
_TUNE_MIX = 3  # a tuning query is the normalised sum of this many random stored vectors
# Mixtures are easier than real queries (on the bundled catalog's dev queries, mixture recall 0.99 came with
# real-query recall 0.966), so tuning on them (when no query-like vectors are given) aims this far above.
_RECALL_MARGIN = 0.04
RECALL_FLOOR = 0.99  # recall@10 against exact that the IVF's nprobe is tuned to (issue 32)
# nprobe values tried, smallest first: 2, 3, 5 and 7 times the powers of two, at most 1.25x apart from 4 up (with
# 1.5x steps a 100k build served 256 where 224 reached the floor; BENCHMARKS.md, issue 32, fifth round)
_NPROBES = sorted({m * 2 ** i for i in range(17) for m in (2, 3, 5, 7)} | {1})
_EXACT_BLOCK = 65_536  # stored vectors per matmul block in brute-force ground truth
_MIN_POINTS_PER_LIST = 39  # faiss k-means warns and degrades below this many training points per centroid
_TIE_EPS = 1e-5  # similarities this close to the k-th true one count as ties (float32 sums differ by ~1e-7)


class IndexCorrupt(Exception):
    """Saved index files are missing, truncated or inconsistent; rebuild from the catalog and vector cache."""


def id_to_int(key: str) -> int:
    """Stable 63-bit int for a string id (blake2b), identical across processes, unlike hash()."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little") & _ID_MASK


def _unit_rows(vectors: np.ndarray, dim: int) -> np.ndarray:
    x = np.array(vectors, dtype=np.float32, order="C", copy=True)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {np.shape(vectors)}")
    if not np.isfinite(x).all():
        raise ValueError("vectors contain NaN or inf")
    faiss.normalize_L2(x)
    return x


def _recall(found: np.ndarray, found_scores: np.ndarray,
            truth: np.ndarray, truth_scores: np.ndarray) -> float:
    """Share of the true top-k that the search found, counting ties: when several stored vectors share the
    k-th best similarity (duplicate capability texts are common in real catalogs), any of them is a
    correct k-th answer. Counting ids alone caps recall below 1 on such data whatever nprobe is, which
    made tuning fall back to scanning every list."""
    hits = total = 0
    for got, got_s, want, want_s in zip(found, found_scores, truth, truth_scores, strict=True):
        want_set = {int(i) for i in want if i >= 0}
        if not want_set:
            continue
        kth = min(float(s) for i, s in zip(want, want_s, strict=True) if i >= 0) - _TIE_EPS
        good = sum(1 for i, s in zip(got, got_s, strict=True) if i >= 0 and (int(i) in want_set or s >= kth))
        hits += min(good, len(want_set))
        total += len(want_set)
    return hits / total if total else 1.0


class VectorIndex:
    """Inner-product search on L2-normalised vectors, keyed by capability id strings.

    Below `ann_threshold` vectors the search is exact; crossing it switches once to IVF-Flat, which then
    takes adds, updates and deletes in place (centroids and nprobe stay fixed until `tune_nprobe()`).
    With `half_scan`, searches scan an fp16 copy of the vectors and re-score its candidates with the float32
    ones (search/halfscan.py): the same answers, half the bytes read, half the float index's size in memory.
    """

    def __init__(self, dim: int, *, ann_threshold: int = 50_000, target_recall: float = RECALL_FLOOR,
                 half_scan: bool = False) -> None:
        if dim < 1:
            raise ValueError("dim must be >= 1")
        self.dim = int(dim)
        self.ann_threshold = int(ann_threshold)
        self.target_recall = float(target_recall)
        self.kind = "exact"
        self.nprobe = 0
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self._ids: dict[int, str] = {}
        self._lock = threading.RLock()
        reset_after_fork(self, "_lock")
        self.mapped = False  # True while the IVF lists are a read-only memory map of the saved file
        self.tuning: dict[str, Any] = {}  # what nprobe was tuned on and the recall it reached (saved in meta)
        self.half_scan = bool(half_scan)
        self._scan: HalfScan | None = HalfScan(self._index) if half_scan else None

    # -- basic container protocol -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._ids.get(id_to_int(key)) == key

    def ids(self) -> list[str]:
        return list(self._ids.values())

    @property
    def nlist(self) -> int:
        return int(self._index.nlist) if self.kind == "ivf" else 0

    @property
    def faiss_index(self) -> Any:
        """The underlying FAISS index, for diagnostics; mutate only through this class."""
        return self._index

    def __repr__(self) -> str:
        return f"VectorIndex(dim={self.dim}, kind={self.kind!r}, count={len(self)}, nprobe={self.nprobe})"

    # -- mutation -----------------------------------------------------------------------------------

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, *,
               tune_queries: Callable[[], np.ndarray] | None = None) -> None:
        """Add or replace vectors; the last occurrence wins when an id repeats in one call.

        `tune_queries`: query-like vectors (search/tunequeries.py) to tune nprobe on if this call switches the
        index to IVF; called only then (encoding them costs a few hundred forward passes).
        """
        if isinstance(ids, str):
            raise TypeError("ids must be a sequence of strings")
        x = _unit_rows(vectors, self.dim) if len(ids) else np.empty((0, self.dim), np.float32)
        if x.shape[0] != len(ids):
            raise ValueError(f"{len(ids)} ids but {x.shape[0]} vectors")
        with self._lock:
            self._writable()
            last: dict[int, int] = {}
            names: dict[int, str] = {}
            for row, key in enumerate(ids):
                if not isinstance(key, str):
                    raise TypeError(f"ids must be str, got {type(key).__name__}")
                num = id_to_int(key)
                if names.get(num, key) != key or self._ids.get(num, key) != key:
                    other = names.get(num) or self._ids[num]
                    raise ValueError(f"63-bit id collision between {key!r} and {other!r}")
                names[num] = key
                last[num] = row
            if not last:
                return
            nums = np.fromiter(last.keys(), dtype=np.int64, count=len(last))
            rows = x[np.fromiter(last.values(), dtype=np.int64, count=len(last))]
            self._remove_nums(np.array([n for n in nums if int(n) in self._ids], dtype=np.int64))
            self._index.add_with_ids(rows, nums)
            if self._scan is not None:
                self._scan.add(rows, nums)
            self._ids.update(names)
            if self.kind == "exact" and len(self._ids) >= self.ann_threshold:
                self._switch_to_ivf(tune_queries)

    def remove(self, ids: Iterable[str]) -> int:
        """Delete ids (unknown ones are ignored); returns how many were removed."""
        if isinstance(ids, str):
            raise TypeError("ids must be an iterable of strings")
        with self._lock:
            self._writable()
            nums = {id_to_int(k) for k in ids if k in self}
            arr = np.fromiter(nums, dtype=np.int64, count=len(nums))
            self._remove_nums(arr)
            for n in nums:
                del self._ids[n]
            return len(nums)

    def copy(self) -> VectorIndex:
        """An independent copy in this process's memory: a writer changes the copy while searches keep
        reading this one (search/catalogview.py swaps whole views, never edits one in place)."""
        with self._lock:
            out = VectorIndex(self.dim, ann_threshold=self.ann_threshold, target_recall=self.target_recall)
            out.kind, out.nprobe, out._ids, out.tuning = self.kind, self.nprobe, dict(self._ids), dict(self.tuning)
            out.half_scan = self.half_scan
            if self.kind == "exact":
                out._index = faiss.clone_index(self._index)
                out._scan = HalfScan(out._index) if self.half_scan else None
                return out
            nums, vecs = self._stored()  # read through the mapping when mapped: works for any list storage
            ivf = faiss.IndexIVFFlat(faiss.clone_index(self._index.quantizer), self.dim, self._index.nlist,
                                     faiss.METRIC_INNER_PRODUCT)
            ivf.is_trained = True
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
            if len(nums):
                ivf.add_with_ids(np.ascontiguousarray(vecs), nums)
            ivf.nprobe = self.nprobe
            out._index = ivf
            out._scan = HalfScan(ivf) if self.half_scan else None
            return out

    def _writable(self) -> None:
        """Before the first change to a memory-mapped index: copy its lists into this process's memory
        (from the mapping itself, so a generation pruned meanwhile does not matter)."""
        if self._scan is not None:
            self._scan.writable()
        if not self.mapped:
            return
        lists_into_memory(self._index)
        self.mapped = False

    def _remove_nums(self, nums: np.ndarray) -> None:
        if nums.size == 0:
            return
        nums = np.ascontiguousarray(nums, dtype=np.int64)
        if self.kind == "ivf":
            # The IVF hashtable direct map only accepts an explicit id array.
            sel: Any = faiss.IDSelectorArray(nums.size, faiss.swig_ptr(nums))
        else:
            sel = faiss.IDSelectorBatch(nums.size, faiss.swig_ptr(nums))  # O(1) membership for IDMap2's scan
        removed = self._index.remove_ids(sel)
        if removed != nums.size:
            raise RuntimeError(f"faiss removed {removed} of {nums.size} vectors; index and id map disagree")
        if self._scan is not None and self._scan.remove(sel) != nums.size:
            raise RuntimeError("the fp16 scan copy and the float index disagree on what they hold")

    # -- IVF ----------------------------------------------------------------------------------------

    def _switch_to_ivf(self, tune_queries: Callable[[], np.ndarray] | None = None) -> None:
        nums, vecs = self._stored()
        n = len(nums)
        nlist = int(min(65536, max(64, round(4 * math.sqrt(n)))))
        nlist = max(1, min(nlist, n // _MIN_POINTS_PER_LIST))
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.spherical = True  # unit-norm centroids suit inner product on unit vectors
        sample = np.random.default_rng(0).choice(n, size=min(n, 64 * nlist), replace=False)
        ivf.train(vecs[np.sort(sample)])
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct(id) and remove by id
        ivf.add_with_ids(vecs, nums)
        self._index, self.kind = ivf, "ivf"
        self._scan = HalfScan(ivf) if self.half_scan else None
        queries = tune_queries() if tune_queries is not None else None
        self.tune_nprobe(queries, _stored=(nums, vecs))

    def tune_nprobe(self, queries: np.ndarray | None = None, *,
                    _stored: tuple[np.ndarray, np.ndarray] | None = None) -> int:
        """Smallest nprobe (of `_NPROBES`) whose recall@10 against exact (ties counted) meets the target.

        `queries`: query-like vectors (texts from the catalog encoded as queries, search/tunequeries.py);
        the target is then `target_recall` itself. Without them, a tuning query is the normalised sum of 3
        random stored vectors, on the data's manifold but easier than real queries, so the goal is
        `_RECALL_MARGIN` above the target. (Noisy copies of stored vectors, cosine ~0.98 to their source, are
        easier still: tuned on them, nprobe came out at 2 of 1,265 lists at 100k capabilities, where real
        queries then found 73% of their top 10.)
        """
        with self._lock:
            if self.kind != "ivf":
                return 0
            nums, vecs = self._stored() if _stored is None else _stored
            if queries is not None and len(queries):
                queries, goal, source = _unit_rows(queries, self.dim), self.target_recall, "queries"
            else:
                rng = np.random.default_rng(1)
                picks = rng.integers(len(vecs), size=(min(_TUNE_QUERIES, len(vecs)), _TUNE_MIX))
                queries = _unit_rows(vecs[picks].sum(axis=1), self.dim)
                goal, source = min(1.0, self.target_recall + _RECALL_MARGIN), "mixtures"
            k = min(10, len(self))
            truth_s, truth = self._exact_search(queries, k, (nums, vecs))
            nlist = self.nlist
            recall = 1.0
            for p in [p for p in _NPROBES if p < nlist] + [nlist]:
                self._index.nprobe = p
                found_s, found = self._index.search(queries, k)
                recall = _recall(found, found_s, truth, truth_s)
                if recall >= goal:
                    break
            self.nprobe = p
            self.tuning = {"on": source, "queries": int(len(queries)), "goal": round(goal, 4),
                           "recall": round(recall, 4)}
            return p

    # -- queries ------------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Top-k (id, cosine) per query row, best first; fewer than k when the index holds fewer."""
        named = self._ids.get  # one lookup each: an id removed meanwhile is left out, never a KeyError
        return [[(name, s) for n, s in zip(nums, sims, strict=True) if (name := named(n)) is not None]
                for nums, sims in self.search_numbered(queries, k)]

    def search_numbered(self, queries: np.ndarray, k: int) -> list[tuple[list[int], list[float]]]:
        """Per query row FAISS's int ids (`numbered()`; -1 past the stored count) and cosines, best first: no
        name lookup per hit, a cache miss apiece at 100k (search/catalogview.py `hit_owners`)."""
        q = _unit_rows(queries, self.dim)
        with self._lock:
            k = min(int(k), len(self._ids))
            if k <= 0:
                return [([], []) for _ in range(q.shape[0])]
            if self.kind == "ivf":
                self._index.nprobe = self.nprobe
            threads = faiss.omp_get_max_threads()  # one query gains nothing from an OpenMP team (FAISS splits
            faiss.omp_set_num_threads(1 if q.shape[0] == 1 else threads)  # queries), and waits for idle members
            try:
                scores, nums = self._scan_search(q, k)
            finally:
                faiss.omp_set_num_threads(threads)
            return list(zip(nums.tolist(), scores.tolist(), strict=True))  # tolist(): ints and floats at once

    def numbered(self) -> Mapping[int, str]:  # FAISS's int id of every stored id (read only)
        return MappingProxyType(self._ids)

    def _scan_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's (scores, int ids): from the fp16 scan re-scored in float32 when there is one."""
        if self._scan is not None:
            return self._scan.search(self._index, q, k)
        return self._index.search(q, k)

    def reconstruct(self, key: str) -> np.ndarray:
        """The stored (normalised) vector for an id; KeyError if absent."""
        with self._lock:
            if key not in self:
                raise KeyError(key)
            return np.asarray(self._index.reconstruct(id_to_int(key)), dtype=np.float32)

    def measure_recall(self, queries: np.ndarray, k: int = 10) -> float:
        """recall@k of `search` against exact brute force over the stored vectors (1.0 for exact indexes)."""
        q = _unit_rows(queries, self.dim)
        with self._lock:
            k = min(int(k), len(self._ids))
            if k <= 0:
                return 1.0
            if self.kind == "ivf":
                self._index.nprobe = self.nprobe
            found_s, found = self._index.search(q, k)
            truth_s, truth = self._exact_search(q, k)
            return _recall(found, found_s, truth, truth_s)

    def _exact_search(self, q: np.ndarray, k: int,
                      stored: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force top-k (similarities, int ids) over the stored vectors: the ground truth for recall.

        Blocked numpy matmul: several times faster than a throwaway IndexFlatIP here, and bounded memory.
        """
        nums, vecs = self._stored() if stored is None else stored
        k = min(k, len(nums))
        best_s = np.full((q.shape[0], 0), -np.inf, np.float32)
        best_i = np.empty((q.shape[0], 0), np.int64)
        for start in range(0, len(nums), _EXACT_BLOCK):
            scores = q @ vecs[start:start + _EXACT_BLOCK].T
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if scores.shape[1] > k else \
                np.broadcast_to(np.arange(scores.shape[1]), (q.shape[0], scores.shape[1]))
            best_s = np.hstack([best_s, np.take_along_axis(scores, top, axis=1)])
            best_i = np.hstack([best_i, nums[start:start + _EXACT_BLOCK][top]])
            keep = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
            best_s = np.take_along_axis(best_s, keep, axis=1)
            best_i = np.take_along_axis(best_i, keep, axis=1)
        return best_s, best_i

    def _stored_ids(self) -> np.ndarray:
        return self._stored(with_vectors=False)[0]

    def _stored(self, *, with_vectors: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """All (int ids, vectors) in the FAISS index, in one consistent order."""
        empty = np.empty((0, self.dim), np.float32)
        if self.kind == "exact":
            nums = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            if not with_vectors or nums.size == 0:
                return nums, empty
            flat = faiss.downcast_index(self._index.index)
            return nums, flat.reconstruct_n(0, flat.ntotal).astype(np.float32)
        invlists = self._index.invlists
        id_parts, vec_parts = [], []
        for lst in range(self._index.nlist):
            size = invlists.list_size(lst)
            if size == 0:
                continue
            id_parts.append(faiss.rev_swig_ptr(invlists.get_ids(lst), size).copy())
            if with_vectors:
                codes = faiss.rev_swig_ptr(invlists.get_codes(lst), size * invlists.code_size).copy()
                vec_parts.append(codes.view(np.float32).reshape(size, self.dim))
        nums = np.concatenate(id_parts).astype(np.int64) if id_parts else np.empty(0, np.int64)
        vecs = np.concatenate(vec_parts) if vec_parts else empty
        return nums, vecs

    # -- persistence --------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write index, id map, then meta, each as temp + fsync + rename; the meta's checksums bind the three.

        All temps are complete before the first rename, so a crash while writing leaves the old set intact;
        a crash between renames leaves a set that `load` rejects as IndexCorrupt rather than mixes.
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        temps: list[Path] = []
        try:
            with self._lock:
                self._writable()  # a mapped index would be written in FAISS's on-disk-lists format
                index_tmp = _temp_path(d, INDEX_FILE, temps)
                faiss.write_index(self._index, str(index_tmp))
                half_tmp = None
                if self._scan is not None and self.kind == "ivf":  # saved to be mapped: shared by the workers
                    half_tmp = _temp_path(d, HALF_FILE, temps)
                    faiss.write_index(self._scan.codes, str(half_tmp))
                ids_blob = json.dumps({str(n): s for n, s in self._ids.items()}, ensure_ascii=False,
                                      separators=(",", ":")).encode()
                meta = {
                    "format": FORMAT, "dim": self.dim, "kind": self.kind, "nprobe": self.nprobe,
                    "nlist": self.nlist, "count": len(self._ids), "ann_threshold": self.ann_threshold,
                    "target_recall": self.target_recall, "tuning": self.tuning, "files": {},
                }
            index_sha, index_size = fsync_and_hash(index_tmp)
            meta["files"] = {
                INDEX_FILE: {"size": index_size, "sha256": index_sha},
                IDS_FILE: {"size": len(ids_blob), "sha256": hashlib.sha256(ids_blob).hexdigest()},
            }
            if half_tmp is not None:
                half_sha, half_size = fsync_and_hash(half_tmp)
                meta["files"][HALF_FILE] = {"size": half_size, "sha256": half_sha}
            ids_tmp = _write_temp(d, IDS_FILE, ids_blob, temps)
            meta_tmp = _write_temp(d, META_FILE, json.dumps(meta, indent=1).encode(), temps)
            os.replace(index_tmp, d / INDEX_FILE)
            if half_tmp is not None:
                os.replace(half_tmp, d / HALF_FILE)
            os.replace(ids_tmp, d / IDS_FILE)
            os.replace(meta_tmp, d / META_FILE)
            if half_tmp is None:  # an earlier save's copy: the meta no longer lists it
                with contextlib.suppress(FileNotFoundError):
                    (d / HALF_FILE).unlink()
            fsync_dir(d)
        finally:
            for tmp in temps:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, mmap: bool = False,
             half_scan: bool = False) -> VectorIndex:
        """Load a saved index, verifying sizes, checksums and id consistency; IndexCorrupt on any mismatch.

        With `mmap`, an IVF index's lists (the vectors: 1,536 bytes per capability) are memory-mapped
        read-only from the file instead of copied into the process, so the gunicorn workers of a host
        share one copy in the page cache; the first change a process makes copies them (`_writable`).
        A mismatch caused by another process saving mid-read is retried rather than reported.
        `half_scan`: the fp16 scan copy (search/halfscan.py). An IVF saved with one (`HALF_FILE`, listed and
        checksummed in the meta) loads it, memory-mapped with the float lists when `mmap`; otherwise (an exact
        index, a data dir saved without it, a copy that does not check out) it is built from the loaded
        vectors in this process's memory (~0.1 s at 100k capabilities).
        """
        d = Path(directory)
        for attempt in range(3):
            before = _stat_key(d / META_FILE)
            try:
                return cls._load_once(d, mmap, half_scan)
            except IndexCorrupt:
                if attempt == 2 or before is None or _stat_key(d / META_FILE) == before:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _load_once(cls, d: Path, mmap: bool = False, half_scan: bool = False) -> VectorIndex:
        try:
            meta = json.loads((d / META_FILE).read_bytes())
            mapped = mmap and isinstance(meta, dict) and meta.get("kind") == "ivf"
            index_bytes = b"" if mapped else (d / INDEX_FILE).read_bytes()
            index_sum = _file_sum(d / INDEX_FILE) if mapped else (hashlib.sha256(index_bytes).hexdigest(),
                                                                  len(index_bytes))
            ids_bytes = (d / IDS_FILE).read_bytes()
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(f"cannot read index files in {d}: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise IndexCorrupt(f"{d / META_FILE}: unknown format")
        try:
            files = meta["files"]
            sums = {INDEX_FILE: index_sum, IDS_FILE: (hashlib.sha256(ids_bytes).hexdigest(), len(ids_bytes))}
            for name, (sha, size) in sums.items():
                want = files[name]
                if size != want["size"]:
                    raise IndexCorrupt(f"{d / name}: {size} bytes, meta says {want['size']}")
                if sha != want["sha256"]:
                    raise IndexCorrupt(f"{d / name}: checksum mismatch")
            dim, kind, count, nprobe = int(meta["dim"]), meta["kind"], int(meta["count"]), int(meta["nprobe"])
            threshold, target = int(meta["ann_threshold"]), float(meta["target_recall"])
            out = cls(dim, ann_threshold=threshold, target_recall=target)
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorrupt(f"{d / META_FILE}: malformed meta ({exc!r})") from exc
        try:
            if mapped:
                index = faiss.read_index(str(d / INDEX_FILE), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
            else:
                index = faiss.deserialize_index(np.frombuffer(index_bytes, dtype=np.uint8))
            raw_ids = json.loads(ids_bytes)
            ids = {int(n): s for n, s in raw_ids.items()}
        except (RuntimeError, ValueError, AttributeError) as exc:
            raise IndexCorrupt(f"{d}: unreadable index ({exc})") from exc
        expected = {"exact": faiss.IndexIDMap2, "ivf": faiss.IndexIVFFlat}.get(kind)
        if expected is None or not isinstance(index, expected):
            raise IndexCorrupt(f"{d}: kind {kind!r} does not match {type(index).__name__}")
        if index.d != dim or index.ntotal != count or len(ids) != count:
            raise IndexCorrupt(f"{d}: dim/count mismatch between meta, index and id map")
        if any(not isinstance(s, str) or id_to_int(s) != n for n, s in ids.items()):
            raise IndexCorrupt(f"{d / IDS_FILE}: id map does not match its hashes")
        out._index, out.kind, out.nprobe, out._ids, out.mapped = index, kind, nprobe, ids, mapped
        out.tuning = meta.get("tuning") if isinstance(meta.get("tuning"), dict) else {}
        if mapped:
            # FAISS reads mapped lists as on-disk lists, and before every search it starts threads (32 by
            # default) to touch the probed lists' pages: that doubled a search at 100k capabilities (3.1 vs
            # 1.5 ms) for pages that are in the page cache anyway. Without them a mapped search costs what
            # an in-memory one does, with the same results.
            faiss.downcast_InvertedLists(index.invlists).prefetch_nthread = 0
        stored = out._stored_ids()
        if stored.size != count or set(stored.tolist()) != ids.keys():
            raise IndexCorrupt(f"{d}: ids in {INDEX_FILE} differ from {IDS_FILE}")
        if kind == "ivf":
            index.nprobe = nprobe
        if half_scan:
            out.half_scan = True
            out._scan = _saved_half_scan(d, files.get(HALF_FILE), index, mapped) or HalfScan(index)
        return out


def _saved_half_scan(d: Path, want: Any, index: Any, mapped: bool) -> HalfScan | None:
    """The saved fp16 copy of an IVF, when the meta lists it and it checks out (size, checksum, shape);
    memory-mapped with the float lists. None otherwise (a data dir saved before it existed, or with the
    setting off): the caller builds it from the float vectors, so a bad copy costs time, never answers."""
    path = d / HALF_FILE
    if not isinstance(want, dict) or not isinstance(index, faiss.IndexIVF):
        return None
    try:
        before = _stat_key(path)
        if mapped:
            got = _file_sum(path)
        else:
            blob = path.read_bytes()
            got = hashlib.sha256(blob).hexdigest(), len(blob)
        if got != (want.get("sha256"), want.get("size")):
            return None
        codes = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY) if mapped else \
            faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8))
        if _stat_key(path) != before:  # replaced by another save meanwhile: what is mapped may not be what was hashed
            return None
    except (OSError, RuntimeError, ValueError):
        return None
    return HalfScan.saved(codes, index, mapped)


def _file_sum(path: Path) -> tuple[str, int]:
    """(sha256, size) of a file, read in chunks: a mapped index is never held in memory whole."""
    with path.open("rb") as f:
        return _hash_chunks(f)


def _hash_chunks(f: BinaryIO) -> tuple[str, int]:
    """(sha256, size) of what is left in an open file, 1 MB at a time."""
    h = hashlib.sha256()
    size = 0
    while chunk := f.read(1 << 20):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _temp_path(directory: Path, name: str, temps: list[Path]) -> Path:
    """A unique temp name next to the target, so concurrent savers never share one."""
    fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    os.chmod(path, 0o644)  # mkstemp's 0600 would lock other service users out of the renamed file
    temps.append(Path(path))
    return Path(path)


def fsync_and_hash(path: Path) -> tuple[str, int]:
    """Hash what actually reached the file (not what we meant to write) and flush it to disk."""
    with path.open("rb+") as f:
        digest = _hash_chunks(f)
        os.fsync(f.fileno())
    return digest


def _write_temp(directory: Path, name: str, data: bytes, temps: list[Path]) -> Path:
    tmp = _temp_path(directory, name, temps)
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return tmp
