"""Events of the append-only log. Every count, edge and score is derived from these."""

from __future__ import annotations

import copy
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

FEEDBACK_EVENTS = ("click", "dwell", "upvote", "downvote")


def normalise_query(text: str) -> str:
    """Intent text: NFKC, lowercase, punctuation folded to spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s.+#-]", " ", text)
    return " ".join(text.split())


def examination(rank: int) -> float:
    """Probability that a user looks at position `rank` (1-based): the DCG position-bias model."""
    return 1.0 / math.log2(rank + 1)


@dataclass(frozen=True)
class Served:
    """One artifact served by a search, with the capabilities that matched and their similarity."""

    artifact_id: str
    rank: int
    score: float
    capabilities: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class SearchEvent:
    """A search that was answered: the intent and what was served in the top k."""

    search_id: str
    intent_id: str
    query: str
    ts: float
    served: tuple[Served, ...]
    k: int = 10
    top_score: float = 0.0
    low_confidence: bool = False

    @property
    def zero_results(self) -> bool:
        return not self.served

    def to_dict(self) -> dict[str, Any]:
        """Field by field (same keys and order as `dataclasses.asdict`, which deep-copies and is 10x slower)."""
        served = [{"artifact_id": s.artifact_id, "rank": s.rank, "score": s.score,
                   "capabilities": [list(c) for c in s.capabilities]} for s in self.served]
        return {"search_id": self.search_id, "intent_id": self.intent_id, "query": self.query, "ts": self.ts,
                "served": served, "k": self.k, "top_score": self.top_score, "low_confidence": self.low_confidence,
                "kind": "search"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchEvent:
        served = tuple(
            Served(s["artifact_id"], int(s["rank"]), float(s["score"]),
                   tuple((c[0], float(c[1])) for c in s.get("capabilities", ())))
            for s in d["served"]
        )
        return cls(d["search_id"], d["intent_id"], d["query"], float(d["ts"]), served,
                   int(d.get("k", 10)), float(d.get("top_score", 0.0)), bool(d.get("low_confidence", False)))


@dataclass(frozen=True)
class FeedbackEvent:
    """A user's reaction to one served result of a search."""

    search_id: str
    artifact_id: str
    event: str
    ts: float
    dwell_ms: int = 0
    intent_id: str = ""
    rank: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"search_id": self.search_id, "artifact_id": self.artifact_id, "event": self.event, "ts": self.ts,
                "dwell_ms": self.dwell_ms, "intent_id": self.intent_id, "rank": self.rank,
                "extra": copy.deepcopy(self.extra), "kind": "feedback"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeedbackEvent:
        return cls(d["search_id"], d["artifact_id"], d["event"], float(d["ts"]), int(d.get("dwell_ms", 0)),
                   d.get("intent_id", ""), int(d.get("rank", 0)), dict(d.get("extra", {})))


def event_from_dict(d: dict[str, Any]) -> SearchEvent | FeedbackEvent:
    return SearchEvent.from_dict(d) if d.get("kind") == "search" else FeedbackEvent.from_dict(d)


@dataclass
class EdgeStats:
    """Evidence on an intent -> artifact edge.

    `exposure` sums the examination probability of every impression, so a result shown at
    rank 8 a hundred times counts less than one shown at rank 1: clicks are judged against
    how often the result was likely seen, not how often it was merely served.
    """

    impressions: int = 0
    exposure: float = 0.0
    clicks: int = 0
    dwell_ms: int = 0
    dwells: int = 0
    upvotes: int = 0
    downvotes: int = 0
