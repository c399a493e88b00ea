"""Retrieval quality on the Gorilla dev sets: BM25 alone, dense alone, the hybrid search, and learning.

    python -m bench.quality [--limit N] [--skip-learning] [--catalog whole|gorilla|both]

`whole` is the bundled catalog (every source); `gorilla` the catalog before issue 13 (the Gorilla APIBench
models and the two seed records), so a change in the dev-set figures can be told apart from the catalog
growing around the same gold models.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import time

from bench.common import GORILLA_SUBSET, WORK, bundled_engine, load_devset, machine, metrics, split, table

SCROLL = 50


def evaluate(engine, rows: list[dict], mode: str = "hybrid", learn: bool = False) -> dict[str, float]:
    ranked = [[h.artifact.id for h in engine.search(r["query"], k=10, record=False, learn=learn, mode=mode).hits]
              for r in rows]
    return metrics(ranked, [r["gold"] for r in rows])


def zero_shot(engine, limit: int | None) -> list[dict]:
    rows = load_devset("huggingface_eval")[:limit]
    out = []
    for mode, label in (("lexical", "BM25 alone (bm25s)"), ("dense", "dense alone (BERT mean pooling, FAISS)"),
                        ("hybrid", "matchgraph hybrid")):
        start = time.perf_counter()
        m = evaluate(engine, rows, mode)
        out.append({"system": label, **m, "queries": len(rows),
                    "ms/query": round(1000 * (time.perf_counter() - start) / len(rows), 1)})
    return out


def learning(limit: int | None, catalog: str = "catalog") -> list[dict]:
    """80% of torchhub_train as searches with a click on the gold result, measured on the other 20%.

    The simulated user reads up to `SCROLL` results (k=SCROLL is served) and clicks the gold model
    where it appears; a gold model outside what was served cannot be clicked.
    """
    rows = load_devset("torchhub_train")[:limit]
    train, test = split(rows)
    work = WORK / f"learning-{catalog}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(WORK / catalog, work, ignore=shutil.ignore_patterns("matches.db*"))
    engine = bundled_engine(work)
    engine.store.clear()
    before = evaluate(engine, test, learn=False)
    clicks = 0
    for r in train:
        result = engine.search(r["query"], k=SCROLL)
        for h in result.hits:
            if h.artifact.id == r["gold"]:
                engine.feedback(result.search_id, h.artifact.id, "click")
                clicks += 1
    after = evaluate(engine, test, learn=True)
    return [
        {"system": "no feedback", **before, "queries": len(test)},
        {"system": f"after {len(train)} searches, {clicks} clicks", **after, "queries": len(test)},
    ]


CATALOGS = {"whole": ("catalog", None), "gorilla": ("catalog-gorilla", GORILLA_SUBSET)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N dev rows (smoke runs)")
    parser.add_argument("--skip-learning", action="store_true")
    parser.add_argument("--catalog", choices=["whole", "gorilla", "both"], default="both",
                        help="search the whole bundled catalog, the Gorilla subset, or both side by side")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = ["whole", "gorilla"] if args.catalog == "both" else [args.catalog]
    report: dict = {"date": dt.date.today().isoformat(), "machine": machine(), "zero_shot": [], "learning": []}
    for name in names:
        folder, paths = CATALOGS[name]
        engine = bundled_engine(WORK / folder, paths)
        label = f"{name} ({len(engine.artifacts):,} artifacts, {len(engine.capabilities):,} capabilities)"
        report["zero_shot"] += [{"catalog": label, **row} for row in zero_shot(engine, args.limit)]
        engine.close()
        if not args.skip_learning:
            report["learning"] += [{"catalog": label, **row} for row in learning(args.limit, folder)]
    if args.json:
        print(json.dumps(report, indent=2))
        return
    cols = ["catalog", "system", "R@1", "R@5", "R@10", "MRR@10", "queries", "ms/query"]
    print(f"## Zero-shot retrieval, huggingface_eval ({report['date']}, {report['machine']})\n")
    print(table(report["zero_shot"], cols))
    if report["learning"]:
        print("\n## Learning from feedback, torchhub_train 80/20 split\n")
        print(table(report["learning"], cols[:-1]))


if __name__ == "__main__":
    main()
