"""UnfragileRank and its five components, each able to explain where its points came from.

Every component is in 0..1 or *unknown* (nothing in the record measures it). UnfragileRank =
round(100 * sum(weight * component) / sum(weight)) over the KNOWN components, with per-type weights
(DEFAULT_WEIGHTS, overridable with the `weights` setting, MATCHGRAPH_WEIGHTS as JSON): an unknown
component is left out and the other weights renormalised, instead of counting as 0 (which would rank
"nobody reported downloads" as "nobody uses it").

- Adoption: usage only (downloads, stars, likes, votes, dependents), each as its percentile among the
  artifacts OF THE SAME TYPE that report the same measure, and only where at least MIN_COMPARABLE (30) of
  them do (ties share their mid-rank); averaged over the measures the artifact has. Unknown without any:
  a percentile over 2 records says nothing. Providers serving a model are availability, shown in the
  reasons, never adoption.
- Quality: measured quality only: each benchmark result (signals.benchmarks) as its percentile among the
  artifacts reporting the same benchmark and metric, and arena Elo as its percentile within its arena
  category, each only where at least MIN_COMPARABLE records are comparable. A maker's claim
  (`measured: false`) weighs CLAIM_WEIGHT of an independent measurement. Unknown without any.
- Freshness: halves every FRESHNESS_HALF_LIFE_DAYS since updated_at; unknown without a date.
- Ecosystem and Match Graph are always known (0 is a measurement: no formats, no match evidence yet).

Components that come from search traffic are shrunk toward their prior (0: no standing) by the
evidence behind them, n = the artifact's Times Matched (counted searches that served it):

    match_graph = raw * n / (n + PRIOR_SEARCHES)
    ecosystem  += 0.15 * co_share * n / (n + PRIOR_SEARCHES)      (its co-matched part)

so one or two searches cannot swing a score. Each carries an approximate 95% interval
value +- 1.96 * 0.5 / sqrt(n + 1) (the widest binomial standard error with n observations; for the
ecosystem part scaled by its 0.15), and UnfragileRank carries the weighted (renormalised) sum of those
half-widths. Adoption, quality and freshness come from the catalog record, not from traffic: no uncertainty.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from graph.catalog import MAX_COUNT, Artifact, read_count

COMPONENTS = ("adoption", "quality", "ecosystem", "match_graph", "freshness")
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "default": {"adoption": 0.30, "quality": 0.25, "ecosystem": 0.15, "match_graph": 0.20, "freshness": 0.10},
    "dataset": {"adoption": 0.25, "quality": 0.35, "ecosystem": 0.10, "match_graph": 0.20, "freshness": 0.10},
    "fine-tune": {"adoption": 0.30, "quality": 0.20, "ecosystem": 0.20, "match_graph": 0.20, "freshness": 0.10},
    "api": {"adoption": 0.30, "quality": 0.20, "ecosystem": 0.15, "match_graph": 0.20, "freshness": 0.15},
}
ADOPTION_SIGNALS = ("downloads", "likes", "stars", "votes", "dependents")
SIGNAL_WORDS = {"downloads": "downloads", "likes": "likes", "stars": "GitHub stars", "dependents": "dependents",
                "votes": "votes", "providers": "providers serving it"}
MIN_COMPARABLE = 30  # fewest comparable records a percentile (adoption or quality) is computed over
CLAIM_WEIGHT = 0.5  # weight of a maker's claim against an independent measurement (weight 1) in Quality
log = logging.getLogger(__name__)
FRESHNESS_HALF_LIFE_DAYS = 365.0
PRIOR_SEARCHES = 20.0  # pseudo-searches of the prior that traffic-derived components are shrunk toward
CO_WEIGHT = 0.15  # share of Ecosystem that comes from co-matching (traffic)


def half_width(n: int) -> float:
    """Approximate 95% half-width of a 0..1 value estimated from n counted searches."""
    return 1.96 * 0.5 / math.sqrt(max(0, n) + 1)


def shrink(n: int | None) -> float:
    """Weight of the evidence against the prior: n / (n + PRIOR_SEARCHES); 1 when n is unknown (None)."""
    return 1.0 if n is None else max(0, n) / (max(0, n) + PRIOR_SEARCHES)

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
    uncertainty: float = 0.0  # half-width of the approximate 95% interval
    evidence: int | None = None  # counted searches behind a traffic-derived component

    @property
    def interval(self) -> tuple[float, float]:
        return max(0.0, self.value - self.uncertainty), min(1.0, self.value + self.uncertainty)


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

    def _rank(self, eff: dict[str, float]) -> int:
        total = sum(eff[c] * self.components[c].value for c in COMPONENTS)
        return int(round(100 * min(1.0, max(0.0, total))))

    def _uncertainty(self, eff: dict[str, float]) -> float:
        return 100 * sum(eff[c] * self.components[c].uncertainty for c in COMPONENTS)

    @property
    def unfragile_rank(self) -> int:
        return self._rank(self.effective_weights())

    @property
    def rank_uncertainty(self) -> float:
        """Half-width of UnfragileRank's approximate 95% interval, in points."""
        return self._uncertainty(self.effective_weights())

    def rank_and_interval(self) -> tuple[int, tuple[int, int]]:
        """(unfragile_rank, rank_interval) from one renormalisation of the weights (a search response shows
        both for every hit: the properties one by one renormalised four times)."""
        eff = self.effective_weights()
        rank, u = self._rank(eff), self._uncertainty(eff)
        return rank, (max(0, int(math.floor(rank - u))), min(100, int(math.ceil(rank + u))))

    @property
    def rank_interval(self) -> tuple[int, int]:
        return self.rank_and_interval()[1]

    def points(self) -> dict[str, float]:
        """Points each component adds to UnfragileRank (with the renormalised weights)."""
        eff = self.effective_weights()
        return {c: round(100 * eff[c] * self.components[c].value, 1) for c in COMPONENTS}

    def to_dict(self) -> dict:
        """Component values are None when unknown; `unknown` lists them and `renormalised` says so."""
        out: dict = {"unfragile_rank": self.unfragile_rank, "unfragile_rank_interval": list(self.rank_interval)}
        out.update({c: (round(self.components[c].value, 4) if self.components[c].known else None)
                    for c in COMPONENTS})
        pts, eff = self.points(), self.effective_weights()
        missing = [c for c in COMPONENTS if not self.components[c].known]
        out["unknown"] = missing
        out["renormalised"] = bool(missing)
        out["explanation"] = {
            c: {"value": round(self.components[c].value, 4) if self.components[c].known else None,
                "known": self.components[c].known, "weight": self.weights[c],
                "effective_weight": round(eff[c], 4), "points": pts[c], "reasons": self.components[c].reasons,
                "interval": [round(x, 4) for x in self.components[c].interval],
                "evidence": self.components[c].evidence}
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


def _benchmarks(artifact: Artifact) -> list[tuple[tuple[str, str], str, float, bool]]:
    """(comparable key (name, metric), name, score 0..100, measured) of each readable benchmark result."""
    raw = artifact.signals.get("benchmarks")
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("score"), (int, float)):
            score = float(item["score"])
            if math.isfinite(score):
                name = str(item.get("name", "benchmark"))
                key = (" ".join(name.lower().split()), str(item.get("metric") or "").lower())
                out.append((key, name, min(100.0, max(0.0, score)), item.get("measured") is not False))
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


def _safe(name: str, fn, artifact: Artifact) -> Component:
    """One component; a stored value it cannot read scores 0 with a warning, never an exception (one bad
    record must not take search, artifacts, similar, compare and the pages down)."""
    try:
        comp = fn(artifact)
        if not math.isfinite(comp.value):
            raise ValueError(f"{name} is {comp.value}")
        return dataclasses.replace(comp, value=min(1.0, max(0.0, comp.value)))
    except Exception as exc:
        log.warning("artifact %s: %s cannot be computed from its stored values (%s: %s): scored 0",
                    artifact.id, name, type(exc).__name__, exc)
        return Component(0.0, [f"unreadable stored values ({type(exc).__name__}): 0"])


def _count(value: object) -> int:
    return len(value) if isinstance(value, list) else 0


def _signal(a: Artifact, key: str) -> float | None:
    """A usable adoption count (finite, > 0), clamped to MAX_COUNT; None when absent or unusable."""
    value, problem = read_count(a.signals.get(key))
    if problem:
        log.warning("artifact %s: signals.%s %s: %s", a.id, key, problem,
                    "ignored" if value is None else f"clamped to {MAX_COUNT:g}")
    return value if value else None


def plural(kind: str) -> str:
    """'library' -> 'libraries', 'dataset' -> 'datasets' (artifact types in reasons)."""
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"


def _midrank(values: list[float], value: float) -> float:
    """Share of `values` (sorted) below `value`, ties counted half, plus half a rank: the best is 1.0."""
    below = bisect.bisect_left(values, value)
    equal = bisect.bisect_right(values, value) - below
    return min(1.0, (below + (equal + 1) / 2) / len(values)) if values else 0.0


class ScoreBook:
    """Computes components that need the whole catalog (per-type normalisation) once per change."""

    def __init__(self, artifacts: Iterable[Artifact], match_scores: Mapping[str, float] | None = None,
                 co_matched: Mapping[str, int] | None = None, today: dt.date | None = None,
                 weights: Mapping[str, Mapping[str, float]] | None = None,
                 evidence: Mapping[str, int] | None = None) -> None:
        """`evidence`: counted searches per artifact (Times Matched) that traffic-derived components are
        shrunk by; None keeps them unshrunk (no uncertainty known)."""
        self.weights = weights_table(weights)
        self.artifacts = {a.id: a for a in artifacts}
        self.evidence = None if evidence is None else dict(evidence)
        self.match_scores = dict(match_scores or {})
        self.co_matched = dict(co_matched or {})
        self.today = today
        # Adoption: per (type, signal), the sorted values of the artifacts of that type that report it.
        self._signal_values: dict[tuple[str, str], list[float]] = defaultdict(list)
        # Quality: per arena category / per (benchmark, metric), the sorted values of the rated artifacts.
        self._elo_values: dict[str, list[float]] = defaultdict(list)
        self._bench_values: dict[tuple[str, str], list[float]] = defaultdict(list)
        for a in self.artifacts.values():
            for key in ADOPTION_SIGNALS:
                value = _signal(a, key)
                if value is not None:
                    self._signal_values[(a.type, key)].append(value)
            for cat, value in _elo(a).items():
                self._elo_values[cat].append(value)
            best: dict[tuple[str, str], float] = {}
            for key, _name, score, _measured in _benchmarks(a):
                best[key] = max(score, best.get(key, 0.0))
            for key, score in best.items():
                self._bench_values[key].append(score)
        for values in (*self._signal_values.values(), *self._elo_values.values(), *self._bench_values.values()):
            values.sort()
        self._max_co = max(self.co_matched.values(), default=0)
        self._cache: dict[str, Scores] = {}

    def adoption(self, a: Artifact) -> Component:
        parts, reasons = [], []
        for key in ADOPTION_SIGNALS:
            value = _signal(a, key)
            if value is None:
                continue
            values = self._signal_values[(a.type, key)]
            if len(values) < MIN_COMPARABLE:
                reasons.append(f"{SIGNAL_WORDS[key]} {int(value):,}: only {len(values)} {plural(a.type)} report "
                               f"{SIGNAL_WORDS[key]} (fewer than {MIN_COMPARABLE}): not compared")
                continue
            share = _midrank(values, value)
            parts.append(share)
            reasons.append(f"{SIGNAL_WORDS[key]} {int(value):,}: percentile {100 * share:.0f} among the "
                           f"{len(values):,} {plural(a.type)} reporting {SIGNAL_WORDS[key]}")
        providers = _signal(a, "providers")
        if providers is not None:
            reasons.append(f"availability: {int(providers):,} providers serve it (shown, not adoption)")
        if not parts:
            return unknown("; ".join(["no usage measure (downloads, stars, likes, votes, dependents) reported by "
                                      f"at least {MIN_COMPARABLE} {plural(a.type)}: unknown", *reasons]))
        return Component(sum(parts) / len(parts), reasons)

    def quality(self, a: Artifact) -> Component:
        parts: list[tuple[float, float]] = []  # (weight, percentile)
        reasons: list[str] = []
        seen: set[tuple[str, str]] = set()
        for key, name, score, measured in sorted(_benchmarks(a), key=lambda b: (-b[3], -b[2])):
            if key in seen:
                continue
            seen.add(key)
            values = self._bench_values[key]
            who = "measured independently" if measured else f"the maker's claim, weight {CLAIM_WEIGHT}"
            if len(values) < MIN_COMPARABLE:
                reasons.append(f"benchmark {name}: {score:.1f}/100 ({who}); only {len(values)} records report it "
                               f"(fewer than {MIN_COMPARABLE}): not compared")
                continue
            share = _midrank(values, score)
            parts.append((1.0 if measured else CLAIM_WEIGHT, share))
            reasons.append(f"benchmark {name}: {score:.1f}/100, percentile {100 * share:.0f} among "
                           f"{len(values)} records ({who})")
        for cat, value in _elo(a).items():
            values = self._elo_values[cat]
            if len(values) < MIN_COMPARABLE:
                reasons.append(f"Elo {value:.0f} in {cat}: only {len(values)} rated (fewer than "
                               f"{MIN_COMPARABLE}): not compared")
                continue
            share = _midrank(values, value)
            parts.append((1.0, share))
            reasons.append(f"Elo {value:.0f} in {cat}: percentile {100 * share:.0f} among {len(values)} rated")
        if not parts:
            return unknown("; ".join([f"no benchmark or arena rating comparable over at least {MIN_COMPARABLE} "
                                      "records: unknown", *reasons]))
        total = sum(w for w, _ in parts)
        return Component(sum(w * v for w, v in parts) / total, reasons)

    def ecosystem(self, a: Artifact) -> Component:
        formats = _count(a.signals.get("formats"))
        frameworks = _count(a.signals.get("frameworks"))
        integrations = _count(a.signals.get("integrations"))
        co = self.co_matched.get(a.id, 0)
        n = self._n(a.id)
        co_share = (math.log1p(co) / math.log1p(self._max_co) if self._max_co else 0.0) * shrink(n)
        items = [
            (0.35, min(formats, 4) / 4, f"{formats} formats (4+ = full)"),
            (0.30, min(frameworks, 3) / 3, f"{frameworks} frameworks (3+ = full)"),
            (0.20, min(integrations, 2) / 2, f"{integrations} integrations (2+ = full)"),
            (CO_WEIGHT, co_share, f"co-matched with {co} other artifacts by the same intents"
                                  + ("" if n is None else f" (shrunk by {n} counted searches)")),
        ]
        value = sum(w * s for w, s, _ in items)
        return Component(value, [f"{what}: +{w * s:.3f} of {w}" for w, s, what in items],
                         uncertainty=0.0 if n is None else CO_WEIGHT * half_width(n), evidence=n)

    def _n(self, artifact_id: str) -> int | None:
        return None if self.evidence is None else int(self.evidence.get(artifact_id, 0))

    def match_graph(self, a: Artifact) -> Component:
        raw = self.match_scores.get(a.id, 0.0)
        n = self._n(a.id)
        uncertainty = 0.0 if n is None else half_width(n)
        if raw <= 0:
            return Component(0.0, ["no Match Graph evidence yet: no search has led to it so far: 0"],
                             uncertainty=uncertainty, evidence=n)
        value = raw * shrink(n)
        why = f"weighted PageRank over intent -> capability -> artifact, log-damped and normalised among " \
              f"{a.type}s -> {raw:.3f}"
        if n is not None:
            why += f"; shrunk toward 0 by its evidence, {n} counted searches: {raw:.3f} x {n}/({n}+" \
                   f"{PRIOR_SEARCHES:.0f}) = {value:.3f}"
        return Component(value, [why], uncertainty=uncertainty, evidence=n)

    def scores(self, artifact_id: str) -> Scores:
        cached = self._cache.get(artifact_id)
        if cached is not None:
            return cached
        a = self.artifacts[artifact_id]
        parts = {"adoption": self.adoption, "quality": self.quality, "ecosystem": self.ecosystem,
                 "match_graph": self.match_graph, "freshness": lambda x: freshness(x, self.today)}
        comps = {name: _safe(name, fn, a) for name, fn in parts.items()}
        result = Scores(comps, self.weights.get(a.type, self.weights["default"]))
        self._cache[artifact_id] = result
        return result
