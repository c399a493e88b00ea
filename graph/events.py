"""Events of the append-only log. Every count, edge and score is derived from these."""

from __future__ import annotations

import copy
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

FEEDBACK_EVENTS = ("click", "dwell", "upvote", "downvote", "unvote")  # unvote: withdraws a vote (`replaces`)


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
    user: str = ""  # pseudonymous user key (search/identity.py), never a raw token or address
    settled: bool = True  # first search of (user, intent) in the settle window: counts toward Times Matched
    preview: bool = False  # as-you-type preview: logged, never counted
    filtered: bool = False  # a type/pricing filter was applied
    new_user: bool = False  # first counted search of this query by this user (popular searches)
    owner: str = ""  # the identity that made it (keyed hash): only it may give feedback on it

    @property
    def zero_results(self) -> bool:
        """Nothing matched at all (a catalog gap); a search emptied by a filter is `filtered_empty`."""
        return not self.served and not self.filtered

    @property
    def filtered_empty(self) -> bool:
        return not self.served and self.filtered

    @property
    def evidence(self) -> bool:
        """Whether this search is evidence: adds to Times Matched, match edges, exposure and intent counts.
        Previews, repeats within the settle window and low-confidence searches are logged only."""
        return self.settled and not self.preview and not self.low_confidence

    def to_dict(self) -> dict[str, Any]:
        """Field by field (same keys and order as `dataclasses.asdict`, which deep-copies and is 10x slower)."""
        served = [{"artifact_id": s.artifact_id, "rank": s.rank, "score": s.score,
                   "capabilities": [list(c) for c in s.capabilities]} for s in self.served]
        return {"search_id": self.search_id, "intent_id": self.intent_id, "query": self.query, "ts": self.ts,
                "served": served, "k": self.k, "top_score": self.top_score, "low_confidence": self.low_confidence,
                "user": self.user, "settled": self.settled, "preview": self.preview, "filtered": self.filtered,
                "new_user": self.new_user, "owner": self.owner, "kind": "search"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchEvent:
        served = tuple(
            Served(s["artifact_id"], int(s["rank"]), float(s["score"]),
                   tuple((c[0], float(c[1])) for c in s.get("capabilities", ())))
            for s in d["served"]
        )
        return cls(d["search_id"], d["intent_id"], d["query"], float(d["ts"]), served,
                   int(d.get("k", 10)), float(d.get("top_score", 0.0)), bool(d.get("low_confidence", False)),
                   str(d.get("user", "")), bool(d.get("settled", True)), bool(d.get("preview", False)),
                   bool(d.get("filtered", False)), bool(d.get("new_user", False)), str(d.get("owner", "")))


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
    user: str = ""  # pseudonymous user key
    counted: bool = True  # first of its kind for (user, search, artifact); a repeat is logged only
    replaces: str = ""  # the earlier vote of this user on (search, artifact) a vote replaces or an unvote withdraws

    def to_dict(self) -> dict[str, Any]:
        return {"search_id": self.search_id, "artifact_id": self.artifact_id, "event": self.event, "ts": self.ts,
                "dwell_ms": self.dwell_ms, "user": self.user, "counted": self.counted, "replaces": self.replaces,
                "extra": copy.deepcopy(self.extra), "kind": "feedback", "intent_id": self.intent_id,
                "rank": self.rank}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeedbackEvent:
        return cls(d["search_id"], d["artifact_id"], d["event"], float(d["ts"]), int(d.get("dwell_ms", 0)),
                   d.get("intent_id", ""), int(d.get("rank", 0)), dict(d.get("extra", {})),
                   str(d.get("user", "")), bool(d.get("counted", True)), str(d.get("replaces", "")))


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
    users: dict[str, int] = field(default_factory=dict)  # user key -> stance: +1 chose it, -1 rejected it
