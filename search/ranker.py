"""The learned ranker: how much the pooled evidence of similar past requests is worth against the text score.

A linear pairwise model (RankNet with a linear scorer, fitted by Newton's method in numpy: five weights need
no boosting library) over the features of a candidate artifact:

    text      the fused dense + BM25 score (its weight is held at 1: the others are in its units)
    share     people who chose it / (sum of the neighbours' kernel weights + 1): the vote of the neighbours
    chose     log(1 + kernel-weighted people who chose it)
    lift      posterior lift of its attractiveness under the examination model (graph/feedback.py)
    rejected  log(1 + kernel-weighted people who rejected it)

Trained by `python -m api learn` (and every `MATCHGRAPH_RANKER_EVERY` seconds by `serve`) from the logged
evidence: each past intent someone chose something for is searched again zero-shot, its neighbourhood pooled
without it (leave-one-out, so the model learns what neighbours' evidence says about a request never seen),
and each chosen artifact is paired with the results above it and the rest of the top 10, weighted by the
inverse of its examination probability (position debiasing). The model is written to
`<data dir>/ranker.json` with the generation and encoder it was trained for; on another generation or encoder
the built-in weights serve until it is retrained.

One person's weight: the bonus is at most `MATCHGRAPH_LEARNED_CAP`, and an artifact may pass at most
1.5 * p^2 results of the text order (p: the distinct people of the neighbourhood who chose it, fewer than
`MATCHGRAPH_LEARN_MIN_USERS`, 2), and fall below as many for the people who rejected it: one person choosing a
result lifts it by at most one rank; from two people on (two networks or two signed users) the learned
weights decide, within the cap; how far is what their evidence weighs (kernel-weighted). Two people, not
three: on the logged click simulations the third person's threshold cost up to 0.018 R@5 and no bound below
it is needed by issue 27's attack results (bench/learnbound.py, docs/learning.md, docs/evidence.md).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from graph.feedback import PRIOR_CHOSEN, PRIOR_SKIPPED, prior_mean

if TYPE_CHECKING:
    from search.learning import Pooled

log = logging.getLogger(__name__)

FEATURES = ("share", "chose", "lift", "rejected")  # the text score is the fifth, with weight 1
# before any training; lift near what training learns on the click simulations (4-8, bench/clicksim.py)
DEFAULT_WEIGHTS = {"share": 2.0, "chose": 0.3, "lift": 4.0, "rejected": -0.2}
MODEL_FILE = "ranker.json"
RANKS_PER_PERSON = 1.5  # an artifact passes at most RANKS_PER_PERSON * people^2 results below MIN_USERS
DEPTH = 50  # results of a past request the trainer searches
PAIR_DEPTH = 10  # a chosen result is paired with the results above it and the rest of the top PAIR_DEPTH
MAX_INTENTS = 4000  # the most recent past requests a training round uses
L2 = 1e-2


def features(p: Pooled) -> np.ndarray:
    """(artifacts, len(FEATURES)) of the pooled evidence."""
    alpha = PRIOR_CHOSEN + p.chose
    beta = PRIOR_SKIPPED + np.maximum(0.0, p.exposure - p.chose) + p.rejected
    lift = alpha / (alpha + beta) - prior_mean()
    return np.stack([p.chose / (p.total + 1.0), np.log1p(p.chose), lift, np.log1p(p.rejected)], axis=1)


def bonus(p: Pooled, fused: Mapping[str, float], weights: Mapping[str, float], *, cap: float,
          min_users: int) -> dict[str, float]:
    """The learned bonus of each artifact of `fused` (text scores of the query's candidates) with evidence,
    bounded by `cap` and by the people behind it (module docstring). Vectorised over the candidates."""
    keep = [i for i, a in enumerate(p.ids) if a in fused]
    if not keep:
        return {}
    rows = np.array(keep)
    w = np.array([weights.get(f, 0.0) for f in FEATURES])
    raw = np.clip(features(p)[rows] @ w, -cap, cap)
    ordered = np.sort(np.fromiter(fused.values(), dtype=np.float64, count=len(fused)))[::-1]
    mine = np.array([fused[p.ids[i]] for i in keep], dtype=np.float64)
    at = np.searchsorted(-ordered, -mine, side="left").astype(np.float64)  # results scored above it
    up = _passes(p.choosers[rows], min_users)
    down = _passes(p.people[rows] - p.choosers[rows], min_users)
    positions = np.arange(len(ordered), dtype=np.float64)
    ceiling = np.where(at - up <= 0, np.inf, np.interp(at - up, positions, ordered))
    floor = np.where(at + down >= len(ordered) - 1, -np.inf, np.interp(at + down, positions, ordered))
    raw = np.clip(raw, np.minimum(0.0, floor - mine + 1e-9), np.maximum(0.0, ceiling - mine - 1e-9))
    return {p.ids[i]: float(b) for i, b in zip(keep, raw, strict=True) if b != 0.0}


def _passes(people: np.ndarray, min_users: int) -> np.ndarray:
    """How many results of the text order `people` (distinct people) may move an artifact past."""
    return np.where(people >= min_users, np.inf, RANKS_PER_PERSON * people.astype(np.float64) ** 2)


@dataclass
class Model:
    """Weights of the pooled-evidence features (the text score's is 1) and what they were trained for."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    generation: str = ""
    model_id: str = ""
    trained: bool = False
    info: dict = field(default_factory=dict)

    def save(self, data_dir: Path) -> Path:
        path = Path(data_dir) / MODEL_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"weights": self.weights, "generation": self.generation,
                                   "model_id": self.model_id, **self.info}, indent=2))
        os.replace(tmp, path)
        return path


class Models:
    """The trained model of a data dir, re-read when its file changes; the built-in one when it is missing,
    unreadable, or trained for another generation or encoder (a stat per request)."""

    def __init__(self) -> None:
        self._seen: tuple | None = None
        self._model = Model()

    def get(self, data_dir: Path, generation: str, model_id: str) -> Model:
        path = Path(data_dir) / MODEL_FILE
        try:
            st = path.stat()
            stamp = (str(path), st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != self._seen:
            self._seen, self._model = stamp, load(path) if stamp else Model()
        model = self._model
        if not model.trained or model.generation != generation or model.model_id != model_id:
            return Model()
        return model


def load(path: Path) -> Model:
    try:
        d = json.loads(Path(path).read_text())
        weights = {f: float(d["weights"][f]) for f in FEATURES}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the ranker in %s: %s", path, exc)
        return Model()
    return Model(weights, str(d.get("generation", "")), str(d.get("model_id", "")), True,
                 {k: v for k, v in d.items() if k not in ("weights", "generation", "model_id")})


def fit(pairs: np.ndarray, sample_weight: np.ndarray, offset: np.ndarray | None = None,
        steps: int = 30) -> np.ndarray:
    """Weights w minimising the weighted logistic loss of offset + w . d over pair differences d (chosen minus
    not; `offset`: the text score's difference, whose weight stays 1), with an L2 penalty; Newton's method.

    The penalty is on standardised features: `lift` spans a few hundredths where `chose` spans units, and an
    L2 on raw weights kept the feature that tells a chosen result from a merely seen one near zero."""
    scale = np.sqrt(np.average(pairs ** 2, axis=0, weights=sample_weight)) if len(pairs) else np.ones(pairs.shape[1])
    scale = np.where(scale > 1e-9, scale, 1.0)
    pairs = pairs / scale
    w = np.zeros(pairs.shape[1])
    base = np.zeros(len(pairs)) if offset is None else offset
    total = max(float(sample_weight.sum()), 1e-9)
    for _ in range(steps):
        z = base + pairs @ w
        prob = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        grad = pairs.T @ (sample_weight * (prob - 1.0)) / total + L2 * w
        hess = (pairs * (sample_weight * prob * (1 - prob))[:, None]).T @ pairs / total + L2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-6:
            break
    return w / scale


def examination(rank: int) -> float:
    """The learner's examination model (graph/events.py): 1 / log2(rank + 1)."""
    return 1.0 / math.log2(rank + 1)


def train(engine, *, max_intents: int = MAX_INTENTS, depth: int = DEPTH) -> dict:
    """Fit the ranker on the logged evidence of `engine`'s store and write it for its generation; returns
    what was trained (the built-in weights stay when there is too little evidence to fit)."""
    started = time.perf_counter()
    memory, config, view = engine.intents, engine.config, engine.view()
    memory.sync()
    intents = [i for i in engine.store.intents_since(None)[0] if i.intent_id in memory.index][-max_intents:]
    edges = engine.store.intent_edges([i.intent_id for i in intents])
    labelled = [(i, {a: sum(1 if s > 0 else -1 for s in st.users.values()) for a, st in edges[i.intent_id].items()
                     if st.users}) for i in intents if edges.get(i.intent_id)]
    labelled = [(i, lab) for i, lab in labelled if any(v > 0 for v in lab.values())]
    diffs, weights = [], []
    for start in range(0, len(labelled), 64):
        chunk = labelled[start:start + 64]
        results = engine.search_batch([i.text for i, _ in chunk], k=depth, record=False, learn=False)
        for (intent, label), result in zip(chunk, results, strict=True):
            d, w = _pairs(memory, config, intent.intent_id, label, result.hits)
            diffs += d
            weights += w
    info = {"intents": len(labelled), "pairs": len(diffs), "trained_at": time.time(),
            "seconds": round(time.perf_counter() - started, 1)}
    model = Model(dict(DEFAULT_WEIGHTS), view.generation, engine.embedder.model_id, True, info)
    if len(diffs) >= 20:
        d = np.array(diffs)
        w = fit(d[:, 1:], np.array(weights), offset=d[:, 0])  # in the text score's units: its weight is 1
        model.weights = {f: round(float(v), 4) for f, v in zip(FEATURES, w, strict=True)}
        model.weights["rejected"] = min(0.0, model.weights["rejected"])  # a rejection never lifts a result
    model.save(Path(config.data_dir))
    return {"weights": model.weights, "generation": model.generation, **info}


def _pairs(memory, config, intent_id: str, label: Mapping[str, int], hits) -> tuple[list, list]:
    """Pair differences (chosen minus each other served result) of one past request and their weights."""
    if not hits:
        return [], []
    vector = memory.index.reconstruct(intent_id)
    pooled = memory.pooled(vector, k=config.intent_neighbours, min_similarity=config.intent_min_similarity,
                           exclude={intent_id})
    ids = [h.artifact.id for h in hits]
    x = np.zeros((len(ids), len(FEATURES) + 1))
    x[:, 0] = [h.score for h in hits]
    if len(pooled):
        at = {a: i for i, a in enumerate(pooled.ids)}
        rows = [(r, at[a]) for r, a in enumerate(ids) if a in at]
        if rows:
            f = features(pooled)
            x[[r for r, _ in rows], 1:] = f[[j for _, j in rows]]
    chosen = [r for r, a in enumerate(ids) if label.get(a, 0) > 0]
    diffs, weights = [], []
    for r in chosen:
        ipw = min(10.0, 1.0 / examination(r + 1))
        others = [o for o, a in enumerate(ids) if label.get(a, 0) <= 0 and (o < r or o < PAIR_DEPTH)]
        for o in others:
            diffs.append(x[r] - x[o])
            weights.append(ipw * (2.0 if label.get(ids[o], 0) < 0 else 1.0) / len(others))
    return diffs, weights
