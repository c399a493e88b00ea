"""The query pipeline's stages before and after issue 32's third round, side by side in one engine.

    python -m bench.profile --pipeline-ab --size 100000 --quality-limit 300 --repeats 2
    python -m bench.profile --pipeline-ab                # the bundled catalog

One engine over a copy of the data dir. Per dev query (huggingface_eval), the encoder alone (tokenizer +
forward pass, uncached) is timed first, on the text the search encodes: the query after its constraint
words are read, normalised (priming the vector cache with the raw query, as `--ann-ab` does, leaves the
first search of a query with a model pass whenever the two differ). First, a history: 300 other requests of
the dev set, each searched and its first hit clicked by three people, so learning reads past searches (the
evidence of similar ones) as on a served catalog. Then `Engine.search` (learning on,
record off, the query vector cached) runs with the served pipeline, with its stages one after the other
(no search/overlap.py), and with the old stages (bench/pipeline_reference.py), in rotating order. "(encoder +
it) / encoder" is what a fresh query costs over the encoder (issue 32's target: at most 1.5x at 100k). Every
answer is compared whole with the first variant's (hits, scores, why, totals, the match decision, facets,
suggestions): the table says how many queries were identical in all three, how many searches still ran the
model (0 when the priming is right), and R@10 / MRR@10.
"""

from __future__ import annotations

import shutil
import statistics
import time

from bench.common import load_devset, machine, metrics, table

HISTORY = 300  # dev requests outside the timed ones, recorded with clicks before timing


def run(args, log) -> str:
    from bench.perf import load_average, percentile, scratch
    from bench.pipeline_reference import ReferencePipeline, answer
    from bench.profile import engine_over, source_dir

    source = source_dir(args.size)
    work = scratch("mg-pipeline-ab-")
    try:
        engine = engine_over(source, work / "var")
        served = engine.pipeline
        variants = {"before: the old stages (main at 55ed7bd)": ReferencePipeline(served),
                    "after: the served stages, one after the other": Sequential(served),
                    "after: the served stages, BM25 and learning beside the scan (search/overlap.py)": served}
        every = load_devset("huggingface_eval")
        dev = every[:args.quality_limit]
        record_history(engine, [r["query"] for r in every[len(dev):len(dev) + HISTORY]], log)
        for r in dev[:20]:  # first-use costs (probes, scorebook, lazy imports) out of the way, both variants
            for pipeline in variants.values():
                engine.pipeline = pipeline
                engine.search(r["query"], k=10, record=False)
        names = list(variants)
        times: dict[str, list[float]] = {name: [] for name in names}
        ranked: dict[str, list[list[str]]] = {name: [] for name in names}
        encoder: list[float] = []
        same = compared = missed = 0
        log(f"{len(dev)} queries x {args.repeats} over {source.name}")
        for rep in range(args.repeats):
            for i, r in enumerate(dev):
                text = served.encoder_text(engine.view(), r["query"])  # what the search will encode
                start = time.perf_counter()
                engine.embedder._encode_uncached([text])
                encoder.append(1000 * (time.perf_counter() - start))
                engine.embedder.encode_query(text)  # into the LRU: the variants differ after the model
                forwards = engine.embedder.forward_batches
                answers = {}
                for name in names[(i + rep) % len(names):] + names[:(i + rep) % len(names)]:
                    engine.pipeline = variants[name]
                    start = time.perf_counter()
                    result = engine.search(r["query"], k=10, record=False)
                    times[name].append(1000 * (time.perf_counter() - start))
                    answers[name] = answer(result)
                    if rep == 0:
                        ranked[name].append([h.artifact.id for h in result.hits])
                missed += engine.embedder.forward_batches != forwards
                compared += 1
                same += all(answers[name] == answers[names[0]] for name in names[1:])
        checked = [] if args.quick_identity else identical_elsewhere(engine, variants, log)
        engine.pipeline = served
        n_caps, kind = len(engine.index), engine.index.kind
        engine.close()
        enc50, enc_mean = percentile(encoder, 50), statistics.mean(encoder)
        rows = []
        for name in names:
            m = metrics(ranked[name], [r["gold"] for r in dev])
            rest50, rest_mean = percentile(times[name], 50), statistics.mean(times[name])
            rows.append({"variant": name, "searches": len(times[name]),
                         "after the model p50 ms": round(rest50, 2), "p90 ms": round(percentile(times[name], 90), 2),
                         "mean ms": round(rest_mean, 2),
                         "(encoder + it) / encoder, p50": f"{(enc50 + rest50) / enc50:.2f}x",
                         "same, means": f"{(enc_mean + rest_mean) / enc_mean:.2f}x",
                         "dev R@10": m["R@10"], "dev MRR@10": m["MRR@10"]})
        rows.append({"variant": "the encoder alone (tokenizer + forward pass, uncached, one query)",
                     "searches": len(encoder), "after the model p50 ms": f"{enc50:.2f} (encoder)",
                     "mean ms": f"{enc_mean:.2f} (encoder)"})
        head = (f"`python -m bench.profile --pipeline-ab{f' --size {args.size}' if args.size else ''}` over "
                f"{source.name} ({n_caps:,} capabilities, {kind} index); {len(dev)} huggingface_eval queries x "
                f"{args.repeats}, variants alternating per query; identical answers {same} of {compared}; "
                f"searches that ran the model {missed}; "
                f"{machine()}, load average {load_average()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        out = [head, "", table(rows, list(rows[0]))]
        if checked:
            out += ["", "Identical answers beyond the timed queries (both variants, the same engine):", "",
                    table(checked, ["queries", "searched", "identical"])]
        return "\n".join(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def record_history(engine, past: list[str], log) -> None:
    """Each of `past` searched and its first hit clicked by three people: learning then has past searches to
    read (the evidence of similar ones), as on a served catalog."""
    log(f"history: {len(past)} other requests, each searched and its first hit clicked by 3 people")
    for q in past:
        for user in ("p1", "p2", "p3"):
            result = engine.search(q, k=10, user=user)
            if result.hits:
                engine.feedback(result.search_id, result.hits[0].artifact.id, "click", user=user)


class Sequential:
    """The served pipeline with its stages one after the other: `search.overlap.start` runs the work it is
    handed at once, on the calling thread (what the pipeline did before search/overlap.py)."""

    def __init__(self, served) -> None:
        self.served = served

    def __getattr__(self, name: str):
        return getattr(self.served, name)

    def search_batch(self, view, queries, options):
        from concurrent.futures import Future

        from search import overlap

        def at_once(fn, *args):
            done: Future = Future()
            done.set_result(fn(*args))
            return done

        start, overlap.start = overlap.start, at_once
        try:
            return self.served.search_batch(view, queries, options)
        finally:
            overlap.start = start


def identical_elsewhere(engine, variants: dict, log) -> list[dict]:
    """Both variants over the other query sets the quality checks use: the torchhub dev set, the relevance
    sets (real requests and nonsense), and the names bench's kinds of query (bench/names.py: exact names,
    one-typo names, "translate X to Y" for the catalog's language pairs) for a sample of 300 artifacts."""
    import random

    from bench.common import DEVSETS
    from bench.names import _typo
    from bench.pipeline_reference import answer
    from search import direction

    view = engine.view()
    rng = random.Random(32)
    sample = rng.sample(sorted(view.artifacts), min(300, len(view.artifacts)))
    pairs = sorted({(s, t) for d in view.by_direction for s in d.sources for t in d.targets
                    if s in direction.LANGUAGES and t in direction.LANGUAGES and s != t})
    sets = {
        "torchhub_train dev set": [r["query"] for r in load_devset("torchhub_train")],
        "relevance sets (real requests, nonsense)": [
            line for name in ("relevance_real.txt", "relevance_nonsense.txt")
            for line in (DEVSETS / name).read_text().splitlines() if line.strip() and not line.startswith("#")],
        "names bench: exact names (300 artifacts)": [view.artifacts[a].name for a in sample],
        "names bench: one-typo names": [_typo(view.artifacts[a].name, rng) for a in sample],
        "names bench: translate X to Y (the catalog's pairs)": [
            f"translate {direction.LANGUAGES[s][0]} to {direction.LANGUAGES[t][0]}" for s, t in pairs],
    }
    rows = []
    for label, qs in sets.items():
        same = 0
        for q in qs:
            got = []
            for pipeline in variants.values():
                engine.pipeline = pipeline
                got.append(answer(engine.search(q, k=10, record=False)))
            same += all(g == got[0] for g in got[1:])
        rows.append({"queries": label, "searched": len(qs), "identical": same})
        log(f"{label}: {same} of {len(qs)} identical")
    return rows
