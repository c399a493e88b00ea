"""UnfragileRank and its five components, each able to explain where its points came from.

Every component is in 0..1 or *unknown* (nothing in the record measures it). UnfragileRank =
round(100 * sum(weight * component) / sum(weight)) over the KNOWN components, with per-type weights
(DEFAULT_WEIGHTS, overridable with the `weights` setting, MATCHGRAPH_WEIGHTS as JSON): an unknown
component is left out and the other weights renormalised, instead of counting as 0 (which would rank
"nobody reported downloads" as "nobody uses it").

- Adoption: each real signal (stars, downloads, dependents, likes, providers serving a model) as its
  percentile among every artifact of the catalog that reports that signal (one scale across types; ties
  share their mid-rank, so the ranks of log-scaled and raw counts are the same), averaged over the
  signals the artifact has. Unknown without any.
- Quality: measured quality only: benchmark scores (0..100) and arena Elo (percentile among the rated
  artifacts of the same arena category). Unknown without any.
- Freshness: halves every FRESHNESS_HALF_LIFE_DAYS since updated_at; unknown without a date.
- Ecosystem and Match Graph are always known (0 is a measurement: no formats, no match evidence yet).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from graph.catalog import Artifact

COMPONENTS = ("adoption", "quality", "ecosystem", "match_graph", "freshness")
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "default": {"adoption": 0.30, "quality": 0.25, "ecosystem": 0.15, "match_graph": 0.20, "freshness": 0.10},
    "dataset": {"adoption": 0.25, "quality": 0.35, "ecosystem": 0.10, "match_graph": 0.20, "freshness": 0.10},
    "fine-tune": {"adoption": 0.30, "quality": 0.20, "ecosystem": 0.20, "match_graph": 0.20, "freshness": 0.10},
    "api": {"adoption": 0.30, "quality": 0.20, "ecosystem": 0.15, "match_graph": 0.20, "freshness": 0.15},
}
ADOPTION_SIGNALS = ("downloads", "likes", "stars", "dependents", "providers")
SIGNAL_WORDS = {"downloads": "downloads", "likes": "likes", "stars": "GitHub stars", "dependents": "dependents",
                "providers": "providers serving it"}
FRESHNESS_HALF_LIFE_DAYS = 365.0

# Quality checklist: (key, points, what it checks). Points add up to 1.
QUALITY_CHECKLIST = (
    ("description", 0.15, "a description of at least 80 characters"),
    ("url", 0.10, "a link to a home page or card"),
    ("updated_at", 0.05, "an update date"),
    ("tags", 0.05, "tags"),
    ("capabilities", 0.15, "at least 3 capabilities"),
    ("depth", 0.15, "capability descriptions of 150+ characters on average"),
    ("unique", 0.175, "each capability says what is unique (share of capabilities)"),
    ("vs_alternatives", 0.175, "each capability compares with alternatives (share of capabilities)"),
)


def weights_table(overrides: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, dict[str, float]]:
    """The defaults with the `weights` setting merged over them (computed once per ScoreBook)."""
    table = {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()}
    table.update({k: dict(v) for k, v in (overrides or {}).items()})
    return table


def weights_for(kind: str, overrides: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, float]:
    """Weights of one artifact type: the `weights` setting overrides, then the defaults."""
    table = weights_table(overrides)
    return table.get(kind, table["default"])


@dataclass
class Component:
    value: float
    reasons: list[str] = field(default_factory=list)
    known: bool = True


def unknown(reason: str) -> Component:
    """A component nothing in the record measures: left out of UnfragileRank, shown as unknown."""
    return Component(0.0, [reason], known=False)


@dataclass
class Scores:
    """All five components, the composed rank and the explanation of each."""

    components: dict[str, Component]
    weights: dict[str, float]

    @property
    def known(self) -> list[str]:
        return [c for c in COMPONENTS if self.components[c].known]

    def effective_weights(self) -> dict[str, float]:
        """The weights renormalised over the known components (unknown ones weigh 0)."""
        total = sum(self.weights[c] for c in self.known)
        if total <= 0:
            return {c: 0.0 for c in COMPONENTS}
        return {c: (self.weights[c] / total if self.components[c].known else 0.0) for c in COMPONENTS}

    @property
    def unfragile_rank(self) -> int:
        eff = self.effective_weights()
        total = sum(eff[c] * self.components[c].value for c in COMPONENTS)
        return int(round(100 * min(1.0, max(0.0, total))))

    def points(self) -> dict[str, float]:
        """Points each component adds to UnfragileRank (with the renormalised weights)."""
        eff = self.effective_weights()
        return {c: round(100 * eff[c] * self.components[c].value, 1) for c in COMPONENTS}

    def to_dict(self) -> dict:
        """Component values are None when unknown; `unknown` lists them and `renormalised` says so."""
        out: dict = {"unfragile_rank": self.unfragile_rank}
        out.update({c: (round(self.components[c].value, 4) if self.components[c].known else None)
                    for c in COMPONENTS})
        pts, eff = self.points(), self.effective_weights()
        missing = [c for c in COMPONENTS if not self.components[c].known]
        out["unknown"] = missing
        out["renormalised"] = bool(missing)
        out["explanation"] = {
            c: {"value": round(self.components[c].value, 4) if self.components[c].known else None,
                "known": self.components[c].known, "weight": self.weights[c],
                "effective_weight": round(eff[c], 4), "points": pts[c], "reasons": self.components[c].reasons}
            for c in COMPONENTS
        }
        return out


def completeness(artifact: Artifact) -> Component:
    """How complete the record is (the old Quality checklist): shown for context, never in UnfragileRank."""
    caps = artifact.capabilities
    n = len(caps) or 1
    checks = {
        "description": 1.0 if len(artifact.description) >= 80 else 0.0,
        "url": 1.0 if artifact.url else 0.0,
        "updated_at": 1.0 if artifact.updated_at else 0.0,
        "tags": 1.0 if artifact.tags else 0.0,
        "capabilities": 1.0 if len(caps) >= 3 else len(caps) / 3,
        "depth": min(1.0, sum(len(c.description) for c in caps) / n / 150),
        "unique": sum(1 for c in caps if c.unique) / n,
        "vs_alternatives": sum(1 for c in caps if c.vs_alternatives) / n,
    }
    value = 0.0
    reasons = []
    for key, pts, what in QUALITY_CHECKLIST:
        got = pts * checks[key]
        value += got
        mark = "ok" if checks[key] >= 0.999 else ("partly" if checks[key] > 0 else "missing")
        reasons.append(f"{what}: {mark} (+{got:.3f} of {pts})")
    return Component(min(1.0, value), reasons)


def _benchmarks(artifact: Artifact) -> list[tuple[str, float]]:
    raw = artifact.signals.get("benchmarks")
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("score"), (int, float)):
            score = float(item["score"])
            if math.isfinite(score):
                out.append((str(item.get("name", "benchmark")), min(100.0, max(0.0, score))))
    return out


def _elo(artifact: Artifact) -> dict[str, float]:
    raw = artifact.signals.get("elo")
    out = {}
    for cat, item in (raw.items() if isinstance(raw, dict) else []):
        value = item.get("elo") if isinstance(item, dict) else item
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[str(cat)] = float(value)
    return out


def freshness(artifact: Artifact, today: dt.date | None = None) -> Component:
    if not artifact.updated_at:
        return unknown("no update date: unknown")
    try:
        updated = dt.date.fromisoformat(artifact.updated_at[:10])
    except ValueError:
        return unknown(f"unreadable update date {artifact.updated_at!r}: unknown")
    age = max(0, ((today or dt.date.today()) - updated).days)
    value = 0.5 ** (age / FRESHNESS_HALF_LIFE_DAYS)
    return Component(value, [f"updated {updated.isoformat()}, {age} days ago; half-life "
                             f"{FRESHNESS_HALF_LIFE_DAYS:.0f} days -> {value:.3f}"])


def _count(value: object) -> int:
    return len(value) if isinstance(value, list) else 0


def _signal(a: Artifact, key: str) -> float | None:
    """A usable adoption count (finite, > 0), clamped to 1e15; None when absent or unusable."""
    raw = a.signals.get(key)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    try:
        value = float(raw)
    except (OverflowError, ValueError):
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return min(value, 1e15)


def _midrank(values: list[float], value: float) -> float:
    """Share of `values` (sorted) below `value`, ties counted half, plus half a rank: the best is 1.0."""
    below = bisect.bisect_left(values, value)
    equal = bisect.bisect_right(values, value) - below
    return min(1.0, (below + (equal + 1) / 2) / len(values)) if values else 0.0


class ScoreBook:
    """Computes components that need the whole catalog (per-type normalisation) once per change."""

    def __init__(self, artifacts: Iterable[Artifact], match_scores: Mapping[str, float] | None = None,
                 co_matched: Mapping[str, int] | None = None, today: dt.date | None = None,
                 weights: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self.weights = weights_table(weights)
        self.artifacts = {a.id: a for a in artifacts}
        self.match_scores = dict(match_scores or {})
        self.co_matched = dict(co_matched or {})
        self.today = today
        # Adoption: per signal, the sorted values of every artifact that reports it (whole catalog).
        self._signal_values: dict[str, list[float]] = defaultdict(list)
        # Quality: per arena category, the sorted Elo ratings of the rated artifacts.
        self._elo_values: dict[str, list[float]] = defaultdict(list)
        for a in self.artifacts.values():
            for key in ADOPTION_SIGNALS:
                value = _signal(a, key)
                if value is not None:
                    self._signal_values[key].append(value)
            for cat, value in _elo(a).items():
                self._elo_values[cat].append(value)
        for values in (*self._signal_values.values(), *self._elo_values.values()):
            values.sort()
        self._max_co = max(self.co_matched.values(), default=0)
        self._cache: dict[str, Scores] = {}

    def adoption(self, a: Artifact) -> Component:
        parts, reasons = [], []
        for key in ADOPTION_SIGNALS:
            value = _signal(a, key)
            if value is None:
                continue
            values = self._signal_values[key]
            share = _midrank(values, value)
            parts.append(share)
            reasons.append(f"{SIGNAL_WORDS[key]} {int(value):,}: percentile {100 * share:.0f} among the "
                           f"{len(values):,} artifacts reporting {SIGNAL_WORDS[key]}")
        if not parts:
            return unknown("no stars, downloads, dependents, likes or providers reported: unknown")
        return Component(sum(parts) / len(parts), reasons)

    def quality(self, a: Artifact) -> Component:
        parts, reasons = [], []
        for name, score in _benchmarks(a):
            parts.append(score / 100)
            reasons.append(f"benchmark {name}: {score:.1f}/100")
        for cat, value in _elo(a).items():
            values = self._elo_values[cat]
            share = _midrank(values, value)
            parts.append(share)
            reasons.append(f"Elo {value:.0f} in {cat}: percentile {100 * share:.0f} among {len(values)} rated")
        if not parts:
            return unknown("no benchmark score or arena rating: unknown")
        return Component(sum(parts) / len(parts), reasons)

    def ecosystem(self, a: Artifact) -> Component:
        formats = _count(a.signals.get("formats"))
        frameworks = _count(a.signals.get("frameworks"))
        integrations = _count(a.signals.get("integrations"))
        co = self.co_matched.get(a.id, 0)
        co_share = math.log1p(co) / math.log1p(self._max_co) if self._max_co else 0.0
        items = [
            (0.35, min(formats, 4) / 4, f"{formats} formats (4+ = full)"),
            (0.30, min(frameworks, 3) / 3, f"{frameworks} frameworks (3+ = full)"),
            (0.20, min(integrations, 2) / 2, f"{integrations} integrations (2+ = full)"),
            (0.15, co_share, f"co-matched with {co} other artifacts by the same intents"),
        ]
        value = sum(w * s for w, s, _ in items)
        return Component(value, [f"{what}: +{w * s:.3f} of {w}" for w, s, what in items])

    def match_graph(self, a: Artifact) -> Component:
        value = self.match_scores.get(a.id, 0.0)
        if value <= 0:
            return Component(0.0, ["no Match Graph evidence yet: no search has led to it so far: 0"])
        return Component(value, [f"weighted PageRank over intent -> capability -> artifact, log-damped "
                                 f"and normalised among {a.type}s -> {value:.3f}"])

    def scores(self, artifact_id: str) -> Scores:
        cached = self._cache.get(artifact_id)
        if cached is not None:
            return cached
        a = self.artifacts[artifact_id]
        comps = {
            "adoption": self.adoption(a), "quality": self.quality(a), "ecosystem": self.ecosystem(a),
            "match_graph": self.match_graph(a), "freshness": freshness(a, self.today),
        }
        result = Scores(comps, self.weights.get(a.type, self.weights["default"]))
        self._cache[artifact_id] = result
        return result
