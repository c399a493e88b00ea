"""What past searches teach the next one: what distinct people chose for the nearest past intents."""

from __future__ import annotations

import logging
import math
import sqlite3
import threading

import numpy as np

from graph.feedback import MIN_USERS, posterior, prior_mean
from graph.infra.forksafe import reset_after_fork
from graph.store.base import MatchStore
from search.embedder import Embedder
from search.index import VectorIndex

log = logging.getLogger(__name__)


class IntentMemory:
    """Past intents in their own vector index, kept in step with the store's log."""

    def __init__(self, embedder: Embedder, store: MatchStore) -> None:
        self.embedder = embedder
        self.store = store
        self.index = VectorIndex(embedder.dim)
        self.cursor: tuple[int, ...] | None = None
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

    def learned(self, vector: np.ndarray, *, cap: float, min_similarity: float, k: int = 10,
                scale: float = 0.05, min_users: int = MIN_USERS) -> tuple[dict[str, float], dict[str, list[str]]]:
        """Learned bonus per artifact (bounded by `cap`) and why: evidence aggregated per distinct user.

        The `k` nearest past intents with cosine >= `min_similarity` take part, each weighted by
        w = (cosine - min_similarity) / (1 - min_similarity). For each artifact, every user who took a stance
        on it in any of them counts once, with the weight of the closest such intent (so one person repeating
        a query or its paraphrases is still one person; a "user" is a person key, so every unsigned identity of
        one network is one user: search/identity.py). Positive / negative = sum of those users' weights,
        exposure = the weighted sum of its examination-model exposure (graph/feedback.py), and the bonus is
        cap * tanh(lift / scale) of the Beta posterior times `strength(users, min_users)`: full from
        `min_users` people on, (n / min_users)^4 below: one person's choice counts a little (1/81 of the
        full boost with the default 3, a tie-breaker: at most 0.0037 with the default cap 0.3), two people's
        a fifth, so no single network (all of its unsigned identities are one person) moves a result more
        than a near tie (tests/test_attack.py).
        """
        self.sync()
        near = self.neighbours(vector, k, min_similarity)
        if not near:
            return {}, {}
        weights = {i: (s - min_similarity) / (1 - min_similarity) for i, s in near}
        edges = self.store.intent_edges(list(weights))
        exposure: dict[str, float] = {}
        people: dict[str, dict[str, tuple[float, int]]] = {}  # artifact -> user -> (weight, stance)
        for intent_id, by_artifact in edges.items():
            w = weights.get(intent_id, 0.0)
            for artifact_id, stats in by_artifact.items():
                exposure[artifact_id] = exposure.get(artifact_id, 0.0) + w * stats.exposure
                mine = people.setdefault(artifact_id, {})
                for user, stance in stats.users.items():
                    if user not in mine or w > mine[user][0]:
                        mine[user] = (w, stance)
        bonus: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        for artifact_id, users in people.items():
            pos = sum(w for w, st in users.values() if st > 0)
            neg = sum(w for w, st in users.values() if st < 0)
            ev = posterior(pos, neg, exposure.get(artifact_id, 0.0), len(users))
            bonus[artifact_id] = cap * math.tanh(ev.lift / scale) * strength(len(users), min_users)
            chose = sum(1 for _, st in users.values() if st > 0)
            why[artifact_id] = [f"{chose} of {len(users)} people in similar past searches chose it "
                                f"(posterior {ev.mean:.2f} vs prior {prior_mean():.2f})"]
        return bonus, why


def strength(people: int, min_users: int) -> float:
    """How much of the learned boost `people` distinct people earn: all of it from `min_users` on."""
    return min(1.0, people / max(1, min_users)) ** 4
