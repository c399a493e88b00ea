"""What past searches teach the next one: nearest past intents vote with their feedback evidence."""

from __future__ import annotations

import logging
import math
import sqlite3
import threading

import numpy as np

from graph.feedback import evidence
from graph.forksafe import reset_after_fork
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
                scale: float = 0.05) -> tuple[dict[str, float], dict[str, list[str]]]:
        """Learned bonus per artifact (bounded by `cap`) and why.

        Each neighbour intent votes with the lift of its Beta posterior (chosen-when-seen minus
        the prior), weighted by how close it is. Only edges where someone clicked or voted take
        part: impressions alone never add a bonus.
        """
        self.sync()
        near = self.neighbours(vector, k, min_similarity)
        if not near:
            return {}, {}
        weights = {i: (s - min_similarity) / (1 - min_similarity) for i, s in near}
        edges = self.store.intent_edges(list(weights))
        raw: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        for intent_id, by_artifact in edges.items():
            w = weights.get(intent_id, 0.0)
            for artifact_id, stats in by_artifact.items():
                ev = evidence(stats)
                if not ev.explicit:
                    continue
                raw[artifact_id] = raw.get(artifact_id, 0.0) + w * ev.lift
                why.setdefault(artifact_id, []).append(
                    f"similar past search (similarity {w:.2f} weight): {stats.clicks} clicks, "
                    f"{stats.upvotes} up, {stats.downvotes} down over {stats.impressions} impressions")
        bonus = {a: cap * math.tanh(v / scale) for a, v in raw.items()}
        return bonus, why
