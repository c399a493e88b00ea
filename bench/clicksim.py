"""Click simulations for learning: simulated people search the train split, the engine learns from what they
chose, and the test split (requests never searched) is measured against no learning and the plain vote.

    python -m bench.clicksim [--sim torchhub|paraphrase|noisy|crowd|all] [--searches 2000] [--json]

- torchhub: torchhub_train 80/20 by request; each train request searched by three people in turn; a person
  examines rank r with probability 0.95 r^-0.7, clicks the wanted artifact when examined, and with
  probability 0.2 also clicks a random examined result (bench/quality.py's original click model);
- paraphrase: every artifact wanted under many phrasings by different people: the Gorilla requests of both
  dev sets grouped by the artifact they want (groups of two or more phrasings), one phrasing of each group
  held out; each search is a random train phrasing by a new person;
- noisy: torchhub's split with a stronger position bias (0.95 / r), the wanted result clicked on 80% of the
  times it is examined, 20% random clicks, 10% of people downvoting an examined result they did not want
  and 2% downvoting the one they did;
- crowd: real use, where many people ask for each artifact in their own words and the first answer is often
  right: the Gorilla artifacts wanted under at least 4 phrasings whose zero-shot search serves them in the top
  20 for at least a quarter of their train phrasings; a quarter of each artifact's phrasings held out; each
  search a random train phrasing by a new person (the torchhub click model with 10% random clicks), so
  most searches end in a click and several people choose each artifact.

Every search is a person of its own: a token signed with a secret made for this run, on a network of its
own (search/identity.py), so the evidence rules of issue 27 are on. Learning sees the train split only.
The engine's store after a run stays in bench/out/clicksim-<sim>-catalog with its test split (`TEST_FILE`):
`python -m bench.learnbound` reads them.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass

from bench.common import WORK, bundled_engine, load_devset, metrics, split, table
from graph.events import normalise_query
from search.identity import sign_token

SCROLL = 50
SITE_SECRET = secrets.token_hex(16)  # signs the simulated people's tokens; new per run
TEST_FILE = "clicksim-test.json"  # the test split, beside the logged simulation


@dataclass(frozen=True)
class ClickModel:
    bias: float = 0.7  # examined(rank) = 0.95 * rank^-bias
    wanted: float = 1.0  # P(click the wanted result | examined)
    noise: float = 0.2  # P(also click a random examined result)
    downvote_other: float = 0.0  # P(downvote a random examined result that is not the wanted one)
    downvote_wanted: float = 0.0  # P(downvote the wanted one when examined)

    def examined(self, rank: int) -> float:
        return 0.95 * rank ** -self.bias


def person(engine, n: int):
    """Simulated person n: a signed token of its own on network 10.a.b.0/24, admitted like a request."""
    token = sign_token(SITE_SECRET, f"sim{n}")
    return engine.admit(engine.who(token, f"10.{(n >> 8) % 256}.{n % 256}.1", "bench-clicksim"))


def torchhub_rows(rng: random.Random, engine=None) -> tuple[list[dict], list[dict], list[dict]]:
    """(train, test, the train requests in search order: each by three people in turn)."""
    train, test = split(load_devset("torchhub_train"))
    return train, test, [r for r in train for _ in range(3)]


def _groups() -> dict[str, list[dict]]:
    """The Gorilla requests of both dev sets grouped by the artifact they want."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for name in ("torchhub_train", "huggingface_eval"):
        for r in load_devset(name):
            groups[r["gold"]].append(r)
    return groups


def paraphrase_rows(rng: random.Random, engine=None) -> tuple[list[dict], list[dict], list[dict]]:
    """Groups of phrasings per wanted artifact; one phrasing per group held out; random train phrasings."""
    groups = _groups()
    train, test = [], []
    for gold in sorted(groups):
        rows = groups[gold]
        if len(rows) < 2:
            continue
        rows = rows[:]
        rng.shuffle(rows)
        test.append(rows[0])
        train += rows[1:]
    return train, test, [rng.choice(train) for _ in range(len(train) * 3)]


CROWD_MIN_PHRASINGS = 4  # an artifact of the crowd simulation is wanted under at least this many phrasings
CROWD_TOP = 20  # ... and its first answer is decent: zero-shot serves it in the top CROWD_TOP
CROWD_SHARE = 0.25  # ... for at least this share of its train phrasings


def crowd_rows(rng: random.Random, engine) -> tuple[list[dict], list[dict], list[dict]]:
    """Artifacts wanted under many phrasings whose zero-shot first answer is decent; a quarter of each
    artifact's phrasings (at least one) held out; random train phrasings, so each artifact is chosen by many
    people. Which artifacts qualify is decided on the train phrasings only (the held-out ones never searched)."""
    train, test = [], []
    for gold, rows in sorted(_groups().items()):
        if len(rows) < CROWD_MIN_PHRASINGS:
            continue
        rows = rows[:]
        rng.shuffle(rows)
        cut = max(1, len(rows) // 4)
        served = engine.search_batch([r["query"] for r in rows[cut:]], k=CROWD_TOP, record=False, learn=False)
        found = sum(1 for result in served if gold in [h.artifact.id for h in result.hits])
        if found >= CROWD_SHARE * len(served):
            test += rows[:cut]
            train += rows[cut:]
    return train, test, [rng.choice(train) for _ in range(len(train) * 10)]


SIMS = {
    "torchhub": (torchhub_rows, ClickModel()),
    "paraphrase": (paraphrase_rows, ClickModel(noise=0.0)),
    "noisy": (torchhub_rows, ClickModel(bias=1.0, wanted=0.8, noise=0.2, downvote_other=0.1,
                                        downvote_wanted=0.02)),
    "crowd": (crowd_rows, ClickModel(noise=0.1)),
}


def simulate(engine, order: list[dict], model: ClickModel, rng: random.Random, searches: int) -> tuple[dict, dict]:
    """`searches` searches of `order` (cycled), each by a new person following `model`. Returns per past intent
    its vector and click counts (the vote baseline's input) and what was done."""
    intents: dict[str, tuple] = {}
    done = {"searches": 0, "clicks": 0, "downvotes": 0}
    for n in range(searches):
        r = order[n % len(order)]
        text = normalise_query(r["query"])
        vector, counts = intents.setdefault(text, (engine.encode_query(text), {}))
        user = person(engine, n)
        result = engine.search(r["query"], k=SCROLL, user=user)
        done["searches"] += 1
        seen = [h.artifact.id for h in result.hits if rng.random() < model.examined(h.rank)]
        chosen = [a for a in seen if a == r["gold"] and rng.random() < model.wanted]
        if seen and rng.random() < model.noise:
            chosen.append(rng.choice(seen))
        for artifact_id in dict.fromkeys(chosen):
            engine.feedback(result.search_id, artifact_id, "click", user=user)
            counts[artifact_id] = counts.get(artifact_id, 0) + 1
            done["clicks"] += 1
        others = [a for a in seen if a != r["gold"] and a not in chosen]
        down = [rng.choice(others)] if others and rng.random() < model.downvote_other else []
        down += [a for a in seen if a == r["gold"] and a not in chosen and rng.random() < model.downvote_wanted]
        for artifact_id in down:
            engine.feedback(result.search_id, artifact_id, "downvote", user=user)
            done["downvotes"] += 1
    return intents, done


def evaluate(engine, rows: list[dict], learn: bool) -> dict[str, float]:
    ranked = [[h.artifact.id for h in engine.search(r["query"], k=10, record=False, learn=learn).hits] for r in rows]
    return metrics(ranked, [r["gold"] for r in rows])


def run(sim: str, searches: int = 2000, catalog: str = "catalog", seed: int = 7) -> list[dict]:
    """One simulation on a copy of the bench catalog: no learning, the nearest-intent vote, learning with the
    built-in ranker weights, and learning with the ranker trained on the simulated log."""
    from bench.quality import nearest_intent_vote

    rows_of, model = SIMS[sim]
    rng = random.Random(seed)
    work = WORK / f"clicksim-{sim}-{catalog}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(WORK / catalog, work, ignore=shutil.ignore_patterns("matches.db*", "ranker.json"))
    engine = bundled_engine(work, site_secret=SITE_SECRET)
    engine.store.clear()
    train, test, order = rows_of(rng, engine)
    (work / TEST_FILE).write_text(json.dumps(test))  # bench.learnbound reads the log with its test split
    before = evaluate(engine, test, learn=False)
    intents, done = simulate(engine, order, model, rng, searches)
    vote = nearest_intent_vote(engine, test, intents)
    rows = [{"sim": sim, "system": "no learning", **before},
            {"sim": sim, "system": "nearest-intent vote", **vote},
            {"sim": sim, "system": "learned (built-in weights)", **evaluate(engine, test, learn=True)}]
    if hasattr(engine, "train_ranker"):
        got = engine.train_ranker()
        rows.append({"sim": sim, "system": f"learned (ranker trained on {got['intents']} past requests)",
                     **evaluate(engine, test, learn=True), "weights": got["weights"]})
    for row in rows:
        row.update(queries=len(test), train=len(train), **done)
    engine.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sim", choices=[*SIMS, "all"], default="all")
    parser.add_argument("--searches", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for sim in SIMS if args.sim == "all" else [args.sim]:
        rows += run(sim, args.searches)
        print(json.dumps(rows[-4:]), file=sys.stderr, flush=True)  # progress: one simulation takes minutes
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(table(rows, ["sim", "system", "R@1", "R@5", "R@10", "MRR@10", "queries", "searches", "clicks",
                       "downvotes"]))


if __name__ == "__main__":
    main()
