"""Names first, suggestions, direction and modality: unit checks, then one whole-catalog check on the engine.

The whole-catalog test iterates over whatever the bundled catalog is (data/*.jsonl), so it keeps
holding when the catalog grows; it stays lean by embedding short capability titles only (names,
directions and BM25 read the full metadata) and by checking every name with the lexical mode (no
query embedding), a sample of 300 with the full hybrid search.
"""

from __future__ import annotations

import json

import pytest
from conftest import DATA

from graph.catalog import Artifact
from search import direction
from search.names import NameIndex, compact


def art(aid: str, name: str, kind: str = "model", tags: tuple[str, ...] = (), description: str = "",
        signals: dict | None = None) -> Artifact:
    return Artifact.from_record({"id": aid, "name": name, "type": kind, "tags": list(tags),
                                 "description": description, "signals": signals or {},
                                 "capabilities": [{"title": name}]})


# --- names ---------------------------------------------------------------------------------------
def test_compact_ignores_case_accents_and_separators():
    assert compact("The Stack v2") == compact("the-stack_v2") == compact("THE.STACK/V2") == "thestackv2"
    assert compact("Café-Crème") == "cafecreme"


def test_match_ranks_exact_then_typo_then_words():
    idx = NameIndex([art("bigcode/the-stack-v2", "The Stack v2", "dataset"),
                     art("araffin/ppo-lunarlander-v2", "ppo-LunarLander-v2"),
                     art("bert-large-uncased-wwm-squad", "bert-large-uncased-wwm-squad"),
                     art("bert-large-cased-wwm-squad", "bert-large-cased-wwm-squad"),
                     art("org/stack", "Stack")])
    assert idx.match("the stack v2") == {"bigcode/the-stack-v2": (3, 2.0, "exact")}
    assert idx.match("bigcode/the-stack-v2")["bigcode/the-stack-v2"][0] == 3
    assert idx.match("the-stak-v2")["bigcode/the-stack-v2"][:1] == (2,)  # one typo
    m = idx.match("bert-large-uncased-wwm-squad")
    assert m["bert-large-uncased-wwm-squad"][0] == 3 and m["bert-large-cased-wwm-squad"][0] == 2
    assert set(idx.match("large-uncased-wwm-squad")) >= {"bert-large-uncased-wwm-squad"}
    assert idx.match("stack")["org/stack"][0] == 3  # name "Stack" and the id's last segment
    assert idx.match("a" * 300) == {} and idx.match("!!!") == {}


def test_suggest_orders_by_exactness_then_adoption():
    idx = NameIndex([art("a/whisper-tiny", "whisper-tiny", signals={"downloads": 10}),
                     art("a/whisper-large", "whisper-large", signals={"downloads": 10_000}),
                     art("b/faster-whisper", "faster-whisper", signals={"downloads": 10**9}),
                     art("c/whisp", "whisp"),
                     art("d/wisper-bad", "wispr", signals={"downloads": 10**14})])
    got = [(s.artifact_id, s.match) for s in idx.suggest("whisp", k=10)]
    assert got[:4] == [("c/whisp", "exact"), ("a/whisper-large", "prefix"), ("a/whisper-tiny", "prefix"),
                       ("b/faster-whisper", "word")]
    typos = [(s.artifact_id, s.match) for s in idx.suggest("whsper", k=5)]
    assert typos == [("d/wisper-bad", "typo"), ("a/whisper-large", "typo"), ("a/whisper-tiny", "typo")]
    assert idx.suggest("whisp", types=["dataset"]) == []
    several = [(s.artifact_id, s.match) for s in idx.suggest("whisper large", k=5)]
    assert several[0] == ("a/whisper-large", "exact")
    assert [(s.artifact_id, s.match) for s in idx.suggest("faster wh", k=5)] == [("b/faster-whisper", "prefix")]
    assert ("a/whisper-large", "word") in [(s.artifact_id, s.match) for s in idx.suggest("large whisp", k=5)]
    assert idx.suggest("   ") == []


def _suggest_by_brute_force(idx: NameIndex, prefix: str, k: int,
                            type_sets: list[tuple[str, ...]]) -> list[list[tuple[str, str]]]:
    """What suggest promises, by looking at every name start (no bisect, no buckets, no cut-offs); one
    answer per set of types."""
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    from search.names import MIN_TYPO_CHARS, words

    key, typed = compact(prefix), words(prefix)
    if not key:
        return [[] for _ in type_sets]
    starts = [(a, where) for start, a, where in idx._starts if start.startswith(key)]
    several = {a for start, a, _ in idx._starts if len(typed) >= 2 and start.startswith(typed[0])
               and all(any(w.startswith(t) for w in idx._words[a]) for t in typed[1:])}
    typos: set[str] = set()
    if len(key) >= MIN_TYPO_CHARS:
        for m in (len(key) - 1, len(key), len(key) + 1):  # every name start cut to m letters, scored at once
            cut = [(start[:m], a) for start, a, where in idx._starts if where == 0 and len(start) >= m]
            distances = process.cdist([key], [c for c, _ in cut], scorer=OSA.distance)[0]
            typos.update(a for (_, a), d in zip(cut, distances, strict=True) if d <= 1)
    order = {"exact": 0, "prefix": 1, "word": 2, "typo": 3}
    answers = []
    for types in type_sets:
        best: dict[str, tuple] = {}
        found = [(a, "exact") for a in idx.exact.get(key, {})] + [(a, "prefix" if where == 0 else "word")
                                                                  for a, where in starts]
        for extra, how in ((several, "word"), (typos, "typo")):
            for a, kind in found:
                rank = (order[kind], -idx.adoption[a], len(idx.names[a]), a)
                if (not types or idx.types[a] in types) and (a not in best or rank < best[a][1]):
                    best[a] = (kind, rank)
            found = [(a, how) for a in extra - set(best)] if len(best) < k else []
        for a, kind in found:
            if not types or idx.types[a] in types:
                best[a] = (kind, (order[kind], -idx.adoption[a], len(idx.names[a]), a))
        answers.append([(a, how) for a, (how, _) in sorted(best.items(), key=lambda kv: kv[1][1])[:k]])
    return answers


def test_suggest_matches_a_brute_force_reading_of_every_name_start():
    """suggest answers from sorted keys, vectorised ranges and typo buckets (first letter by exact
    lookups): on the bundled catalog, it must return what looking at every name start returns, for
    prefixes of every length with and without a typo (wrong, dropped, extra or swapped letter)."""
    import random

    arts = [Artifact.from_record(json.loads(line)) for f in sorted(DATA.glob("*.jsonl"))
            for line in f.read_text().splitlines() if line.strip()]
    idx = NameIndex(arts)
    rng = random.Random(15)

    def typo(s: str) -> str:
        i, c = rng.randrange(len(s)), rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
        return rng.choice([s[:i] + c + s[i + 1:], s[:i] + s[i + 1:], s[:i] + c + s[i:],
                           s[:i] + s[i + 1:i + 2] + s[i:i + 1] + s[i + 2:]])

    queries = []
    for a in rng.sample(arts, 40):
        for n in (1, 2, 3, 4, 5, 7, 10, 14):
            queries += [a.name[:n], typo(a.name[:n])]
        queries.append(" ".join(a.name.replace("-", " ").split()[:2]))
    checked = 0
    type_sets: list[tuple[str, ...]] = [(), ("dataset", "tool")]
    for q in queries:
        expected = _suggest_by_brute_force(idx, q, 8, type_sets)
        for types, want in zip(type_sets, expected, strict=True):
            assert [(s.artifact_id, s.match) for s in idx.suggest(q, k=8, types=types)] == want, (q, types)
            checked += 1
    assert checked == len(queries) * 2 and any(s.match == "typo" for q in queries for s in idx.suggest(q))


def test_resolve_names_ids_and_single_typos():
    idx = NameIndex([art("bigcode/the-stack-v2", "The Stack v2", "dataset"), art("x/bert", "BERT"),
                     art("y/bert", "BERT")])
    assert idx.resolve("bigcode/the-stack-v2") == "bigcode/the-stack-v2"
    assert idx.resolve("BigCode/The-Stack-V2") == "bigcode/the-stack-v2"
    assert idx.resolve("the stack v2") == "bigcode/the-stack-v2"
    assert idx.resolve("the stak v2") == "bigcode/the-stack-v2"
    assert idx.resolve("bert") is None  # two artifacts answer to it
    assert idx.resolve("nothing like it") is None


# --- direction and modality -------------------------------------------------------------------------
def test_direction_is_derived_from_ids_tags_and_descriptions():
    d = direction.derive(art("helsinki-nlp/opus-mt-en-fr", "opus-mt-en-fr", tags=("translation",)))
    assert (d.task, d.sources, d.targets, d.inputs) == ("translation", {"en"}, {"fr"}, {"text"})
    assert direction.derive(art("opus-mt-en-romance", "opus-mt-en-ROMANCE", tags=("translation",))).targets \
        >= {"fr", "es", "it", "pt"}
    many = direction.derive(art("facebook/m2m100_418m", "m2m100", tags=("multilingual translation",),
                                description="trained for Many-to-Many multilingual translation"))
    assert many.sources == many.targets == {"*"}
    speech = direction.derive(art("textless_sm_ro_en", "textless", tags=("audio audio-to-audio",
                                                                         "speech-to-speech-translation")))
    assert (speech.sources, speech.targets, speech.inputs, speech.outputs) == ({"ro"}, {"en"}, {"audio"}, {"audio"})
    phrase = direction.derive(art("x/marian", "marian", tags=("translation",),
                                  description="Translates from German to Spanish."))
    assert (phrase.sources, phrase.targets) == ({"de"}, {"es"})
    dash = direction.derive(art("x/nmt", "nmt", tags=("neural machine translation",),
                                description="It supports English-French and English-German translation."))
    assert (dash.sources, dash.targets) == ({"en"}, {"fr", "de"})
    asr = direction.derive(art("w", "w", tags=("audio automatic speech recognition",)))
    assert (asr.inputs, asr.outputs) == ({"audio"}, {"text"})
    stt = direction.derive(art("s", "s", tags=("classification", "speech-to-text")))
    assert (stt.inputs, stt.outputs) == ({"audio"}, {"text"})
    tts = direction.derive(art("t", "t", tags=("text-to-speech",)))
    assert (tts.inputs, tts.outputs) == ({"text"}, {"audio"})
    llm = direction.derive(art("m", "m", signals={"modalities": {"input": ["text", "image"], "output": ["text"]}}))
    assert (llm.inputs, llm.outputs) == ({"text", "image"}, {"text"})
    assert not direction.derive(art("bert", "bert", tags=("fill-mask",)))


@pytest.mark.parametrize("query, expected", [
    ("translate english to french", {"task": "translation", "sources": ["en"], "targets": ["fr"]}),
    ("from German into English", {"task": "translation", "sources": ["de"], "targets": ["en"]}),
    ("en-fr translation", {"task": "translation", "sources": ["en"], "targets": ["fr"]}),
    ("transcribe speech to text", {"inputs": ["audio"], "outputs": ["text"]}),
    ("text to speech for my app", {"inputs": ["text"], "outputs": ["audio"]}),
    ("turn a photo into a caption", {"inputs": ["image"], "outputs": ["text"]}),
    ("go to it and find the best model to use", {}),
    ("summarize text to bullet points", {}),
])
def test_queries_state_directions(query, expected):
    assert direction.parse(query).to_dict() == expected


def test_agreement_prefers_matching_then_silent_then_contradicting():
    q = direction.parse("translate english to french")
    d = {aid: direction.derive(a) for aid, a in {
        "enfr": art("opus-mt-en-fr", "x", tags=("translation",)),
        "fren": art("opus-mt-fr-en", "x", tags=("translation",)),
        "m2m": art("m2m100", "x", tags=("many-to-many multilingual translation",)),
        "s2s": art("textless_sm_en_fr", "x", tags=("speech-to-speech-translation", "audio audio-to-audio")),
        "bert": art("bert", "x", tags=("fill-mask",))}.items()}
    score = {k: direction.agreement(q, v)[0] for k, v in d.items()}
    assert score["enfr"] == score["m2m"] == 1 > score["s2s"] > score["bert"] == 0 > score["fren"]
    assert direction.agreement(q, d["enfr"])[1] == ["languages: en → fr"]
    asr = direction.derive(art("w", "w", tags=("audio automatic speech recognition",)))
    tts = direction.derive(art("t", "t", tags=("text-to-speech",)))
    q = direction.parse("transcribe speech to text")
    assert direction.agreement(q, asr)[0] == 1 and direction.agreement(q, tts)[0] == -1


# --- the whole bundled catalog, on the engine ------------------------------------------------------------
@pytest.mark.slow
def test_bundled_catalog_names_typos_prefixes_and_directions(embedder, tmp_path):
    from bench.names import measure
    from graph.settings import Settings
    from search.engine import Engine

    records = [json.loads(line) for f in sorted(DATA.glob("*.jsonl")) for line in f.read_text().splitlines()
               if line.strip()]
    for r in records:  # short texts to embed: this test is about names and directions, not capability text
        r["capabilities"] = [{"title": (c.get("title") or c.get("description", ""))[:80]}
                             for c in r["capabilities"][:1]]
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in records))
    engine = Engine(Settings.load(data_dir=tmp_path / "var", store_url="", learned_cap=0.0), embedder=embedder)
    try:
        engine.ingest([catalog])
        m = measure(engine)
    finally:
        engine.close()
    print(f"\n{m}")
    assert m["exact_rate"] >= 0.99
    assert m["hybrid_first"] >= 0.99 * m["sample"]
    assert m["typo_rate"] >= 0.9 and m["typo_total"] >= 0.8 * m["sample"]
    assert m["prefix_rate"] >= 0.9
    assert m["directions"] > 0 and m["direction_rate"] == 1.0, m["direction_failures"]
