"""Names first, suggestions, direction and modality: unit checks, then one whole-catalog check on the engine.

The whole-catalog test iterates over whatever the bundled catalog is (data/*.jsonl), so it keeps
holding when the catalog grows; it stays lean by embedding short capability titles only (names,
directions and BM25 read the full metadata) and by checking every name with the lexical mode (no
query embedding), a sample of 300 with the full hybrid search.
"""

from __future__ import annotations

import json
import random

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
                     art("d/wisper-bad", "wispr", signals={"downloads": 10**30})])
    got = [(s.artifact_id, s.match) for s in idx.suggest("whisp", k=10)]
    assert got[:4] == [("c/whisp", "exact"), ("a/whisper-large", "prefix"), ("a/whisper-tiny", "prefix"),
                       ("b/faster-whisper", "word")]
    typos = [(s.artifact_id, s.match) for s in idx.suggest("whsper", k=5)]
    assert typos == [("d/wisper-bad", "typo"), ("a/whisper-large", "typo"), ("a/whisper-tiny", "typo")]
    assert idx.suggest("whisp", types=["dataset"]) == []
    assert idx.suggest("   ") == []


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
    asr = direction.derive(art("w", "w", tags=("audio automatic speech recognition",)))
    assert (asr.inputs, asr.outputs) == ({"audio"}, {"text"})
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
def _typo(name: str, rng: random.Random) -> str:
    """One typo inside the name (a letter dropped, doubled, swapped with its neighbour or replaced)."""
    positions = [i for i, ch in enumerate(name) if ch.isalnum()][1:-1] or [0]
    i = rng.choice(positions)
    kind = rng.choice(("drop", "double", "swap", "replace"))
    if kind == "drop":
        return name[:i] + name[i + 1:]
    if kind == "double":
        return name[:i] + name[i] + name[i:]
    if kind == "swap" and i + 1 < len(name) and name[i + 1] != name[i]:
        return name[:i] + name[i + 1] + name[i] + name[i + 2:]
    return name[:i] + ("x" if name[i].lower() != "x" else "q") + name[i + 1:]


def _unique_prefix(name: str, own: str, keys: list[tuple[str, str]]) -> str:
    """The shortest prefix of `name` (5+ compact characters) that starts no other artifact's name or id."""
    key = compact(name)
    others = [k for k, a in keys if a != own]
    for length in range(5, len(key) + 1):
        p = key[:length]
        if not any(k.startswith(p) for k in others):
            break
    # the typed text: as many characters of the name as give that many compact characters
    typed = ""
    for ch in name:
        if len(compact(typed)) >= length:
            break
        typed += ch
    return typed


@pytest.mark.slow
def test_bundled_catalog_names_typos_prefixes_and_directions(embedder, tmp_path):
    from search.config import Config
    from search.engine import Engine

    records = [json.loads(line) for f in sorted(DATA.glob("*.jsonl")) for line in f.read_text().splitlines()
               if line.strip()]
    for r in records:  # short texts to embed: this test is about names and directions, not capability text
        r["capabilities"] = [{"title": (c.get("title") or c.get("description", ""))[:80]}
                             for c in r["capabilities"][:1]]
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in records))
    engine = Engine(Config.from_env(data_dir=tmp_path / "var", store_url="", learned_cap=0.0), embedder=embedder)
    try:
        engine.ingest([catalog])
        arts = list(engine.artifacts.values())
        owners: dict[str, set[str]] = {}
        for a in arts:
            for text in (a.name, a.id, a.id.rsplit("/", 1)[-1]):
                owners.setdefault(compact(text), set()).add(a.id)
        unique = [a for a in arts if owners[compact(a.name)] == {a.id}]

        # 1. every exact name returns its artifact first (every artifact: lexical mode, no query embedding)
        firsts = sum(engine.search(a.name, k=1, mode="lexical", record=False).hits[0].artifact.id == a.id
                     for a in unique)
        exact_rate = firsts / len(unique)

        rng = random.Random(15)
        sample = rng.sample(unique, min(300, len(unique)))
        # 2. the same through the full hybrid search, and one typo away: top 3
        hybrid = sum(engine.search(a.name, k=1, record=False).hits[0].artifact.id == a.id for a in sample)
        typo_hits = typo_total = 0
        for a in sample:
            variant = _typo(a.name, rng)
            if compact(variant) in owners or len(compact(variant)) < 4:
                continue  # the typo made another artifact's exact name (or nothing): not a typo of this one
            typo_total += 1
            typo_hits += a.id in [h.artifact.id for h in engine.search(variant, k=3, record=False).hits]
        # 3. the shortest unique prefix (5+ characters) puts it in suggest's top 3
        keys = [(compact(t), a.id) for a in arts for t in (a.name, a.id, a.id.rsplit("/", 1)[-1])]
        prefix_hits = sum(a.id in [s.artifact_id for s in engine.suggest(_unique_prefix(a.name, a.id, keys), k=3)]
                          for a in sample)
        # 4. "translate <source> to <target>": a model of that direction (or many-to-many) first, no reversed
        # model above any matching one
        pairs = {(s, t) for d in engine.directions.values() if d.task == "translation"
                 for s in d.sources for t in d.targets
                 if len(d.sources) == 1 and len(d.targets) == 1 and "*" not in (s, t)}
        direction_ok = 0
        for s, t in sorted(pairs):
            q = f"translate {direction.LANGUAGES[s][0]} to {direction.LANGUAGES[t][0]}"
            hits = engine.search(q, k=10, record=False).hits
            asked = direction.parse(q)
            marks = [direction.agreement(asked, engine.directions[h.artifact.id])[0]
                     if h.artifact.id in engine.directions else 0 for h in hits]
            reversed_ = [i for i, h in enumerate(hits) if h.artifact.id in engine.directions
                         and t in engine.directions[h.artifact.id].sources
                         and s in engine.directions[h.artifact.id].targets]
            matching = [i for i, m in enumerate(marks) if m > 0]
            direction_ok += bool(matching) and matching[0] == 0 and all(r > matching[-1] for r in reversed_)
        print(f"\nexact name first: {firsts}/{len(unique)} = {exact_rate:.4f} "
              f"({len(arts) - len(unique)} artifacts share a name); hybrid sample {hybrid}/{len(sample)}; "
              f"one typo top 3: {typo_hits}/{typo_total}; unique prefix in suggest top 3: "
              f"{prefix_hits}/{len(sample)}; translation directions: {direction_ok}/{len(pairs)}")
        assert exact_rate >= 0.99
        assert hybrid >= 0.99 * len(sample)
        assert typo_hits >= 0.9 * typo_total and typo_total >= 0.8 * len(sample)
        assert prefix_hits >= 0.9 * len(sample)
        assert pairs and direction_ok == len(pairs)
    finally:
        engine.close()
