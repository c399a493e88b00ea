"""Zero-shot quality per query millisecond: what a capability is embedded as (`documents`) x the BM25 weight.

    python -m bench.encoders [--catalog gorilla|whole] [--documents plain,facts] [--weights 0.3]
                             [--limit N] [--json]

Every dev set (huggingface_eval, torchhub_train), zero-shot (`record=False, learn=False`), through
`Engine.search`, one engine per `documents` value on its own copy of the catalog (ingested once: the
shipped snapshot serves the texts it has, the rest is embedded). The configurations run interleaved query
by query, each first in turn (a query's first search pays for what later ones reuse), so the ms/query
columns compare with each other on a loaded machine (not across runs). BENCHMARKS.md ("Encoder and
document expansion", issue 29) has the results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from bench.common import GORILLA_SUBSET, WORK, bundled_engine, load_devset, machine, metrics, table

DEVSETS = ("huggingface_eval", "torchhub_train")
CATALOGS = {"whole": None, "gorilla": GORILLA_SUBSET}


def run(catalog: str, documents: list[str], weights: list[float], limit: int | None) -> list[dict]:
    """Rows of (catalog, documents, weight, dev set) with R@k, MRR@10 and ms/query."""
    engines = {d: bundled_engine(WORK / f"encoders-{catalog}-{d}", CATALOGS[catalog], documents=d)
               for d in documents}
    configs = [(d, w) for d in documents for w in weights]
    out = []
    try:
        for name in DEVSETS:
            rows = load_devset(name)[:limit]
            for engine in engines.values():  # query vectors first: the timing is of the search, warm
                for r in rows:
                    engine.encode_query(r["query"])
            ranked: dict[tuple[str, float], list[list[str]]] = {c: [] for c in configs}
            spent = dict.fromkeys(configs, 0.0)
            for i, r in enumerate(rows):
                for d, w in configs[i % len(configs):] + configs[:i % len(configs)]:  # each goes first in turn
                    engine = engines[d]
                    engine.pipeline.hybrid.lexical_weight = w
                    start = time.perf_counter()
                    hits = engine.search(r["query"], k=10, record=False, learn=False).hits
                    spent[(d, w)] += time.perf_counter() - start
                    ranked[(d, w)].append([h.artifact.id for h in hits])
            gold = [r["gold"] for r in rows]
            size = next(iter(engines.values()))
            label = f"{catalog} ({len(size.artifacts):,} artifacts)"
            for d, w in configs:
                out.append({"catalog": label, "dev set": name, "documents": d, "BM25 weight": w,
                            **metrics(ranked[(d, w)], gold), "queries": len(rows),
                            "ms/query": round(1000 * spent[(d, w)] / max(1, len(rows)), 1)})
    finally:
        for engine in engines.values():
            engine.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", choices=sorted(CATALOGS), default="whole")
    parser.add_argument("--documents", default="plain,facts", help="comma-separated `documents` values")
    parser.add_argument("--weights", default="0.3", help="comma-separated BM25 weights (lexical_weight)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows of each dev set")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run(args.catalog, args.documents.split(","), [float(w) for w in args.weights.split(",")], args.limit)
    if args.json:
        print(json.dumps({"date": dt.date.today().isoformat(), "machine": machine(), "rows": rows}, indent=2))
        return
    print(f"## Zero-shot by documents and BM25 weight ({dt.date.today().isoformat()}, {machine()})\n")
    print(table(rows, ["catalog", "dev set", "documents", "BM25 weight", "R@1", "R@5", "R@10", "MRR@10",
                       "queries", "ms/query"]))


if __name__ == "__main__":
    main()
