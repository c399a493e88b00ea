"""The query encoder's ONNX Runtime session settings side by side: graph optimisation level and intra-op
threads, one query at a time, alternating per query, with the largest difference of each variant's vectors
from the unoptimised graph's (they must agree within 1e-6 to be used).

    python -m bench.profile --ort-ab

Whatever model the `model` setting names (the export is the serving one, `bench.common.ensure_onnx_export`);
the tokenizer's share of a query is timed too.
"""

from __future__ import annotations

import time

import numpy as np

from bench.common import machine, table


def run(args, log) -> str:
    import onnxruntime as ort

    from bench.common import ensure_onnx_export
    from bench.perf import load_average, percentile, queries
    from search.embedder import Embedder

    embedder = Embedder(onnx_dir=ensure_onnx_export())
    encoder = embedder._encoder
    if not hasattr(encoder, "query_session"):
        raise SystemExit("the ONNX encoder is unavailable here")
    levels = {"disabled (reference)": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all (served)": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}

    def session(level, threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.graph_optimization_level = level
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(encoder._path, options, providers=["CPUExecutionProvider"])

    variants = {f"{name}, {t} thread{'s' if t > 1 else ''}": session(level, t)
                for name, level in levels.items() for t in (1, 2)}
    qs = queries()[:args.searches]

    def feed(q: str) -> dict:
        e = encoder.tokenizer.encode_batch([q])
        cols = {"input_ids": [e[0].ids], "attention_mask": [e[0].attention_mask], "token_type_ids": [e[0].type_ids]}
        return {n: np.asarray(cols[n], dtype=np.int64) for n in encoder.input_names}

    reference = variants["disabled (reference), 1 thread"]
    diffs = dict.fromkeys(variants, 0.0)
    for q in qs[:50]:
        inputs = feed(q)
        ref = reference.run(None, inputs)[0]
        for name, s in variants.items():
            diffs[name] = max(diffs[name], float(np.abs(s.run(None, inputs)[0] - ref).max()))
    times: dict[str, list[float]] = {name: [] for name in variants}
    tokenize: list[float] = []
    names = list(variants)
    for i, q in enumerate(qs):
        start = time.perf_counter()
        inputs = feed(q)
        tokenize.append(1000 * (time.perf_counter() - start))
        for name in names[i % len(names):] + names[:i % len(names)]:
            start = time.perf_counter()
            variants[name].run(None, inputs)
            times[name].append(1000 * (time.perf_counter() - start))
    served = percentile(times["all (served), 2 threads"], 50)
    rows = [{"session": name, "p50 ms": round(percentile(t, 50), 2), "p95 ms": round(percentile(t, 95), 2),
             "vs served": f"{percentile(t, 50) / served:.2f}x", "max |diff| vs unoptimised": f"{diffs[name]:.1e}"}
            for name, t in times.items()]
    rows.append({"session": "tokenizer (tokenizers, one query)", "p50 ms": round(percentile(tokenize, 50), 3),
                 "p95 ms": round(percentile(tokenize, 95), 3)})
    head = (f"`python -m bench.profile --ort-ab --searches {args.searches}`: {embedder.model_id[:12]} "
            f"({embedder.model_path.rsplit('/', 2)[-2]}), {len(qs)} queries, variants alternating per query; "
            f"{machine()}, load average {load_average()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    return "\n".join([head, "", table(rows, ["session", "p50 ms", "p95 ms", "vs served", "max |diff| vs unoptimised"])])
