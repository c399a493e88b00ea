"""UnfragileRank components: each in 0..1, per-type normalisation, explanations that add up."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from graph.catalog import Artifact
from graph.scores import COMPONENTS, ScoreBook, freshness, quality, weights_for


def art(id: str, type: str = "model", **fields) -> Artifact:
    record = {"id": id, "name": id, "type": type, "capabilities": [{"title": "does a thing"}], **fields}
    return Artifact.from_record(record)


def test_adoption_is_log_normalised_within_each_type() -> None:
    book = ScoreBook([
        art("big", signals={"downloads": 1_000_000}), art("small", signals={"downloads": 1_000}),
        art("data", "dataset", signals={"downloads": 10}), art("none"),
    ])
    assert book.scores("big").components["adoption"].value == pytest.approx(1.0)
    assert 0.4 < book.scores("small").components["adoption"].value < 0.6
    assert book.scores("data").components["adoption"].value == pytest.approx(1.0), "best of its own type"
    assert book.scores("none").components["adoption"].value == 0


def test_quality_checklist_rewards_complete_capabilities() -> None:
    bare = quality(art("bare"))
    caps = [{"title": f"c{i}", "description": "x" * 200, "unique": "u", "vs_alternatives": "v"} for i in range(3)]
    full = quality(art("full", description="d" * 100, url="https://example.org", updated_at="2024-01-01",
                       tags=["t"], capabilities=caps))
    assert full.value == pytest.approx(1.0)
    assert bare.value < 0.1
    assert any("missing" in r for r in bare.reasons)


def test_freshness_halves_every_year_and_unknown_scores_zero() -> None:
    today = dt.date(2026, 1, 1)
    assert freshness(art("new", updated_at="2026-01-01"), today).value == pytest.approx(1.0)
    assert freshness(art("old", updated_at="2025-01-01"), today).value == pytest.approx(0.5, abs=0.01)
    assert freshness(art("unknown"), today).value == 0


def test_unfragile_rank_is_the_weighted_sum_and_explains_itself() -> None:
    book = ScoreBook([art("a", signals={"downloads": 5, "formats": ["onnx", "pytorch"]}, updated_at="2025-06-01")],
                     match_scores={"a": 0.5}, co_matched={"a": 3})
    scores = book.scores("a")
    total = sum(scores.weights[c] * scores.components[c].value for c in COMPONENTS)
    assert scores.unfragile_rank == round(100 * total)
    assert 0 <= scores.unfragile_rank <= 100
    assert sum(scores.points().values()) == pytest.approx(100 * total, abs=0.3)
    out = scores.to_dict()
    assert set(out["explanation"]) == set(COMPONENTS)
    assert all(out["explanation"][c]["reasons"] for c in COMPONENTS)


def test_weights_can_be_overridden_per_type() -> None:
    from graph.settings import Settings

    assert weights_for("dataset")["quality"] == 0.35
    custom = {"dataset": {"adoption": 1.0, "quality": 0, "ecosystem": 0, "match_graph": 0, "freshness": 0}}
    weights = Settings.load({"MATCHGRAPH_WEIGHTS": json.dumps(custom)}).weights
    assert weights_for("dataset", weights) == custom["dataset"]
    book = ScoreBook([art("d", "dataset", signals={"likes": 3})], weights=weights)
    assert book.scores("d").unfragile_rank == 100
