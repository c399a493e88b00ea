"""UnfragileRank components: each in 0..1 or unknown, one adoption scale, explanations that add up."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from graph.catalog import Artifact
from graph.scores import COMPONENTS, ScoreBook, completeness, freshness, weights_for


def art(id: str, type: str = "model", **fields) -> Artifact:
    record = {"id": id, "name": id, "type": type, "capabilities": [{"title": "does a thing"}], **fields}
    return Artifact.from_record(record)


def test_adoption_is_a_percentile_over_the_whole_catalog_and_unknown_without_signals() -> None:
    book = ScoreBook([
        art("big", signals={"downloads": 1_000_000}), art("small", signals={"downloads": 1_000}),
        art("data", "dataset", signals={"downloads": 10}), art("none"),
        art("lib", "library", signals={"stars": 50, "dependents": 7}),
    ])
    adoption = {a: book.scores(a).components["adoption"] for a in ("big", "small", "data", "none", "lib")}
    assert adoption["big"].value == pytest.approx(1.0)
    assert adoption["small"].value == pytest.approx(2 / 3), "one scale across types: the dataset counts too"
    assert adoption["data"].value == pytest.approx(1 / 3), "a dataset is not the best of its own type any more"
    assert adoption["lib"].value == pytest.approx(1.0), "the mean of its signals' percentiles"
    assert not adoption["none"].known and adoption["none"].reasons[0].endswith("unknown")
    out = book.scores("none").to_dict()
    assert out["adoption"] is None and "adoption" in out["unknown"] and out["renormalised"]


def test_unknown_components_are_left_out_and_the_weights_renormalised() -> None:
    book = ScoreBook([art("a", signals={"stars": 10}, updated_at=dt.date.today().isoformat()), art("b")],
                     match_scores={"a": 0.5, "b": 0.5})
    a, b = book.scores("a"), book.scores("b")
    assert not a.components["quality"].known and a.components["freshness"].known
    eff = b.effective_weights()
    assert eff["adoption"] == eff["quality"] == eff["freshness"] == 0
    assert sum(eff.values()) == pytest.approx(1.0)
    assert b.unfragile_rank == round(100 * eff["match_graph"] * 0.5), "ecosystem 0 + match graph 0.5 only"
    assert sum(b.points().values()) == pytest.approx(b.unfragile_rank, abs=0.5)


def test_quality_comes_from_benchmarks_and_elo_only() -> None:
    book = ScoreBook([
        art("x", "agent", signals={"elo": {"Search": {"elo": 1400}}}),
        art("y", "agent", signals={"elo": {"Search": {"elo": 1000}}, "benchmarks": [{"name": "b", "score": 80}]}),
        art("z", description="d" * 200, url="https://example.org"),
    ])
    assert book.scores("x").components["quality"].value == pytest.approx(1.0)
    assert book.scores("y").components["quality"].value == pytest.approx((0.5 + 0.8) / 2)
    assert not book.scores("z").components["quality"].known, "a complete record is not a measured quality"


def test_completeness_checklist_rewards_complete_capabilities() -> None:
    bare = completeness(art("bare"))
    caps = [{"title": f"c{i}", "description": "x" * 200, "unique": "u", "vs_alternatives": "v"} for i in range(3)]
    full = completeness(art("full", description="d" * 100, url="https://example.org", updated_at="2024-01-01",
                            tags=["t"], capabilities=caps))
    assert full.value == pytest.approx(1.0)
    assert bare.value < 0.1
    assert any("missing" in r for r in bare.reasons)


def test_freshness_halves_every_year_and_is_unknown_without_a_date() -> None:
    today = dt.date(2026, 1, 1)
    assert freshness(art("new", updated_at="2026-01-01"), today).value == pytest.approx(1.0)
    assert freshness(art("old", updated_at="2025-01-01"), today).value == pytest.approx(0.5, abs=0.01)
    assert not freshness(art("unknown"), today).known


def test_unfragile_rank_is_the_weighted_sum_and_explains_itself() -> None:
    book = ScoreBook([art("a", signals={"downloads": 5, "formats": ["onnx", "pytorch"]}, updated_at="2025-06-01")],
                     match_scores={"a": 0.5}, co_matched={"a": 3})
    scores = book.scores("a")
    eff = scores.effective_weights()
    total = sum(eff[c] * scores.components[c].value for c in COMPONENTS)
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
