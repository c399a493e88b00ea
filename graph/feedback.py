"""Turning what distinct people chose into evidence with confidence, robust to one person repeating themselves.

Position bias: an **examination model**. A result at rank r is looked at with probability
examination(r) = 1 / log2(r + 1) (graph/events.py) and chosen, when looked at, with its attractiveness.
`exposure` of an intent -> artifact edge sums examination(rank) over the counted (settled) searches that
served it: the expected number of times someone looked at it. Attractiveness gets a Beta posterior:

    Beta(PRIOR_CHOSEN + positive, PRIOR_SKIPPED + max(0, exposure - positive) + negative)

where `positive` / `negative` count **distinct users** whose stance on the edge is chose (click, upvote or
long dwell) / rejected (downvote), never events: 200 clicks by one person are one user. An edge is
evidence only once `min_users` distinct users (default 3) took a stance on it; below that it is the prior.
The prior Beta(1, 4) shrinks thin evidence toward a mean of 0.2, and one user moves the posterior mean by
at most 1 / (PRIOR_CHOSEN + PRIOR_SKIPPED) = 0.2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graph.events import EdgeStats

PRIOR_CHOSEN = 1.0
PRIOR_SKIPPED = 4.0
LONG_DWELL_MS = 10_000
MIN_USERS = 3


@dataclass(frozen=True)
class Evidence:
    """Posterior summary of one edge (or of an artifact over several similar intents)."""

    positive: float
    negative: float
    mean: float
    lift: float  # posterior mean minus prior mean: > 0 chosen more than expected when seen
    users: int = 0  # distinct users behind positive and negative

    @property
    def explicit(self) -> bool:
        """True when enough distinct people acted on the result (chose or rejected it), not just saw it."""
        return self.positive > 0 or self.negative > 0


def prior_mean() -> float:
    return PRIOR_CHOSEN / (PRIOR_CHOSEN + PRIOR_SKIPPED)


def posterior(positive: float, negative: float, exposure: float, users: int = 0) -> Evidence:
    """Beta posterior of attractiveness from (weighted) user counts and expected examinations."""
    alpha = PRIOR_CHOSEN + positive
    beta = PRIOR_SKIPPED + max(0.0, exposure - positive) + negative
    mean = alpha / (alpha + beta)
    return Evidence(positive, negative, mean, mean - prior_mean(), users)


def stances(users: Mapping[str, int]) -> tuple[int, int]:
    """(users who chose, users who rejected)."""
    pos = sum(1 for s in users.values() if s > 0)
    return pos, sum(1 for s in users.values() if s < 0)


def evidence(edge: EdgeStats, min_users: int = MIN_USERS) -> Evidence:
    """The edge's posterior; the prior when fewer than `min_users` distinct users took a stance."""
    pos, neg = stances(edge.users)
    if pos + neg < min_users:
        pos = neg = 0
    return posterior(pos, neg, edge.exposure, pos + neg)


def edge_weight(edge: EdgeStats, min_users: int = MIN_USERS) -> float:
    """Weight of an intent -> artifact edge in graph walks: served once, plus what distinct people chose."""
    ev = evidence(edge, min_users)
    return 1.0 + 4.0 * max(0.0, ev.lift) * (1.0 + ev.positive)
