"""What past searches teach the next one: the evidence of distinct people, pooled over the nearest past intents.

A query rarely repeats word for word; its neighbours do. Evidence is pooled over the `k` past intents nearest
to the query (cosine over the stored intent vectors, Gao et al. 2009's smoothing of click-through data, the
way Tool2Vec represents a tool by the requests that used it): each neighbour weighs by a kernel of its
similarity, and for each artifact every person who took a stance on it in any neighbour counts once, with the
weight of the closest such neighbour (one person repeating a query or its paraphrases is one person; a person
is a person key, so every unsigned identity of one network is one person: search/identity.py). What the
pooled evidence is worth against the text score is search/ranker.py's job.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graph.infra.forksafe import reset_after_fork
from graph.store.base import MatchStore
from search import ranker
from search.embedder import Embedder
from search.index import VectorIndex

log = logging.getLogger(__name__)


@dataclass
class Pooled:
    """The evidence of a query's neighbourhood, one entry per artifact some person took a stance on."""

    ids: list[str] = field(default_factory=list)
    chose: np.ndarray = field(default_factory=lambda: np.zeros(0))  # sum of the weights of people who chose it
    rejected: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ... of people who rejected it
    exposure: np.ndarray = field(default_factory=lambda: np.zeros(0))  # kernel-weighted expected examinations
    choosers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # people who chose it
    people: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # people with a stance on it
    total: float = 0.0  # sum of the neighbours' kernel weights
    closest: float = 0.0  # cosine of the nearest neighbour

    def __len__(self) -> int:
        return len(self.ids)


KERNEL_POWER = 2  # far neighbours stay weak: at cosine 0.5 with the floor at 0.45, (0.05 / 0.55)^2 = 0.008


def kernel(similarity: float, min_similarity: float) -> float:
    """A neighbour's weight: 0 at `min_similarity`, 1 for the same intent, quadratic in between.

    Quadratic so the floor can sit lower (0.45: the paraphrases that tell a request's artifact are often at cosine
    0.45-0.55) without far neighbours outweighing close ones: they still count their people (the per-person
    bound of search/ranker.py), but their choices weigh little against the text score (docs/learning.md)."""
    return max(0.0, (similarity - min_similarity) / max(1e-9, 1.0 - min_similarity)) ** KERNEL_POWER


class IntentMemory:
    """Past intents in their own vector index, kept in step with the store's log."""

    def __init__(self, embedder: Embedder, store: MatchStore) -> None:
        self.embedder = embedder
        self.store = store
        self.index = VectorIndex(embedder.dim)
        self.cursor: tuple[int, ...] | None = None
        self.models = ranker.Models()
        self._lock = threading.Lock()
        reset_after_fork(self, "_lock")

    def sync(self) -> None:
        """Load intents recorded since the last sync (by this or any other process).

        Intents this process searched for are already in memory (`remember`); the vectors of the others
        are read from the store, where the process that first searched for them put them (`remember`);
        only intents without a stored vector are embedded, so no host embeds another host's intents.
        """
        new, cursor = self.store.intents_since(self.cursor)
        if not new:
            self.cursor = cursor
            return
        todo = [i for i in new if i.intent_id not in self.index]
        stored = self.store.intent_vectors([i.intent_id for i in todo]) if todo else {}
        stored = {k: v for k, v in stored.items() if v.shape == (self.embedder.dim,)}
        missing = [i for i in todo if i.intent_id not in stored]
        if missing:
            stored.update(zip([i.intent_id for i in missing],
                              self.embedder.encode([i.text for i in missing]), strict=True))
        with self._lock:
            if todo:
                ids = [i.intent_id for i in todo]
                self.index.upsert(ids, np.stack([stored[i] for i in ids]).astype(np.float32))
            self.cursor = cursor

    def remember(self, intent_id: str, vector: np.ndarray, text: str | None = None) -> None:
        """Keep an intent this process searched for. With its `text` (what `vector` embeds), the vector also
        goes into the embedder's persistent vector cache, shared by the workers of a data dir: when they
        sync this intent they read it there instead of running the model on it again."""
        with self._lock:
            if intent_id in self.index:
                return
            self.index.upsert([intent_id], vector[None, :])
        try:
            self.store.put_intent_vectors({intent_id: vector})
        except Exception as exc:  # an optimisation only: never fail the search that was just served
            log.warning("could not store the vector of intent %s: %s", intent_id, exc)
        if text is not None and self.embedder.cache is not None:
            try:
                self.embedder.cache.put_many({self.embedder.cache_key(text): vector})
            except sqlite3.Error as exc:  # an optimisation only: never fail the search that was just served
                log.warning("could not cache the vector of intent %s: %s", intent_id, exc)

    def neighbours(self, vector: np.ndarray, k: int, min_similarity: float) -> list[tuple[str, float]]:
        if not len(self.index):
            return []
        with self._lock:
            hits = self.index.search(vector[None, :], k)[0]
        return [(i, s) for i, s in hits if s >= min_similarity]

    def pooled(self, vector: np.ndarray, *, k: int, min_similarity: float,
               exclude: Collection[str] = ()) -> Pooled:
        """The evidence of the `k` nearest past intents with cosine >= `min_similarity` (minus `exclude`:
        training leaves the intent it learns from out), counted per distinct person."""
        near = [(i, s) for i, s in self.neighbours(vector, k + len(exclude), min_similarity)
                if i not in exclude][:k]
        if not near:
            return Pooled()
        weights = {i: kernel(s, min_similarity) for i, s in near}
        exposure: dict[str, float] = {}
        people: dict[str, dict[str, tuple[float, int]]] = {}  # artifact -> person -> (weight, stance)
        for intent_id, by_artifact in self.store.stance_edges(list(weights)).items():
            w = weights.get(intent_id, 0.0)
            for artifact_id, stats in by_artifact.items():
                exposure[artifact_id] = exposure.get(artifact_id, 0.0) + w * stats.exposure
                if not stats.users:
                    continue
                mine = people.setdefault(artifact_id, {})
                for user, stance in stats.users.items():
                    if user not in mine or w > mine[user][0]:
                        mine[user] = (w, stance)
        ids = [a for a, users in people.items() if users]
        chose = np.array([sum(w for w, st in people[a].values() if st > 0) for a in ids])
        rejected = np.array([sum(w for w, st in people[a].values() if st < 0) for a in ids])
        return Pooled(ids, chose, rejected, np.array([exposure.get(a, 0.0) for a in ids]),
                      np.array([sum(1 for _, st in people[a].values() if st > 0) for a in ids], dtype=int),
                      np.array([len(people[a]) for a in ids], dtype=int),
                      float(sum(weights.values())), max(s for _, s in near))

    def evidence(self, vector: np.ndarray, config) -> Pooled:
        """What similar past searches show for `vector` (after syncing intents other processes recorded):
        the first half of `learned`, which needs no candidate scores, so a search gathers it while the
        capability index scans (search/overlap.py)."""
        self.sync()
        return self.pooled(vector, k=config.intent_neighbours, min_similarity=config.intent_min_similarity)

    def learned(self, vector: np.ndarray, fused: Mapping[str, float], config, generation: str = "",
                evidence: Pooled | None = None) -> tuple[dict[str, float], dict[str, list[str]]]:
        """Learned bonus per candidate artifact (in `fused`, the text scores) and why: the pooled evidence
        (`evidence`, else gathered now) fused with the text score by the ranker trained for `generation`
        (search/ranker.py; its built-in weights when none is), bounded per person. Nothing when no past
        intent is close (zero-shot)."""
        pooled = self.evidence(vector, config) if evidence is None else evidence
        if not pooled:
            return {}, {}
        model = self.models.get(Path(config.data_dir), generation, self.embedder.model_id)
        bonus = ranker.bonus(pooled, fused, model.weights, cap=config.learned_cap, min_users=config.learn_min_users)
        at = {a: i for i, a in enumerate(pooled.ids)}
        why = {a: [f"{pooled.choosers[at[a]]} of {pooled.people[at[a]]} people in similar past searches chose it"]
               for a in bonus}
        return bonus, why
