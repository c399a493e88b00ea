"""The match graph that learns: recording, Times Matched, feedback, Match Graph score."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph import matchgraph
from graph.store.base import NotServed, UnknownSearch

SEED_BERT = "bert-large-uncased-whole-word-masking-finetuned-squad"
SEED_STACK = "bigcode/the-stack-v2"


@pytest.fixture
def engine(make_engine, small_catalog: Path):
    eng = make_engine()
    eng.ingest([small_catalog])
    return eng


def ranking(engine, query: str, k: int = 10) -> list[str]:
    return [h.artifact.id for h in engine.search(query, k=k, record=False).hits]


def test_times_matched_counts_searches_that_served_the_artifact_in_top_k(engine) -> None:
    served_counts: dict[str, int] = {}
    for query in ("question answering over passages", "source code dataset", "question answering over passages"):
        result = engine.search(query, k=12)
        for h in result.hits:
            if h.rank <= engine.config.match_k:
                served_counts[h.artifact.id] = served_counts.get(h.artifact.id, 0) + 1
    assert engine.times_matched(served_counts) == served_counts
    before = engine.times_matched(engine.artifacts)
    beyond = engine.search("image classification", k=5, offset=10)
    assert all(h.rank > 10 for h in beyond.hits)
    assert [s.rank for s in engine.store.get_search(beyond.search_id).served] == [11, 12, 13, 14, 15]
    assert engine.times_matched(engine.artifacts) == before, "ranks beyond k are served, not matched"
    engine.feedback(beyond.search_id, beyond.hits[0].artifact.id, "click")


def test_each_search_records_an_intent_and_match_edges(engine) -> None:
    result = engine.search("Find the answer span for a question, in a passage!", k=5)
    again = engine.search("find the answer span for a question in a passage", k=5)
    intents = engine.store.intents()
    assert len(intents) == 1 and intents[0].searches == 2, "normalised text maps to one intent"
    edges = engine.store.intent_edges([intents[0].intent_id])[intents[0].intent_id]
    assert set(edges) == {h.artifact.id for h in result.hits} | {h.artifact.id for h in again.hits}
    top = edges[result.hits[0].artifact.id]
    assert top.impressions == 2 and top.exposure == pytest.approx(2.0)
    cap_edges = [e for e in engine.store.capability_edges() if e[0] == intents[0].intent_id]
    assert cap_edges and all(-1 <= sim <= 1 for _, _, _, sim in cap_edges)
    assert max(sim for _, _, _, sim in cap_edges) > 0.4


def test_clicks_on_a_lower_result_lift_it_for_similar_intents(engine) -> None:
    query = "a model that answers questions about a text"
    before = ranking(engine, query)
    target = before[4]
    for i in range(3):  # three distinct people (one person's repeats would count once)
        result = engine.search(query, k=10, user=f"u{i}")
        engine.feedback(result.search_id, target, "click", user=f"u{i}")
    after = ranking(engine, "model answering questions about text")
    assert after.index(target) < before.index(target)
    hit = next(h for h in engine.search("model answering questions about text", k=10, record=False).hits
               if h.artifact.id == target)
    assert 0 < hit.learned <= engine.config.learned_cap


def test_impressions_alone_do_not_change_the_ranking(engine) -> None:
    query = "detect objects in photos"
    before = ranking(engine, query)
    for _ in range(5):
        engine.search(query, k=10)
    assert ranking(engine, query) == before
    assert all(h.learned == 0 for h in engine.search(query, k=10, record=False).hits)


def test_downvotes_push_a_result_down(engine) -> None:
    query = "extract answers from passages"
    before = ranking(engine, query)
    for i in range(3):
        result = engine.search(query, k=40, user=f"u{i}")
        engine.feedback(result.search_id, before[1], "downvote", user=f"u{i}")
    after = ranking(engine, query, k=40)
    assert after.index(before[1]) > 1


def test_feedback_must_name_a_served_result(engine) -> None:
    result = engine.search("code dataset", k=3)
    with pytest.raises(UnknownSearch):
        engine.feedback("f" * 32, result.hits[0].artifact.id, "click")
    with pytest.raises(NotServed):
        engine.feedback(result.search_id, "not-served-anywhere", "click")
    assert engine.store.summary()["feedback"] == 0


def test_rebuild_from_the_log_equals_the_incremental_state(engine) -> None:
    for i, query in enumerate(("question answering", "code corpus", "biomedical text", "question answering")):
        result = engine.search(query, k=5)
        engine.feedback(result.search_id, result.hits[i % 3].artifact.id, ("click", "upvote", "dwell")[i % 3],
                        dwell_ms=12_000)
    incremental = engine.store.snapshot()
    engine.store.rebuild()
    assert engine.store.snapshot() == incremental


def test_match_graph_scores_reward_chosen_results(engine) -> None:
    assert engine.recompute() == {}, "no searches: no match graph evidence"
    for i in range(4):
        result = engine.search("source code dataset for training code models", k=10, user=f"u{i}")
        engine.feedback(result.search_id, SEED_STACK, "click", user=f"u{i}")
        engine.search("question answering over passages", k=10, user=f"u{i}")
    scores = engine.recompute()
    assert all(0 < v <= 1 for v in scores.values())
    by_type: dict[str, float] = {}
    for artifact_id, value in scores.items():
        kind = engine.artifacts[artifact_id].type
        by_type[kind] = max(by_type.get(kind, 0), value)
    assert all(v == pytest.approx(1.0) for v in by_type.values()), "normalised per artifact type"
    assert scores[SEED_STACK] == pytest.approx(1.0), "the only dataset, and chosen"
    assert engine.store.match_scores() == scores
    # shrunk toward 0 by its evidence: its counted searches (Times Matched: the 4 code searches, and the
    # question-answering ones where they served it confidently) against the prior's 20 (graph/scores.py)
    mg = engine.scores(SEED_STACK).components["match_graph"]
    n = engine.times_matched([SEED_STACK])[SEED_STACK]
    assert n >= 4 and mg.evidence == n and mg.value == pytest.approx(1.0 * n / (n + 20))
    assert mg.interval[0] == 0 and mg.interval[1] == pytest.approx(mg.value + 1.96 * 0.5 / (n + 1) ** 0.5)
    saved = matchgraph.load(engine.data_dir / "matchgraph.json")
    kinds = {d["kind"] for _, d in saved.nodes(data=True)}
    assert kinds == {"artifact", "capability", "intent"}


def test_clicked_artifact_outscores_one_only_shown(engine) -> None:
    query = "question answering model fine-tuned on squad"
    hits = engine.search(query, k=10).hits
    shown, chosen = next((a.artifact.id, b.artifact.id) for a in hits for b in hits
                         if a.rank < b.rank and a.artifact.type == b.artifact.type)
    for i in range(5):
        r = engine.search(query, k=10, user=f"u{i}")
        engine.feedback(r.search_id, chosen, "click", user=f"u{i}")
    scores = engine.recompute()
    assert scores[chosen] > scores[shown]


def test_events_round_trip_through_their_log_form() -> None:
    """The log stores `to_dict()` as JSON; a rebuild reads it back with `event_from_dict`."""
    import dataclasses
    import json

    from graph.events import FeedbackEvent, SearchEvent, Served, event_from_dict

    search = SearchEvent("s1", "i1", "extract answers", 1.5,
                         (Served("a", 1, 0.9, (("a/c1", 0.8), ("a/c2", 0.7))), Served("b", 2, 0.5)), 10, 0.9, True)
    feedback = FeedbackEvent("s1", "a", "dwell", 2.5, 1200, "i1", 1, {"client": ["web"]})
    for event in (search, feedback):
        as_logged = json.loads(json.dumps(event.to_dict()))
        assert event_from_dict(as_logged) == event
        assert set(as_logged) == {f.name for f in dataclasses.fields(event)} | {"kind"}
    logged = feedback.to_dict()
    logged["extra"]["client"].append("mutated")
    assert feedback.extra == {"client": ["web"]}  # the dict is a copy, not the event's own
