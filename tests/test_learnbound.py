"""bench/learnbound.py's oracle bounds are the bounds they name: the issue-27 minimum is what search/ranker.py
serves with the default settings, and no bound lets one person move a result more than one rank."""

from __future__ import annotations

import math

import numpy as np

from bench import learnbound
from graph.settings import Settings
from search import ranker


def test_the_issue_27_minimum_is_the_default_bound_of_the_ranker() -> None:
    name = next(n for n in learnbound.BOUNDS if n.startswith("issue-27 minimum"))
    people = np.arange(8)
    served = ranker._passes(people, Settings.load().learn_min_users)
    assert [math.floor(learnbound.BOUNDS[name](int(p))) if learnbound.BOUNDS[name](int(p)) != math.inf else math.inf
            for p in people] == [math.floor(x) if x != np.inf else math.inf for x in served]


def test_one_person_moves_at_most_one_rank_under_every_bound_but_the_unbounded() -> None:
    for name, bound in learnbound.BOUNDS.items():
        if name != "unbounded":
            assert math.floor(bound(1)) == 1 and bound(0) == 0, name


def test_a_bounded_oracle_below_the_vote_is_reported_as_a_conflict() -> None:
    row = {"R@1": 0.2, "R@5": 0.3, "R@10": 0.4, "MRR@10": 0.25}
    systems = [{"system": "nearest-intent vote", **row}] + [
        {"system": n, **row, "R@5": 0.29 if n.startswith("issue-27") else 0.3} for n in learnbound.BOUNDS]
    got = learnbound.conflicts({"sim": "s", "systems": systems})
    assert len(got) == 1 and "issue-27 minimum" in got[0] and "R@5" in got[0]
