"""A half-precision (fp16) copy of an index's vectors to scan, its candidates re-scored with the float32 ones.

Why: a search's FAISS scan is memory-bandwidth bound (issue 32); fp16 codes are half the bytes of float32,
so the scan reads half as much. The answer stays the float32 index's, and this is checked per query, not
hoped for: rounding a unit vector's components to fp16 (relative error at most 2**-11 each) moves its inner
product with a unit query by at most `error_bound(d)` (Cauchy-Schwarz). So with the fp16 scan's top k + margin
re-scored exactly, when the k-th exact score is above the last candidate's fp16 score + that bound, no
vector left out can belong in the top k; otherwise (rare, see `margin`), and when vectors tie across the
k-th place, that query is searched in float32.

The float32 index stays the storage (reconstruct, save and load, memory-mapped IVF lists, recall): this copy
follows its every add and remove and is built from it when loaded (an IVF's is saved beside it and
memory-mapped like its lists, so a host's workers share it: search/index.py `HALF_FILE`).

- Exact kind: an `IndexIDMap` over an `IndexScalarQuantizer` whose rows stay aligned with the rows of the
  float `IndexIDMap2(IndexFlatIP)` (same adds, same removes, both compacting in order), so its row labels
  index the float vectors directly.
- IVF kind: an `IndexIVFScalarQuantizer` over a copy of the same centroids, not by residual, each vector
  in the same list as in the float IVF, so one nprobe probes the same lists in both.

Scores are computed with FAISS's own `fvec_inner_product` (as IndexFlatIP and IndexIVFFlat compute them):
bit-identical, and ties are ordered as FAISS orders them (the larger row of a flat index, the larger id of
an IVF, first).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faiss
import numpy as np


def error_bound(d: int) -> float:
    """Largest difference between the fp16 scan's score and FAISS's float32 one, for unit vectors of d
    dimensions: fp16 rounding (2**-11 relative per component, round to nearest: at most 2**-11 in all by
    Cauchy-Schwarz), its subnormal range (2**-25 absolute per component, at most sqrt(d) in all) and float32
    summation in both scans (d * 2**-24 each, worst case, with 10% to spare). 5.4e-4 at d = 384, where the
    differences observed are ~4e-5."""
    return 2.0 ** -11 + d ** 0.5 * 2.0 ** -25 + 2.2 * d * 2.0 ** -24


def margin(k: int) -> int:
    """Candidates scanned beyond k. Chosen by measurement (bench/fp16.py): at depth 200, 16 extra made the
    fallback to float32 rare at 15k and 100k capabilities (the k-th score must clear the last candidate's by
    error_bound); a wider margin costs heap work and re-scoring for every query."""
    return max(8, k // 12)


@contextmanager
def one_thread() -> Iterator[None]:
    """FAISS's OpenMP loops on this thread run on one thread. Encoding fp16 codes (an add, a build) is an
    OpenMP loop; after a multi-threaded one, GNU OpenMP hangs a forked child at its next one (a gunicorn
    worker, a forked writer: seen in tests/test_reliability.py). The float32 index's adds have no such loop,
    so the fp16 copy must not add one; a one-thread loop never starts the thread pool."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def lists_into_memory(ivf: Any) -> None:
    """Replace a memory-mapped IVF's lists with a copy in this process's memory (read through the mapping,
    so a file pruned meanwhile does not matter): before the first change to a mapped index."""
    src = ivf.invlists
    dst = faiss.ArrayInvertedLists(ivf.nlist, src.code_size)
    for lst in range(ivf.nlist):
        size = src.list_size(lst)
        if size:
            dst.add_entries(lst, size, src.get_ids(lst), src.get_codes(lst))
    ivf.replace_invlists(dst, True)
    dst.this.disown()  # the index owns the lists now


class HalfScan:
    """The fp16 scan index beside a float32 `VectorIndex` FAISS index (exact IDMap2-Flat or IVF-Flat)."""

    def __init__(self, float_index: Any) -> None:
        with one_thread():
            self._build(float_index)

    def _build(self, float_index: Any) -> None:
        self.fallbacks = 0  # queries whose answer was not certified and came from the float32 index
        self.mapped = False  # True while an IVF's fp16 lists are a read-only memory map of the saved file
        self.ivf = isinstance(float_index, faiss.IndexIVF)
        if self.ivf:
            quantizer = faiss.clone_index(float_index.quantizer)
            codes = faiss.IndexIVFScalarQuantizer(quantizer, float_index.d, float_index.nlist,
                                                  faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT,
                                                  False)
            codes.is_trained = True  # fp16 needs no training; the centroids are the float index's
            self._own = quantizer  # the IVF does not own it: keep it alive as long as the IVF
            self.codes = codes
            self._copy_lists(float_index)
        else:
            self.codes = faiss.IndexIDMap(faiss.IndexScalarQuantizer(float_index.d, faiss.ScalarQuantizer.QT_fp16,
                                                                     faiss.METRIC_INNER_PRODUCT))
            n = float_index.ntotal
            if n:
                flat = faiss.downcast_index(float_index.index)
                ids = faiss.rev_swig_ptr(float_index.id_map.data(), n).copy()
                self.codes.add_with_ids(flat.reconstruct_n(0, n), ids)

    def _copy_lists(self, float_index: Any) -> None:
        """Each list's vectors, encoded, into the same list (re-assigning them could differ on a near tie)."""
        src, d = float_index.invlists, float_index.d
        sq = self.codes.sq
        for lst in range(float_index.nlist):
            size = src.list_size(lst)
            if not size:
                continue
            ids = faiss.rev_swig_ptr(src.get_ids(lst), size).copy()
            vecs = faiss.rev_swig_ptr(src.get_codes(lst), size * src.code_size).copy().view(np.float32)
            codes = sq.compute_codes(vecs.reshape(size, d))
            self.codes.invlists.add_entries(lst, size, faiss.swig_ptr(ids), faiss.swig_ptr(codes))
        self.codes.ntotal = float_index.ntotal
        self.codes.set_direct_map_type(faiss.DirectMap.Hashtable)  # removal by id, as the float IVF does

    @classmethod
    def saved(cls, codes: Any, float_index: Any, mapped: bool) -> HalfScan | None:
        """The scan over a saved fp16 IVF (`codes`, read by `VectorIndex.load`), or None when it does not
        match `float_index` (then it is built from the float vectors instead)."""
        if not (isinstance(codes, faiss.IndexIVFScalarQuantizer) and isinstance(float_index, faiss.IndexIVF)):
            return None
        if (codes.d, codes.nlist, codes.ntotal, codes.metric_type) != \
                (float_index.d, float_index.nlist, float_index.ntotal, faiss.METRIC_INNER_PRODUCT) or \
                codes.by_residual or codes.sq.qtype != faiss.ScalarQuantizer.QT_fp16 or \
                codes.direct_map.type != faiss.DirectMap.Hashtable:
            return None
        src, dst = float_index.invlists, codes.invlists
        for lst in range(codes.nlist):  # the same ids in the same lists (the codes' values: the meta's checksum)
            size = src.list_size(lst)
            if dst.list_size(lst) != size:
                return None
            if size and not np.array_equal(faiss.rev_swig_ptr(src.get_ids(lst), size),
                                           faiss.rev_swig_ptr(dst.get_ids(lst), size)):
                return None
        out = cls.__new__(cls)
        out.fallbacks, out.mapped, out.ivf, out.codes = 0, mapped, True, codes
        if mapped:  # as for the float lists: no per-search prefetch threads for pages in the page cache
            faiss.downcast_InvertedLists(codes.invlists).prefetch_nthread = 0
        return out

    def writable(self) -> None:
        """Before the first change: mapped lists are copied into this process's memory."""
        if self.mapped:
            lists_into_memory(self.codes)
            self.mapped = False

    @property
    def nbytes(self) -> int:
        """Bytes of codes held (2 per dimension per vector), for docs and diagnostics."""
        return int(self.codes.ntotal) * 2 * int(self.codes.d)

    def add(self, vectors: np.ndarray, nums: np.ndarray) -> None:
        """Mirror of the float index's `add_with_ids` (same rows, same ids, same order)."""
        with one_thread():
            self.codes.add_with_ids(vectors, nums)

    def remove(self, selector: Any) -> int:
        """Mirror of the float index's `remove_ids` with the same selector; how many it removed."""
        with one_thread():
            return int(self.codes.remove_ids(selector))

    def search(self, float_index: Any, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) as `float_index.search(q, k)` returns them, read through the fp16 codes. For an IVF,
        `float_index.nprobe` is the one used."""
        m = k + margin(k)
        if self.ivf:
            self.codes.nprobe = float_index.nprobe
            approx, labels = self.codes.search(q, m)
            exact = np.full(labels.shape, -np.inf, np.float32)
            for row, found in enumerate(labels):
                n = m if found[-1] >= 0 else int((found >= 0).sum())  # FAISS puts the missing (-1) last
                if n:
                    vecs = float_index.reconstruct_batch(found[:n])
                    faiss.fvec_inner_products_ny(faiss.swig_ptr(exact[row]), faiss.swig_ptr(q[row]),
                                                 faiss.swig_ptr(vecs), q.shape[1], n)
        else:
            approx, labels = faiss.downcast_index(self.codes.index).search(q, m)  # rows of the float index
            exact = np.empty(labels.shape, np.float32)
            flat = faiss.downcast_index(float_index.index)
            faiss.fvec_inner_products_by_idx(faiss.swig_ptr(exact), faiss.swig_ptr(q), flat.get_xb(),
                                             faiss.swig_ptr(labels), q.shape[1], q.shape[0], m)
        # The best k by exact score, ordered as FAISS orders them (ties: larger row / id first). Which of the
        # vectors tied across the k-th place (duplicate texts) FAISS keeps depends on its scan order and its
        # heap or reservoir; such a query is left to the float32 index.
        order = np.lexsort((-labels, -exact), axis=1)
        ranked = np.take_along_axis(exact, order, axis=1)
        scores, after = ranked[:, :k], ranked[:, k]
        keys = np.take_along_axis(labels, order[:, :k], axis=1)
        # Certified when the scan returned fewer than m (it saw every vector it was asked to scan) or the k-th
        # exact score clears every unseen vector's highest possible score (then every vector tied with it is
        # among the candidates too).
        full = labels[:, -1] >= 0
        unsure = (full & ~(scores[:, -1] > approx[:, -1] + error_bound(q.shape[1]))) | (after == scores[:, -1])
        if not self.ivf:
            n = float_index.ntotal
            id_map = faiss.rev_swig_ptr(float_index.id_map.data(), n) if n else np.empty(1, np.int64)
            keys = id_map[keys] if keys.min() >= 0 else np.where(keys >= 0, id_map[np.maximum(keys, 0)], -1)
        if unsure.any():
            self.fallbacks += int(unsure.sum())
            s, i = float_index.search(np.ascontiguousarray(q[unsure]), k)
            scores[unsure], keys[unsure] = s, i
        return scores, keys
