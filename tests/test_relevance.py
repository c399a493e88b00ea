"""Issue 28: relevance you can trust. Nothing for gibberish (a calibrated floor), one score in order, rules
that never beat a clearly better match, constraints understood.

The small-catalog tests run on tests/conftest.py's small engine; the acceptance sets run on the bundled
catalog (slow: bench/out/catalog, ingested once) with its shipped calibration (data/relevance.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA, small_records

from search import constraints, relevance

ROOT = Path(__file__).resolve().parents[1]
ASR = ("facebook/wav2vec2-base-960h", "facebook/hubert-large-ls960-ft", "jonatasgrosman/wav2vec2-large-xlsr-53-english")
WHALE = {"id": "test/whale-song-transcriber", "name": "Whale song transcriber", "type": "model",
         "capabilities": [{"title": "Transcribe whale songs",
                           "description": "turns recorded humpback whale songs into symbolic transcriptions"}]}

# requests never used to calibrate (bench/devsets/relevance_*.txt are): other words, same kinds
NONSENSE = ["qzxv plorkt", "mmmmmmmm", "asdfjkl qwer", "zorblax wibble", "fjdksla ruei", "oiuytrewq",
            "blah blah blah", "kkkkk jjjjj", "xyzzy frobnicate", "pqowieuryt", "gribble snarf", "lkjhgfdsa",
            "ywxq zzkp", "nnnn oooo pppp", "snorkel wombat parade", "vlorp snib", "dkdkdk", "qqqqqqqqqqqq",
            "wobble gobble", "hfjdks hfjdks", "tralala lalala", "zzyzx", "plmokn ijbuhv", "bzzt bzzt",
            "flumph grawl", "jjjjjj", "rrrr tttt yyyy", "wxcvbn", "glip glop", "ghjk ghjk"]
REAL = ["translate spanish to english", "convert speech to text", "generate an image from a prompt",
        "classify images of animals", "detect objects in street photos", "summarize news articles",
        "write python code", "analyze the sentiment of product reviews", "answer questions from a paragraph",
        "turn text into spoken audio", "find similar sentences", "extract named entities from text",
        "chatbot language model", "transcribe podcasts", "recognize handwritten text", "segment people in images",
        "estimate depth from a photo", "classify videos", "zero-shot text classification", "github mcp server",
        "weather forecast api", "dataframe library for python", "image dataset", "text to speech",
        "translate french to german", "caption images", "question answering model", "music generation model",
        "object tracking in video", "speech emotion recognition", "code generation model",
        "fill in the masked word", "table question answering"]
CONSTRAINED = [  # (query, the constraint it states, the key it must appear under in understood.constraints)
    ("free speech to text model", "free", "free"),
    ("llm under $1 per million input tokens", "price<=1", "max_input_usd_per_mtok"),
    ("open source llm with 128k context", "open+128k", "min_context_tokens"),
    ("language model with 1M tokens context", "1m", "min_context_tokens"),
    ("model that accepts images", "image_in", "modality_in"),
    ("open weights chat model", "open", "open_weights"),
    ("chat model under $0.5 per 1M tokens", "price<=0.5", "max_input_usd_per_mtok"),
    ("llm with a context window of 200k tokens", "200k", "min_context_tokens"),
    ("vision language model", "image_in", "modality_in"),
    ("mcp server for databases", "mcp", "types"),
    ("weather api", "api", "types"),
    ("dataset for question answering", "dataset", "types"),
    ("free image classification model", "free", "free"),
    ("commercial use text classification model", "commercial", "license"),
    ("open source code model", "open", "open_weights"),
    ("multimodal llm under $2 per million tokens", "image_in+price<=2", "max_input_usd_per_mtok"),
    ("free translation model", "free", "free"),
    ("mcp server for slack", "mcp", "types"),
    ("public api for currency exchange rates", "api", "types"),
    ("open weights model with 32k context", "open+32k", "min_context_tokens"),
]
# (a new artifact's capability, a request paraphrasing it)
PAIRS = [
    ("Transcribe whale songs: turns recorded humpback whale songs into symbolic transcriptions",
     "transcribe humpback whale songs"),
    ("Count bees at a hive entrance: counts honeybees flying in and out of a beehive from camera footage",
     "how many honeybees leave the beehive"),
    ("Detect potholes: finds potholes and cracks in road surface photos", "spot damaged asphalt in street pictures"),
    ("Grade sourdough crumb: rates the crumb structure of sourdough bread from a photo of a slice",
     "judge the holes in my sourdough loaf"),
    ("Identify bird calls: names the bird species singing in a field recording",
     "which bird is singing in this recording"),
    ("Score chess endgames: evaluates a chess endgame position and says who wins",
     "who is winning this chess ending"),
    ("Translate sign language: turns videos of American Sign Language into English text",
     "convert ASL videos into written english"),
    ("Forecast solar output: predicts the electricity a rooftop solar panel array will produce tomorrow",
     "predict tomorrow's photovoltaic power generation"),
    ("Detect counterfeit banknotes: tells forged paper money from genuine bills in scans",
     "is this banknote fake"),
    ("Classify wine quality: rates red wine quality from its chemical measurements",
     "predict how good a red wine is from acidity and alcohol"),
    ("Recognise guitar chords: writes out the chords played in a guitar recording",
     "figure out which chords are played in a guitar song"),
    ("Diagnose plant leaf disease: spots blight and rust on tomato leaves from photos",
     "what disease does my tomato plant leaf have"),
    ("Estimate crowd size: counts the people in aerial photos of a crowd",
     "how many people attended the rally from a drone photo"),
    ("Rhyme finder: lists words that rhyme with a given word for poets and songwriters",
     "words that rhyme for writing lyrics"),
    ("Detect sarcasm: tells whether a tweet is sarcastic", "is this tweet ironic"),
    ("Read electricity meters: reads the digits on photos of utility meters",
     "get the number off a photo of my power meter"),
    ("Identify mushrooms: names the mushroom species in a photo and warns about poisonous ones",
     "is the fungus in my picture edible"),
    ("Generate crossword clues: writes crossword puzzle clues for a list of answer words",
     "make clues for my crossword puzzle"),
    ("Detect drowsy drivers: warns when a driver's eyes close from a dashboard camera",
     "alert me when the driver falls asleep at the wheel"),
    ("Transcribe sheet music: turns a photo of printed sheet music into MIDI",
     "convert a picture of a music score into a midi file"),
]


def _record(i: int, text: str) -> dict:
    title, _, desc = text.partition(": ")
    return {"id": f"test/new-{i}", "name": f"Newcomer {i}", "type": "model",
            "capabilities": [{"title": title, "description": desc}]}


def _satisfies(engine, artifact_id: str, kind: str) -> bool:
    a = engine.artifacts[artifact_id]
    f = constraints.facts(a)
    direction = engine.view().directions.get(artifact_id)
    ins = set(f.get("modalities_in") or ()) | set(getattr(direction, "inputs", ()) or ())
    checks = {
        "free": lambda: a.pricing in ("free", "open-weights") or f.get("input_usd_per_mtok") == 0,
        "price<=1": lambda: f.get("input_usd_per_mtok") is not None and f["input_usd_per_mtok"] <= 1,
        "price<=0.5": lambda: f.get("input_usd_per_mtok") is not None and f["input_usd_per_mtok"] <= 0.5,
        "open+128k": lambda: f.get("open_weights") is True and (f.get("context_tokens") or 0) >= 128_000,
        "1m": lambda: (f.get("context_tokens") or 0) >= 1_000_000,
        "200k": lambda: (f.get("context_tokens") or 0) >= 200_000,
        "image_in": lambda: "image" in ins,
        "open": lambda: f.get("open_weights") is True,
        "mcp": lambda: artifact_id.startswith("mcp/"),
        "api": lambda: a.type == "api",
        "dataset": lambda: a.type == "dataset",
        "commercial": lambda: (f.get("license") or "").lower() in constraints.COMMERCIAL,
        "image_in+price<=2": lambda: "image" in ins and f.get("input_usd_per_mtok") is not None
        and f["input_usd_per_mtok"] <= 2,
        "open+32k": lambda: f.get("open_weights") is True and (f.get("context_tokens") or 0) >= 32_000,
    }
    return checks[kind]()


# --- units -------------------------------------------------------------------------------------------------
def test_choose_threshold_separates_real_from_nonsense():
    t, stats = relevance.choose_threshold([0.7, 0.8, 0.9], [0.2, 0.3, 0.4], [0.6, 0.65])
    assert 0.4 < t <= 0.6 and stats["nonsense_rejected"] == 1.0 and stats["real_accepted"] == 1.0


def test_calibration_file_is_ignored_for_another_model(tmp_path):
    relevance.Calibration(0.77, 0.3, "model-a").save(tmp_path / relevance.FILE)
    assert relevance.load(tmp_path, "model-a", 0.1).threshold == 0.77
    assert relevance.load(tmp_path, "model-b", 0.1).threshold != 0.77


def test_shipped_calibration_fits_the_default_model(embedder):
    """data/relevance.json is a build product of (model, catalog): re-run `python -m search.calibrate` when
    either changes (this fails when the model changed and it was not)."""
    raw = json.loads(relevance.SHIPPED.read_text())
    assert raw["model_id"] == embedder.model_id
    lines = sum(1 for f in DATA.rglob("*.jsonl") for line in f.read_text().splitlines() if line.strip())
    assert abs(raw["artifacts"] - lines) <= 0.1 * lines, "catalog changed a lot: re-run python -m search.calibrate"
    assert raw["stats"]["nonsense_rejected"] >= 0.9 and raw["stats"]["real_accepted"] >= 0.95


@pytest.mark.parametrize("query, key", [(q, k) for q, _, k in CONSTRAINED])
def test_constraints_are_read_from_the_query(query, key):
    found, rest = constraints.parse(query)
    assert key in found.to_dict()["constraints"], query
    assert rest


def test_words_that_are_not_constraints_stay_words():
    for q in ("free text classification", "translate english to french", "transcribe humpback whale songs",
              "hands-free voice assistant"):
        assert not constraints.parse(q)[0], q
    long = "I want a free tool " + "that does many things " * 5
    assert not constraints.parse(long)[0]


def test_unknown_facts_never_pass_a_filter():
    from graph.catalog import Artifact

    a = Artifact.from_record({"id": "x/unknown", "name": "U", "type": "model", "capabilities": [{"title": "t"}]})
    for c in (constraints.Constraints(max_input_usd_per_mtok=5), constraints.Constraints(min_context_tokens=1),
              constraints.Constraints(open_weights=True), constraints.Constraints(license="commercial"),
              constraints.Constraints(modality_in=("image",))):
        assert not c.allows(a), c


# --- a small catalog ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(embedder, tmp_path_factory):
    from search.calibrate import calibrate, lines
    from search.config import Config
    from search.engine import Engine

    rows = [json.loads(line) for f in sorted(DATA.glob("*.jsonl")) for line in f.read_text().splitlines()]
    by_id = {r["id"]: r for r in rows}
    records = small_records() + [by_id[i] for i in ASR if i in by_id]
    root = tmp_path_factory.mktemp("relevance")
    catalog = root / "small.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in records))
    eng = Engine(Config.from_env(data_dir=root / "var", store_url="", learned_cap=0.0), embedder=embedder)
    eng.ingest([catalog])
    answerable = ["question answering over a passage", "code generation", "object detection", "speech to text",
                  "biomedical language model", "sentence embeddings", "semantic segmentation", "source code dataset"]
    found = calibrate(eng, answerable, lines("relevance_nonsense.txt"), [])  # requests this small catalog serves
    found.save(root / "var" / relevance.FILE)
    eng.config = eng.config  # re-reads the calibration of its data dir
    assert eng.pipeline.calibration.threshold == found.threshold
    yield eng
    eng.close()


def test_gibberish_has_no_results_and_says_so(small):
    for q in ("asdkjhqwe", "zzzz qqqq", "qzxv plorkt"):
        r = small.search(q, record=False)
        assert r.hits == [] and r.total == 0 and r.low_confidence, q


def test_total_counts_matches_not_candidates(small):
    r = small.search("extractive question answering on a text passage", k=100, record=False)
    assert 0 < r.total < len(small.artifacts) and r.total == len(r.hits)
    assert not r.low_confidence


def test_score_is_the_ranking_and_why_names_its_parts(small):
    for q in ("question answering", "speech to text", "code generation", "bert-large-uncased", "detect objects"):
        hits = small.search(q, k=20, record=False).hits
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True), q
        for h in hits:
            parts = [w for w in h.why if not w.startswith("relevance")]
            total = sum(float(w.rsplit(" ", 1)[1]) for w in parts)
            assert abs(total - h.score) < 2e-3, (q, h.why, h.score)


def test_a_clearly_better_match_beats_the_modality_boost(small):
    small.apply([_artifact(WHALE)])
    try:
        hits = small.search("transcribe humpback whale songs", k=5, record=False).hits
        assert hits[0].artifact.id == WHALE["id"], [(h.artifact.id, h.why) for h in hits]
        assert all(hits[0].score > h.score for h in hits[1:] if any("modality" in w for w in h.why))
    finally:
        small.delete([WHALE["id"]])


def test_zero_result_searches_reach_analytics(small):
    before = small.store.summary()["zero_result_searches"]
    r = small.search("qqqq zzzz wwww", record=True)
    assert r.hits == [] and r.low_confidence
    assert small.store.summary()["zero_result_searches"] == before + 1
    assert "qqqq zzzz wwww" in [q.query for q in small.queries("zero_results", limit=100)]


def _artifact(record: dict):
    from graph.catalog import Artifact

    return Artifact.from_record(record)


# --- the bundled catalog (acceptance) -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundled():
    from bench.common import bundled_engine

    eng = bundled_engine(learned_cap=0.0)
    yield eng
    eng.close()


@pytest.mark.slow
def test_nonsense_is_empty_or_flagged_and_real_requests_are_not(bundled):
    results = bundled.search_batch(NONSENSE, 10, record=False)
    caught = [q for q, r in zip(NONSENSE, results, strict=True) if not r.hits or r.low_confidence]
    assert len(caught) >= 0.9 * len(NONSENSE), sorted(set(NONSENSE) - set(caught))
    results = bundled.search_batch(REAL, 10, record=False)
    fine = [q for q, r in zip(REAL, results, strict=True) if r.hits and not r.low_confidence]
    assert len(fine) >= 0.95 * len(REAL), sorted(set(REAL) - set(fine))


@pytest.mark.slow
def test_score_never_rises_down_the_list_over_the_dev_sets(bundled):
    from bench.common import load_devset

    queries = [r["query"] for r in load_devset("huggingface_eval")[::10] + load_devset("torchhub_train")[::10]]
    for q, r in zip(queries, bundled.search_batch(queries + REAL, 20, record=False), strict=False):
        scores = [h.score for h in r.hits]
        assert scores == sorted(scores, reverse=True), q


@pytest.mark.slow
def test_constraint_queries_are_understood_and_met(bundled):
    met = 0
    for query, kind, key in CONSTRAINED:
        r = bundled.search(query, k=5, record=False)
        assert key in r.understood.get("constraints", {}), (query, r.understood)
        met += bool(r.hits) and all(_satisfies(bundled, h.artifact.id, kind) for h in r.hits)
    assert met >= 0.8 * len(CONSTRAINED)


@pytest.mark.slow
def test_new_artifacts_rank_first_for_a_paraphrase_of_their_capability(bundled):
    records = [_record(i, text) for i, (text, _) in enumerate(PAIRS)]
    bundled.apply([_artifact(r) for r in records])
    try:
        missed, out_of_top3 = [], []
        for r, (_, request) in zip(records, PAIRS, strict=True):
            ids = [h.artifact.id for h in bundled.search(request, k=3, record=False).hits]
            if ids[:1] != [r["id"]]:
                missed.append((request, ids))
            if r["id"] not in ids:
                out_of_top3.append((request, ids))
        # measured on the 8,263-artifact catalog: 19 of 20 first; "spot damaged asphalt in street pictures"
        # (no word of "Detect potholes: finds potholes and cracks in road surface photos") second
        assert len(missed) <= 1 and not out_of_top3, missed
    finally:
        bundled.delete([r["id"] for r in records])
