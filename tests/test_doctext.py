"""Document expansion (search/doctext.py): what a capability is embedded as, and that the index follows it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import small_records

from graph.catalog import Artifact
from search import doctext

RECORD = {
    "id": "acme/speech-to-text", "name": "Acme Whisperer", "type": "model",
    "tags": ["speech recognition", "audio"],
    "signals": {"tasks": ["automatic speech recognition"], "modalities": {"input": ["audio"], "output": ["text"]},
                "evaluated_on": ["LibriSpeech"]},
    "capabilities": [{"title": "Transcription", "description": "Turns recordings into text."},
                     {"title": "Evaluated on LibriSpeech: WER 3.1"}],
}


def test_facts_put_the_artifacts_name_type_tasks_modalities_and_datasets_before_each_capability() -> None:
    artifact = Artifact.from_record(RECORD)
    texts = doctext.capability_texts(artifact, "facts")
    assert texts == [
        "Acme Whisperer; model; tasks: automatic speech recognition; audio to text; datasets: LibriSpeech. "
        "Transcription. Turns recordings into text",
        "Acme Whisperer; model; tasks: automatic speech recognition; audio to text; datasets: LibriSpeech. "
        "Evaluated on LibriSpeech: WER 3.1",
    ]
    assert doctext.capability_texts(artifact, "plain") == [c.text for c in artifact.capabilities]
    assert [doctext.capability_text(artifact, c, "facts") for c in artifact.capabilities] == texts


def test_an_artifact_without_tasks_is_placed_by_its_tags_and_unknown_facts_are_left_out() -> None:
    record = {k: v for k, v in RECORD.items() if k != "signals"}
    texts = doctext.capability_texts(Artifact.from_record(record), "facts")
    assert texts[0] == ("Acme Whisperer; model; tags: speech recognition, audio. "
                        "Transcription. Turns recordings into text")
    with pytest.raises(ValueError, match="expansion"):
        doctext.capability_texts(Artifact.from_record(record), "queries")


def _vector(engine, capability_id: str) -> np.ndarray:
    return engine.catalog.view.index.reconstruct(capability_id)


def _catalog(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "small.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_a_generation_embedded_as_plain_texts_is_re_embedded_when_the_setting_becomes_facts(
        make_engine, embedder, tmp_path: Path) -> None:
    catalog = _catalog(tmp_path / "catalog", small_records(extra=3))
    data_dir = tmp_path / "var"
    saved = embedder.documents
    try:
        embedder.documents = "plain"
        engine = make_engine(data_dir)
        engine.ingest([catalog])
        artifact = next(iter(engine.catalog.view.artifacts.values()))
        cap = artifact.capabilities[0]
        assert np.allclose(_vector(engine, cap.id), embedder.encode([cap.text])[0], atol=1e-5)
        engine.close()
        embedder.documents = "facts"
        reopened = make_engine(data_dir)  # loads the committed generation: its vectors are of other texts
        want = embedder.encode([doctext.capability_text(artifact, cap, "facts")])[0]
        assert np.allclose(_vector(reopened, cap.id), want, atol=1e-5)
        assert not np.allclose(want, embedder.encode([cap.text])[0], atol=1e-3)
    finally:
        embedder.documents = saved


def test_with_facts_renaming_an_artifact_re_embeds_its_unchanged_capabilities(make_engine, embedder,
                                                                               tmp_path: Path) -> None:
    records = small_records(extra=3)
    catalog = _catalog(tmp_path / "catalog", records)
    saved = embedder.documents
    try:
        embedder.documents = "facts"
        engine = make_engine()
        engine.ingest([catalog])
        records[0] = dict(records[0], name="A Completely Different Name")
        _catalog(catalog, records)
        engine.ingest([catalog])
        artifact = engine.catalog.view.artifacts[records[0]["id"]]
        cap = artifact.capabilities[0]
        want = embedder.encode([doctext.capability_text(artifact, cap, "facts")])[0]
        assert "A Completely Different Name" in doctext.capability_text(artifact, cap, "facts")
        assert np.allclose(_vector(engine, cap.id), want, atol=1e-5)
    finally:
        embedder.documents = saved


def test_the_default_embeds_the_capability_text_alone(embedder) -> None:
    artifact = Artifact.from_record(RECORD)
    assert doctext.DEFAULT == "plain" and embedder.documents == "plain"
    assert embedder.document_texts(artifact) == [c.text for c in artifact.capabilities]
    assert embedder.catalog_id == embedder.model_id
