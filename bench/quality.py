"""Retrieval quality on the Gorilla dev sets: BM25 alone, dense alone, the hybrid search, and learning.

    python -m bench.quality [--limit N] [--skip-learning] [--catalog whole|gorilla|both]

The learning section runs the original click simulation below, then bench/clicksim.py's paraphrase and noisy
simulations beside it (docs/learning.md).

`whole` is the bundled catalog (every source); `gorilla` the catalog before issue 13 (the Gorilla APIBench
models and the two seed records), so a change in the dev-set figures can be told apart from the catalog
growing around the same gold models.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import time

import numpy as np

from bench import clicksim
from bench.common import GORILLA_SUBSET, WORK, bundled_engine, load_devset, machine, metrics, split, table
from graph.events import normalise_query

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


def examined(rank: int) -> float:
    """The simulated user's examination probability (its own curve, not the learner's 1/log2(rank + 1))."""
    return 0.95 * rank ** -0.7


def person(engine, token: str, n: int):
    """A simulated person as the API sees one: its token, on a network of its own (10.a.b.0/24), placed by
    the network rule (search/identity.py) like a request is."""
    return engine.admit(engine.who(token, f"10.{(n >> 8) % 256}.{n % 256}.1", "bench-quality"))


def simulate(engine, rows: list[dict], rng: random.Random, users_per_query: int = 3,
             noise: float = 0.2) -> tuple[dict[str, tuple], int, int]:
    """Each row is searched by `users_per_query` simulated people, each with its own token on a network of its
    own (so the network rule is on, as in production): a user examines each
    rank with probability `examined(rank)`, clicks the gold result when it examined it, and with probability
    `noise` also clicks a random examined result. Returns, per past intent (normalised query), its vector and
    the click counts on it (for the nearest-intent vote), the number of searches and the number of clicks."""
    intents: dict[str, tuple] = {}
    searches = clicks = 0
    for i, r in enumerate(rows):
        text = normalise_query(r["query"])
        vector, counts = intents.setdefault(text, (engine.encode_query(text), {}))
        for u in range(users_per_query):
            user = person(engine, f"sim-user-{i}-{u}", searches)
            result = engine.search(r["query"], k=SCROLL, user=user)
            searches += 1
            seen = [h.artifact.id for h in result.hits if rng.random() < examined(h.rank)]
            chosen = [a for a in seen if a == r["gold"]]
            if seen and rng.random() < noise:
                chosen.append(rng.choice(seen))
            for artifact_id in dict.fromkeys(chosen):
                engine.feedback(result.search_id, artifact_id, "click", user=user)
                counts[artifact_id] = counts.get(artifact_id, 0) + 1
                clicks += 1
    return intents, searches, clicks


def nearest_intent_vote(engine, rows: list[dict], intents: dict[str, tuple], k: int = 10) -> dict[str, float]:
    """The plain baseline: the k nearest past intents (cosine) vote for what was clicked in their searches,
    weighted by similarity (each click one vote); the served top SCROLL is re-ranked by vote, unvoted results
    keep their order below."""
    past = list(intents.values())
    matrix = np.stack([v for v, _ in past])
    ranked = []
    for r in rows:
        base = [h.artifact.id for h in engine.search(r["query"], k=SCROLL, record=False, learn=False).hits]
        sims = matrix @ engine.encode_query(normalise_query(r["query"]))
        votes: dict[str, float] = {}
        for j in np.argsort(-sims)[:k]:
            for artifact_id, n in past[j][1].items():
                votes[artifact_id] = votes.get(artifact_id, 0.0) + float(sims[j]) * n
        order = {a: i for i, a in enumerate(base)}
        ranked.append(sorted(base, key=lambda a: (-votes.get(a, 0.0), order[a]))[:10])
    return metrics(ranked, [r["gold"] for r in rows])


def learning(limit: int | None, catalog: str = "catalog", seed: int = 7) -> list[dict]:
    """80% of torchhub_train searched by simulated users following a click model, measured on the other 20%:
    no learning, the plain nearest-intent vote, and the engine's bounded per-user learning, in one run."""
    rows = load_devset("torchhub_train")[:limit]
    train, test = split(rows)
    work = WORK / f"learning-{catalog}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(WORK / catalog, work, ignore=shutil.ignore_patterns("matches.db*"))
    engine = bundled_engine(work)
    engine.store.clear()
    before = evaluate(engine, test, learn=False)
    intents, searches, clicks = simulate(engine, train, random.Random(seed))
    vote = nearest_intent_vote(engine, test, intents)
    after = evaluate(engine, test, learn=True)
    label = f"{searches} searches by as many simulated users, {clicks} clicks"
    return [
        {"system": "no learning", **before, "queries": len(test)},
        {"system": f"nearest-intent vote (10 nearest, similarity-weighted; {label})", **vote, "queries": len(test)},
        {"system": f"learned: per person (network rule on), full from {engine.config.learn_min_users} people, "
                   f"examination model ({label})",
         **after, "queries": len(test)},
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
            report["learning"] += [{"catalog": label, **row, "system": f"{sim}: {row['system']}"}
                                   for sim in ("paraphrase", "noisy") for row in clicksim.run(sim, catalog=folder)]
    if args.json:
        print(json.dumps(report, indent=2))
        return
    cols = ["catalog", "system", "R@1", "R@5", "R@10", "MRR@10", "queries", "ms/query"]
    print(f"## Zero-shot retrieval, huggingface_eval ({report['date']}, {report['machine']})\n")
    print(table(report["zero_shot"], cols))
    if report["learning"]:
        print("\n## Learning from feedback, torchhub_train 80/20 split, simulated click model\n")
        print(table(report["learning"], cols[:-1]))


if __name__ == "__main__":
    main()
