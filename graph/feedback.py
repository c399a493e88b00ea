"""Turning impressions, clicks, dwell and votes into evidence with confidence.

Each intent -> artifact edge carries a Beta posterior over "chosen when seen". Impressions
enter only through `exposure` (the examination probability of the rank they were shown at),
so results that are merely shown a lot are not mistaken for results that are chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

from graph.events import EdgeStats

PRIOR_CHOSEN = 1.0
PRIOR_SKIPPED = 4.0
LONG_DWELL_MS = 10_000


@dataclass(frozen=True)
class Evidence:
    """Posterior summary of one edge."""

    positive: float
    negative: float
    mean: float
    lift: float  # posterior mean minus prior mean: > 0 chosen more than expected when seen

    @property
    def explicit(self) -> bool:
        """True when a person acted on the result (click or vote), not just saw it."""
        return self.positive > 0 or self.negative > 0


def prior_mean() -> float:
    return PRIOR_CHOSEN / (PRIOR_CHOSEN + PRIOR_SKIPPED)


def evidence(edge: EdgeStats) -> Evidence:
    """Beta(1 + chosen, 4 + skipped) with position-corrected skips.

    chosen  = clicks + 2 * upvotes + 0.5 * long dwells
    skipped = max(0, exposure - clicks) + 2 * downvotes
    """
    long_dwell = 0.5 * edge.dwells if edge.dwells and edge.dwell_ms / edge.dwells >= LONG_DWELL_MS else 0.0
    positive = edge.clicks + 2.0 * edge.upvotes + long_dwell
    negative = 2.0 * edge.downvotes
    skipped = max(0.0, edge.exposure - edge.clicks)
    alpha = PRIOR_CHOSEN + positive
    beta = PRIOR_SKIPPED + skipped + negative
    mean = alpha / (alpha + beta)
    return Evidence(positive, negative, mean, mean - prior_mean())


def edge_weight(edge: EdgeStats) -> float:
    """Weight of an intent -> artifact edge in graph walks: served once, plus what people chose."""
    ev = evidence(edge)
    return 1.0 + 4.0 * max(0.0, ev.lift) * (1.0 + ev.positive)
