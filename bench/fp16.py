"""The capability index's search with and without the fp16 scan (search/halfscan.py), side by side: time per
search at the pipeline's depth, identity of the answers with the float32 scan, recall@10 against exact.

    python -m bench.profile --fp16-ab                  # the bundled catalog (exact index)
    python -m bench.profile --fp16-ab --size 100000    # the synthetic 100k data dir (IVF, tuned nprobe)

The data dir's saved index is loaded as it is served (an IVF's lists memory-mapped), once plain and once with
the fp16 copy, plus variants with other candidate margins (the fp16 scan's k + margin re-scored exactly).
Real queries (bench.perf `queries()`, embedded by the serving encoder) are searched one at a time through
`VectorIndex.search` (one thread, as a served search runs it) at k=200, the variants alternating per query,
each variant over its own copy of the vectors. Each query is timed twice per variant: back to back (its
vectors partly still in the CPU caches from the previous search), and "served": just after the encoder's
forward pass on the query text, as a served search runs, whose model weights evict the vectors first.
"""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager

import numpy as np

from bench.common import machine, table

DEPTH = 200
MARGINS = (4, 64)  # besides the default (halfscan.margin): a narrower and a wider one


@contextmanager
def _margin(value: int | None):
    """halfscan.margin fixed at `value` (None: the default) while a variant searches."""
    from search import halfscan

    real = halfscan.margin
    if value is not None:
        halfscan.margin = lambda k: value
    try:
        yield
    finally:
        halfscan.margin = real


def run(args, log) -> str:
    from bench.perf import scratch
    from bench.profile import source_dir

    source = source_dir(args.size)
    folder = source / (source / "CURRENT").read_text().strip()
    work = scratch("mg-fp16-ab-")
    try:
        return _run(args, log, source, folder, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args, log, source, folder, work) -> str:
    from bench.perf import load_average, percentile, queries
    from search import halfscan
    from search.embedder import Embedder
    from search.index import VectorIndex, _recall, _unit_rows, id_to_int

    plain = VectorIndex.load(folder, mmap=True)
    half = VectorIndex.load(folder, mmap=True, half_scan=True)  # the data dir has no fp16 copy: built here
    started = time.perf_counter()
    halfscan.HalfScan(plain.faiss_index)  # what that load added
    built_s = time.perf_counter() - started
    default = halfscan.margin(DEPTH)
    variants = {"float32 scan (before)": (plain, None),
                f"fp16 scan + exact re-rank, margin {default} (default), fp16 copy built at load": (half, None)}
    if half.kind == "ivf":  # saved with its fp16 copy, which is then mapped like the float lists
        VectorIndex.load(folder, half_scan=True).save(work / "saved")  # (saving unmaps what it saves)
        saved = VectorIndex.load(work / "saved", mmap=True, half_scan=True)
        assert saved._scan.mapped
        variants[f"fp16 scan + exact re-rank, margin {default}, fp16 copy saved and memory-mapped"] = (saved, None)
    for m in MARGINS:  # each variant its own copy: one searched just before by another would be in the CPU cache
        variants[f"fp16 scan + exact re-rank, margin {m}"] = (VectorIndex.load(folder, mmap=True, half_scan=True), m)
    texts = queries()[:args.searches]
    log(f"{len(plain):,} vectors ({plain.kind}), embedding {len(texts)} queries")
    embedder = Embedder()
    qv = _unit_rows(embedder.encode(texts), plain.dim)
    truth_s, truth = plain._exact_search(qv, 10)
    rows_out = []
    answers: dict[str, list] = {}
    recall: dict[str, float] = {}
    fallbacks: dict[str, int] = {}
    for name, (index, m) in variants.items():
        with _margin(m):
            before = _fallback_count(index)
            got = [index.search(q[None, :], DEPTH)[0] for q in qv]
            fallbacks[name] = _fallback_count(index) - before
        answers[name] = got
        found = np.array([[id_to_int(i) for i, _ in r[:10]] for r in got])
        found_s = np.array([[s for _, s in r[:10]] for r in got], np.float32)
        recall[name] = _recall(found, found_s, truth, truth_s)
    times: dict[str, list[float]] = {name: [] for name in variants}
    served: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for rep in range(args.repeats):
        for j, q in enumerate(qv):
            for name in names[(j + rep) % len(names):] + names[:(j + rep) % len(names)]:
                index, m = variants[name]
                with _margin(m):
                    start = time.perf_counter()
                    index.search(q[None, :], DEPTH)
                    times[name].append(1000 * (time.perf_counter() - start))
                    embedder._encode_uncached([texts[j]])  # as served: the model's forward pass comes first,
                    start = time.perf_counter()  # and its weights push the vectors out of the CPU caches
                    index.search(q[None, :], DEPTH)
                    served[name].append(1000 * (time.perf_counter() - start))
    base = answers[names[0]]
    p50_base, served_base = percentile(times[names[0]], 50), percentile(served[names[0]], 50)
    for name in names:
        got, t, after = answers[name], times[name], served[name]
        top10 = np.mean([[i for i, _ in a[:10]] == [i for i, _ in b[:10]] for a, b in zip(got, base, strict=True)])
        rows_out.append({
            "variant": name,
            "p50 ms": round(percentile(t, 50), 3), "p90 ms": round(percentile(t, 90), 3),
            "mean ms": round(float(np.mean(t)), 3),
            "p50 vs float32": f"{percentile(t, 50) / p50_base:.2f}x",
            "served: p50 ms": round(percentile(after, 50), 3),
            "served: mean ms": round(float(np.mean(after)), 3),
            "served: p50 vs float32": f"{percentile(after, 50) / served_base:.2f}x",
            "top-200 identical (ids and scores)": f"{np.mean([a == b for a, b in zip(got, base, strict=True)]):.4f}",
            "top-10 ids identical": f"{top10:.4f}",
            "recall@10 vs exact": round(recall[name], 4),
            "float32 fallbacks": f"{fallbacks[name]}/{len(qv)}" if name != names[0] else "",
        })
    mb = 1 << 20
    float_mb = len(plain) * plain.dim * 4 / mb
    ivf = f", nlist {plain.nlist}, nprobe {plain.nprobe}" if plain.kind == "ivf" else ""
    head = (f"`python -m bench.profile --fp16-ab{f' --size {args.size}' if args.size else ''}` over {source.name} "
            f"({len(plain):,} vectors, {plain.kind}{ivf}"
            f", {'lists memory-mapped' if plain.mapped else 'in memory'}); {len(qv)} real queries x {args.repeats}, "
            f"k={DEPTH}, one thread, alternating per query; {machine()}, load average {load_average()} (loaded: "
            f"shared CPU), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. fp16 copy: "
            f"{half._scan.nbytes / mb:.0f} MB beside {float_mb:.0f} MB of float32 vectors, built in {built_s:.2f} s "
            f"at load when the data dir has none")
    return "\n".join([head, "", table(rows_out, list(rows_out[0]))])


def _fallback_count(index) -> int:
    scan = index._scan
    return scan.fallbacks if scan is not None else 0
