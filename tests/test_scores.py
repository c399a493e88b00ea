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


def test_adoption_is_a_percentile_within_the_type_over_at_least_30_records() -> None:
    models = [art(f"m{i}", signals={"downloads": 1000 * (i + 1)}) for i in range(30)]
    book = ScoreBook([
        *models, art("data", "dataset", signals={"downloads": 10_000_000}), art("none"),
        art("lib", "library", signals={"stars": 50}), art("served", signals={"providers": 12}),
    ])
    adoption = {a: book.scores(a).components["adoption"] for a in ("m29", "m0", "data", "none", "lib", "served")}
    assert adoption["m29"].value == pytest.approx(1.0) and "among the 30 models" in adoption["m29"].reasons[0]
    assert adoption["m0"].value == pytest.approx(1 / 30)
    assert not adoption["data"].known, "1 dataset reports downloads: no percentile over fewer than 30"
    assert not adoption["lib"].known and "only 1 libraries" in adoption["lib"].reasons[0]
    assert not adoption["served"].known, "providers serving a model are availability, not adoption"
    assert any("availability: 12 providers" in r for r in adoption["served"].reasons)
    assert not adoption["none"].known and "unknown" in adoption["none"].reasons[0]
    out = book.scores("none").to_dict()
    assert out["adoption"] is None and "adoption" in out["unknown"] and out["renormalised"]


def test_seed_pair_adoption_is_not_a_percentile_over_two_records() -> None:
    """The seed compare page said The Stack v2 was stronger on adoption: likes 'percentile 100 among the 2
    artifacts reporting likes'. Over the seed records neither has 30 comparable records: both unknown."""
    from conftest import small_records

    book = ScoreBook([Artifact.from_record(r) for r in small_records()])
    for aid in ("bigcode/the-stack-v2", "bert-large-uncased-whole-word-masking-finetuned-squad"):
        assert not book.scores(aid).components["adoption"].known, aid


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


def test_quality_is_a_percentile_over_at_least_30_comparable_records_and_claims_weigh_less() -> None:
    rated = [art(f"r{i}", signals={"benchmarks": [{"name": "GPQA", "metric": "accuracy", "score": i + 1,
                                                   "source": "Epoch AI", "date": "2025-10-01", "measured": True}]})
             for i in range(30)]
    few = [art(f"f{i}", "agent", signals={"elo": {"Search": {"elo": 1000 + i}}}) for i in range(25)]
    book = ScoreBook([
        *rated, *few,
        art("both", signals={"benchmarks": [
            {"name": "GPQA", "metric": "accuracy", "score": 100, "measured": True},
            {"name": "MMLU", "score": 90, "measured": False}]}),
        art("claim", signals={"benchmarks": [{"name": "GPQA", "metric": "accuracy", "score": 0, "measured": False},
                                             {"name": "GPQA", "metric": "accuracy", "score": 100,
                                              "measured": True}]}),
        art("z", description="d" * 200, url="https://example.org"),
    ])
    top = book.scores("r29").components["quality"]
    assert top.value == pytest.approx(30 / 32) and "among 32 records" in top.reasons[0]
    assert not book.scores("f24").components["quality"].known, "25 rated agents: fewer than 30, unknown"
    both = book.scores("both").components["quality"]
    assert both.value == pytest.approx(31.5 / 32), "MMLU has 1 record: not compared, left out"
    assert any("MMLU" in r and "not compared" in r for r in both.reasons)
    assert not book.scores("z").components["quality"].known, "a complete record is not a measured quality"
    # the same benchmark measured and claimed: the measurement counts, the claim is not counted twice
    assert book.scores("claim").components["quality"].value == pytest.approx(31.5 / 32)


def test_a_makers_claim_weighs_less_than_a_measurement() -> None:
    def bench(name: str, score: float, measured: bool) -> dict:
        return {"name": name, "score": score, "measured": measured}

    field = [art(f"a{i}", signals={"benchmarks": [bench("A", i, True), bench("B", i, False)]}) for i in range(40)]
    book = ScoreBook([*field, art("x", signals={"benchmarks": [bench("A", 100, True), bench("B", 0, False)]})])
    q = book.scores("x").components["quality"]
    a_share, b_share = 1.0, 1.5 / 41
    assert q.value == pytest.approx((1.0 * a_share + 0.5 * b_share) / 1.5)


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
    book = ScoreBook([art(f"d{i}", "dataset", signals={"likes": i + 1}) for i in range(30)], weights=weights)
    assert book.scores("d29").unfragile_rank == 100
