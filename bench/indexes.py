"""Exact scan against IVF and HNSW over the same stored vectors, at the engine's depth, with recall@10 of real
queries against exact: which index meets a recall floor of 0.99, and what it costs per query.

    python -m bench.profile --index-ab --size 100000
    python -m bench.profile --index-ab               # the bundled catalog

Real queries (both dev sets, embedded by the serving encoder) are split in two halves: the first tunes each
approximate index (the smallest IVF nprobe, HNSW efSearch, whose recall@10 reaches the floor on it), the
second reports recall@10 (ties counted, as `search.index` counts them) and the search time at k=200 (the
depth `search/pipeline.py` asks for), one query at a time on one thread (one variant on two), the variants
alternating per query. The served rows are the data dir's own index as built (nprobe tuned at build on
query-like catalog texts, search/tunequeries.py), in memory and memory-mapped.
"""

from __future__ import annotations

import shutil
import time

import numpy as np

from bench.common import load_devset, machine, table

FLOOR = 0.99
DEPTH = 200


def _recall(found_s, found, truth_s, truth) -> float:
    from search.index import _recall as recall

    return recall(found, found_s, truth, truth_s)


def _tune(index, queries, truth_s, truth, knob: str, values) -> int:
    """The smallest knob value whose recall@10 on `queries` reaches FLOOR (the largest tried otherwise)."""
    for v in values:
        setattr(index, knob, v) if knob == "nprobe" else setattr(index.hnsw, knob, v)
        s, i = index.search(queries, 10)
        if _recall(s, i, truth_s, truth) >= FLOOR:
            return v
    return v


def tuning_table(served, folder, real_q: np.ndarray, nums: np.ndarray, vecs: np.ndarray) -> str:
    """recall@10 of the served IVF per nprobe, for the held-out real queries and for each kind of tuning
    query the build could use: which one needs the nprobe real queries need (search/tunequeries.py)."""
    import random

    import faiss

    from search import generation_layout, tunequeries
    from search.embedder import Embedder
    from search.index import _TUNE_MIX, _unit_rows

    artifacts = generation_layout.read_catalog(folder)
    picked = [artifacts[a] for a in random.Random(0).sample(sorted(artifacts), min(400, len(artifacts)))]
    rng = np.random.default_rng(1)
    mixtures = vecs[rng.integers(len(vecs), size=(200, _TUNE_MIX))].sum(axis=1)
    embedder = Embedder()
    kinds = {
        "held-out real queries (dev sets)": real_q,
        "served tuning: first sentences of descriptions (search/tunequeries.py)":
            embedder.encode(tunequeries.texts(artifacts)),
        "capability titles": embedder.encode(list(dict.fromkeys(a.capabilities[0].title or a.name for a in picked))),
        "capability texts (title. description)": embedder.encode(list(dict.fromkeys(a.capabilities[0].text
                                                                                    for a in picked))),
        "artifact names": embedder.encode(list(dict.fromkeys(a.name for a in picked))),
        "mixtures of 3 stored vectors (the tuning before)": mixtures,
    }
    probes = [p for p in (32, 64, 96, 128, 192, 256, 384) if p <= served.nlist]
    index = served.faiss_index
    rows = []
    for name, q in kinds.items():
        q = _unit_rows(q, served.dim)
        truth_s, truth = served._exact_search(q, 10, (nums, vecs))
        top1 = float(np.median(truth_s[:, 0]))
        row = {"queries": f"{name}: {len(q)}", "top-1 cosine p50": round(top1, 2)}
        for p in probes:
            index.nprobe = p
            faiss.omp_set_num_threads(1)
            s, i = index.search(q, 10)
            row[f"nprobe {p}"] = round(_recall(s, i, truth_s, truth), 4)
        rows.append(row)
    index.nprobe = served.nprobe
    return table(rows, list(rows[0]))


def run(args, log) -> str:
    import faiss

    from bench.perf import load_average, percentile, scratch
    from bench.profile import source_dir
    from search.embedder import Embedder
    from search.index import VectorIndex

    source = source_dir(args.size)
    work = scratch("mg-index-ab-")
    try:
        served = VectorIndex.load(source / (source / "CURRENT").read_text().strip())
        nums, vecs = served._stored()
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        texts = list(dict.fromkeys(r["query"][:500] for name in ("huggingface_eval", "torchhub_train")
                                   for r in load_devset(name)))[:args.searches * 2]
        qv = Embedder().encode(texts)
        tune_q, test_q = qv[::2], qv[1::2]
        faiss.omp_set_num_threads(1)
        flat = faiss.IndexFlatIP(vecs.shape[1])
        flat.add(vecs)
        truth = {name: flat.search(q, 10) for name, q in (("tune", tune_q), ("test", test_q))}
        variants: dict[str, object] = {"exact: IndexFlatIP": flat}
        notes = {"exact: IndexFlatIP": "build 0 s"}
        nlist = max(1, int(4 * np.sqrt(len(vecs))))
        started = time.perf_counter()
        quantizer = faiss.IndexFlatIP(vecs.shape[1])
        ivf = faiss.IndexIVFFlat(quantizer, vecs.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        faiss.omp_set_num_threads(2)
        ivf.train(vecs)
        ivf.add(vecs)
        faiss.omp_set_num_threads(1)
        built = time.perf_counter() - started
        probe = _tune(ivf, tune_q, *truth["tune"], "nprobe", [p for p in (2 ** i for i in range(13)) if p < nlist]
                      + [nlist])
        name = f"IVF-Flat, {nlist} lists, nprobe {probe} (tuned to {FLOOR} on real queries)"
        variants[name], notes[name] = ivf, f"build {built:.0f} s"
        log(f"IVF: nprobe {probe} of {nlist}")
        started = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(vecs.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        faiss.omp_set_num_threads(2)
        hnsw.add(vecs)
        faiss.omp_set_num_threads(1)
        built = time.perf_counter() - started
        ef = _tune(hnsw, tune_q, *truth["tune"], "efSearch", (DEPTH, 256, 384, 512, 768, 1024))
        name = f"HNSW-Flat, M 32, efSearch {ef} (tuned to {FLOOR} on real queries)"
        variants[name], notes[name] = hnsw, f"build {built:.0f} s"
        log(f"HNSW: efSearch {ef}, built in {built:.0f} s")
        if served.kind == "ivf":  # the served index as it is, ids mapped back to rows: in memory and mapped
            row_of = {int(n): r for r, n in enumerate(nums)}
            mapped = VectorIndex.load(source / (source / "CURRENT").read_text().strip(), mmap=True)

            class Served:
                def __init__(self, index) -> None:
                    self.index = index
                    index._index.nprobe = index.nprobe

                def search(self, q, k):
                    s, i = self.index._index.search(q, k)
                    return s, np.vectorize(lambda n: row_of.get(int(n), -1))(i)

            prefetching = VectorIndex.load(source / (source / "CURRENT").read_text().strip(), mmap=True)
            faiss.downcast_InvertedLists(prefetching._index.invlists).prefetch_nthread = 32  # FAISS's default
            tuning = served.tuning or {"on": "mixtures", "goal": 0.99}
            tuned = (f"tuned at build: recall {tuning.get('recall', '?')} on {tuning.get('queries', '')} "
                     f"{'catalog texts as queries' if tuning['on'] == 'queries' else 'mixtures'} "
                     f"(goal {tuning.get('goal')})")
            class TwoThreads(Served):
                """One query on 2 OpenMP threads, the probed lists split between them (parallel_mode 1:
                FAISS's default mode parallelises over queries, so one query would use one thread)."""

                def search(self, q, k):
                    self.index._index.parallel_mode = 1
                    faiss.omp_set_num_threads(2)
                    try:
                        return super().search(q, k)
                    finally:
                        faiss.omp_set_num_threads(1)
                        self.index._index.parallel_mode = 0

            for how, index in (("in memory (MATCHGRAPH_INDEX_MMAP=0)", served),
                               ("memory-mapped (the default)", mapped),
                               ("memory-mapped, FAISS prefetch threads on (before issue 32)", prefetching)):
                name = f"served: IVF, {served.nlist} lists, nprobe {served.nprobe}, {how}"
                variants[name], notes[name] = Served(index), tuned
            name = f"served: IVF, {served.nlist} lists, nprobe {served.nprobe}, memory-mapped, 2 threads per query"
            variants[name], notes[name] = TwoThreads(mapped), "the lists split between 2 OpenMP threads"
        recall = {}
        for name, index in variants.items():
            s, i = index.search(test_q, 10)
            recall[name] = _recall(s, i, *truth["test"])
        times: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for rep in range(args.repeats):
            for j, q in enumerate(test_q):
                for name in names[(j + rep) % len(names):] + names[:(j + rep) % len(names)]:
                    start = time.perf_counter()
                    variants[name].search(q[None, :], DEPTH)
                    times[name].append(1000 * (time.perf_counter() - start))
        exact_p50 = percentile(times[names[0]], 50)
        rows = [{"index": name, "recall@10 vs exact (held-out queries)": round(recall[name], 4),
                 "p50 ms (k=200, 1 thread)": round(percentile(times[name], 50), 3),
                 "p99 ms": round(percentile(times[name], 99), 3),
                 "vs exact": f"{percentile(times[name], 50) / exact_p50:.2f}x", "notes": notes[name]}
                for name in names]
        tuning = tuning_table(served, source / (source / "CURRENT").read_text().strip(), test_q, nums, vecs) \
            if served.kind == "ivf" else ""
        head = (f"`python -m bench.profile --index-ab{f' --size {args.size}' if args.size else ''}` over "
                f"{source.name} ({len(vecs):,} vectors; the served index is {served.kind}"
                f"{f', nprobe {served.nprobe}' if served.kind == 'ivf' else ''}); {len(test_q)} held-out real "
                f"queries x {args.repeats}, alternating; {machine()}, load average {load_average()}, "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        return "\n".join([head, "", table(rows, list(rows[0]))] + (["", tuning] if tuning else []))
    finally:
        shutil.rmtree(work, ignore_errors=True)
