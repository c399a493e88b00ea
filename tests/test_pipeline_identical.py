"""Issue 32, third round: the faster candidate and ranking stages give the answers the old ones gave.

The old stages are kept verbatim in bench/pipeline_reference.py; each test runs a query through the served
pipeline and the reference over the same view and compares everything a search answers (ids, scores, why
parts, dense/lexical/learned parts, totals, the match decision, facets, suggestions), exactly."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from bench.common import load_devset
from bench.pipeline_reference import (
    ReferencePipeline,
    answer,
    dense_score,
    group_hits,
    lexical_coverage,
    lexical_scores,
)
from search import direction as directions
from search.fusion import Hybrid
from search.lexical import LexicalIndex
from search.ranking import group_hits as fast_group_hits

# names, typos, directions, constraints, gibberish, long text, empty-ish: every branch of the pipeline
QUERIES = (
    "question answering over passages", "source code dataset", "image classification", "detect objects in photos",
    "a model that answers questions about a text", "deepset/roberta-base-squad2", "roberta base squad2",
    "the stack v2", "bigcode/the-stak-v2", "distilbert", "translate english to french",
    "translate french to english", "speech to text", "text to speech model", "transcribe audio recordings",
    "cheap code completion model", "open source llm with 128k context", "free dataset of images",
    "most popular question answering model", "asdfghjkl qwerty", "x", "summarize long documents",
    "whole-word-masking-finetuned-squad", "biomedical named entity recognition",
    "Translate from French to English: « Le système éducatif » please " * 3,
)


def both(engine, query: str, **options) -> tuple[dict, dict]:
    served = engine.pipeline
    reference = ReferencePipeline(served)
    out = []
    try:
        for pipeline in (served, reference):
            engine.pipeline = pipeline
            out.append(answer(engine.search(query, record=False, **options)))
    finally:
        engine.pipeline = served
    return out[0], out[1]


@pytest.fixture(scope="module")
def engine(embedder, tmp_path_factory: pytest.TempPathFactory):
    from tests.conftest import small_engine

    eng = small_engine(embedder, tmp_path_factory.mktemp("identical"))
    # learned evidence: three people choose a lower result, so the learned part is in play
    query = "a model that answers questions about a text"
    target = [h.artifact.id for h in eng.search(query, k=10, record=False).hits][4]
    for i in range(3):
        result = eng.search(query, k=10, user=f"u{i}")
        eng.feedback(result.search_id, target, "click", user=f"u{i}")
    yield eng
    eng.close()


@pytest.mark.parametrize("query", QUERIES)
def test_answers_are_identical(engine, query: str) -> None:
    new, old = both(engine, query, k=10)
    assert new == old


@pytest.mark.parametrize("options", [
    {"k": 5, "offset": 3}, {"k": 20, "facets": ["type", "pricing"]}, {"types": ["model"]},
    {"pricing": ["free"], "facets": ["type"]}, {"mode": "dense"}, {"mode": "lexical"}, {"learn": False},
    {"constraints": {"sort": "popular"}}, {"interpret": False},
])
def test_answers_are_identical_under_options(engine, options: dict) -> None:
    for query in ("question answering over passages", "cheap code completion model", "translate english to french",
                  "the stack v2", "a model that answers questions about a text"):
        new, old = both(engine, query, **options)
        assert new == old, (query, options)


def test_the_learned_part_is_in_play(engine) -> None:
    new, old = both(engine, "model answering questions about text", k=10)
    assert new == old and any(h[6] for h in new["hits"]), "a learned bonus is compared too"


def test_dev_set_answers_are_identical(engine) -> None:
    for row in load_devset("huggingface_eval")[:40]:
        new, old = both(engine, row["query"], k=10)
        assert new == old, row["query"]


@pytest.mark.slow
def test_bundled_catalog_answers_are_identical(tmp_path: Path) -> None:
    """Over the bundled catalog (its shipped vector snapshot, as the constraint tests load it): every one of the
    first 200 huggingface_eval queries, identical answers."""
    from bench.common import bundled_engine

    eng = bundled_engine(tmp_path / "var")
    try:
        rows = load_devset("huggingface_eval")[:200]
        for row in rows:
            new, old = both(eng, row["query"], k=10)
            assert new == old, row["query"]
    finally:
        eng.close()


# --- the stages one by one -------------------------------------------------------------------------------

def test_bm25_top_k_is_the_same_set_with_ties_across_the_cut() -> None:
    """Documents with equal BM25 scores straddle the 200th place: the choice among them is argpartition's
    over every document, as before; without a tie the top set is unique."""
    docs = {f"dup{i}": "whale song transcription" for i in range(300)}  # 300 equal scores: tied across the cut
    docs |= {f"one{i}": f"whale song {'extra ' * (i % 7)}words {i}" for i in range(400)}
    docs |= {f"other{i}": f"unrelated text number {i}" for i in range(500)}
    index = LexicalIndex(docs)
    for query in ("whale song transcription", "whale", "words 17", "transcription", "number 4", "nothing here"):
        for limit in (1, 10, 200, 299, 300, 301, 700, 5000):
            assert index.scores(query, limit) == lexical_scores(index, query, limit), (query, limit)


def test_bm25_over_a_saved_mapped_index_is_unchanged(tmp_path: Path) -> None:
    docs = {f"a{i}": f"speech recognition model {i % 13} audio {'text ' * (i % 3)}" for i in range(500)}
    built = LexicalIndex(docs)
    built.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert type(loaded._bm25.scores["indices"]) is np.ndarray, "plain views of the mapped arrays"
    for query in ("speech recognition", "audio text 7", "model", "speech speech model 5", "unknown", "x"):
        assert loaded.scores(query) == lexical_scores(built, query)
        for index in (built, loaded):
            got, known = index.coverage(query)
            want, known_before = lexical_coverage(index, query)
            assert got.dtype == want.dtype and np.array_equal(got, want) and known == known_before


def test_grouping_matches_the_old_grouping_in_and_out_of_order() -> None:
    class Cap:
        def __init__(self, artifact_id: str) -> None:
            self.artifact_id = artifact_id

    caps = {f"c{i}": Cap(f"a{i % 7}") for i in range(60)}
    owner = {k: c.artifact_id for k, c in caps.items()}
    rng = np.random.default_rng(3)
    sims = np.round(rng.random(80), 2).tolist()  # rounded: ties
    hits = [(f"c{rng.integers(0, 70)}", s) for s in sims]  # some unknown capability ids
    for ordered in (sorted(hits, key=lambda h: -h[1]), hits):
        assert json.dumps(fast_group_hits(ordered, caps)) == json.dumps(group_hits(ordered, owner))


def test_grouping_by_int_ids_matches_the_grouping_by_names(engine) -> None:
    """`group_numbered` over `search_numbered`'s int ids (one lookup a hit in the view's `hit_owners`) gives
    the groups `group_hits` gives over `search`'s named hits: same artifacts, order, scores; in and out of
    order, with -1 (fewer hits than asked) and ids the view does not hold."""
    from search.catalogview import hit_owners
    from search.ranking import group_numbered

    view = engine.view()
    owners = hit_owners(view)
    vectors = np.stack([engine.encode_query(q) for q in QUERIES[:6]])
    k = len(view.index) + 5  # more than the index holds: -1 ids at the end
    for (nums, sims), named in zip(view.index.search_numbered(vectors, k), view.index.search(vectors, k),
                                   strict=True):
        assert json.dumps(group_numbered(nums, sims, owners)) == json.dumps(fast_group_hits(named, view.capabilities))
    rng = np.random.default_rng(7)
    known = list(owners)
    nums = [int(rng.choice(known)) if rng.random() < 0.8 else int(rng.integers(1, 2**40)) for _ in range(80)]
    sims = np.round(rng.random(80), 2).tolist()
    named = [(owners[n][0], s) for n, s in zip(nums, sims, strict=True) if n in owners]
    for order in (sorted(range(80), key=lambda i: -sims[i]), list(range(80))):
        got = group_numbered([nums[i] for i in order], [sims[i] for i in order], owners)
        want = fast_group_hits([(owners[nums[i]][0], sims[i]) for i in order if nums[i] in owners], view.capabilities)
        assert json.dumps(got) == json.dumps(want) and named


def test_dense_fusion_is_the_same_arithmetic() -> None:
    rng = np.random.default_rng(5)
    grouped = {f"a{i}": [(f"c{j}", float(s)) for j, s in enumerate(sorted(rng.random(i % 6 + 1), reverse=True))]
               for i in range(200)}
    hybrid = Hybrid(0.25, 0.13)
    known = {f"a{i}" for i in range(0, 200, 3)}
    want = {a: dense_score([s for _, s in caps], 0.13) for a, caps in grouped.items() if a in known}
    assert hybrid.dense(grouped, known) == want


def test_direction_agreement_is_cached_per_view_and_read_only(engine) -> None:
    view = engine.view()
    for query in ("translate english to french", "speech to text", "transcribe audio", "caption images"):
        asked = directions.parse(query)
        first, lists = directions.agreeing(view, asked)
        with pytest.raises(TypeError):
            first["mutated"] = (1.0, [])  # type: ignore[index]
        again, lists_again = directions.agreeing(view, asked)
        assert again is first and lists_again is lists
        want, positive = {}, []
        for d, members in view.by_direction.items():
            verdict = directions.agreement(asked, d)
            if verdict[0]:
                want.update(dict.fromkeys(members, verdict))
                positive += members if verdict[0] > 0 else []
        assert dict(again) == want and [a for m in lists for a in m] == positive
        assert bool(lists) == any(v > 0 for v, _ in want.values())


def test_folding_ascii_is_the_unicode_folding() -> None:
    import unicodedata

    from search.names import fold

    def slow(text: str) -> str:
        decomposed = unicodedata.normalize("NFKD", text)
        return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()

    for text in ("The Stack v2", "bigcode/the_stack_v2", "ß", "Straße", "Ǆ", "ﬁne-tune", "Éléphant", "", "A\tB",
                 "".join(chr(i) for i in range(128))):
        assert fold(text) == slow(text), text


def test_candidate_ids_skip_the_artifact_lookup_only_when_the_view_is_whole(engine) -> None:
    from search.pipeline import _whole

    assert _whole(engine.view())

    class Cap:
        artifact_id = "a1"

    class View:  # a view whose BM25 index holds a document that is no artifact
        artifacts = {"a1": object()}
        capabilities = {"c1": Cap()}
        lexical = LexicalIndex({"a1": "one", "gone": "two"})

    assert not _whole(View())
    assert Hybrid(0.25, 0.13).dense({"a1": [("c1", 0.5)], "gone": [("c2", 0.4)]}, View.artifacts) == {"a1": 0.5}
    assert Hybrid(0.25, 0.13).dense({"a1": [("c1", 0.5)]}, None) == {"a1": 0.5}


def test_query_terms_are_what_bm25s_tokenize_gives() -> None:
    from search.lexical import query_tokens, tokenize

    texts = [r["query"] for name in ("huggingface_eval", "torchhub_train") for r in load_devset(name)]
    texts += [line for f in sorted((Path(__file__).resolve().parents[1] / "data").glob("*.jsonl"))
              for line in f.read_text().splitlines()[:300]]  # raw JSON lines: every kind of character
    texts += ["", "a", "The THE the", "Straße naïve café", "x2 x 22", "don't stop", "İstanbul", "ǅemal", "ﬁne-tune"]
    for text in texts:
        assert query_tokens.__wrapped__(text) == tuple(tokenize([text])[0]), text


def test_facts_can_be_derived_before_the_first_filtered_search(engine) -> None:
    from search import constraints

    view = engine.view()
    constraints.prepare(view)
    assert set(constraints._FACTS[view]) == set(view.artifacts)
    new, old = both(engine, "cheap code completion model", k=10)
    assert new == old


@pytest.mark.parametrize("fields", [
    {"types": ("model", "fine-tune")}, {"types": ("dataset",)}, {"pricing": ("free",)}, {"tag": "nlp"},
    {"open_weights": True}, {"open_weights": False}, {"license": "commercial"}, {"license": "mit"},
    {"modality_in": ("audio",)}, {"modality_out": ("text",), "types": ("model",)},
    {"max_input_usd_per_mtok": 1.0}, {"min_context_tokens": 100_000}, {"types": ("api",), "pricing": ("free",)},
])
def test_filters_pass_the_same_artifacts_deriving_facts_only_where_read(embedder, tmp_path: Path,
                                                                        fields: dict) -> None:
    from graph.settings import Settings
    from search import constraints
    from search.engine import Engine
    from tests.conftest import small_records

    catalog = tmp_path / "c.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in small_records(extra=120)))
    eng = Engine(Settings.load(data_dir=tmp_path / "var", store_url=""), embedder=embedder)
    try:
        eng.ingest([catalog])
        view = eng.view()
        for t in [t for t in threading.enumerate() if t.name == "facts-warm"]:
            t.join(30)  # loading a view derives its facts in a thread (catalogstate): measure passing() alone
        constraints._FACTS.pop(view, None)
        wanted = constraints.Constraints(**fields)
        got = constraints.passing(view, wanted)
        want = frozenset(a for a, art in view.artifacts.items()
                         if wanted.allows(art, constraints.facts_of(art), view.directions.get(a)))
        assert got == want
        derived = set(constraints._FACTS.get(view, {}))
        reads = not (set(fields) <= {"types", "tag", "pricing"})
        assert derived <= set(view.artifacts) and (bool(derived) or not reads or not got)
        if not reads:
            assert not derived, "a type, tag or pricing filter derives no facts"
    finally:
        eng.close()
