"""The shipped vector snapshot (search/snapshot.py): used when it matches, refused when it does not."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import small_records

from search import snapshot


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "small.jsonl").write_text("".join(json.dumps(r) + "\n" for r in small_records(extra=5)))
    return folder


def _texts(folder: Path) -> list[str]:
    """The texts the catalog's capabilities are embedded as (search/doctext.py, the default setting)."""
    from graph.loader import load_artifacts
    from search import doctext

    return [t for a in load_artifacts([folder]) for t in doctext.capability_texts(a, doctext.DEFAULT)]


def test_snapshot_rows_are_the_encoders_vectors_in_float16(embedder, catalog: Path) -> None:
    texts = _texts(catalog)
    meta = snapshot.write(catalog / snapshot.FOLDER, embedder, texts, progress=False)
    assert meta["count"] == len(set(texts)) and meta["model_id"] == embedder.model_id
    snap = snapshot.VectorSnapshot.open(catalog / snapshot.FOLDER, embedder)
    assert snap is not None and len(snap) == len(set(texts))
    got = np.stack(snap.get(texts[:20]))
    want = embedder.encode(texts[:20])
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() > 0.999
    assert snap.get(["a text that is not in the snapshot"]) == [None]


def test_a_damaged_or_foreign_snapshot_is_refused_with_a_warning(embedder, catalog: Path, caplog) -> None:
    folder = catalog / snapshot.FOLDER
    snapshot.write(folder, embedder, _texts(catalog), progress=False)
    part = folder / "vectors-00.f16"
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF
    part.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="search.snapshot"):
        assert snapshot.VectorSnapshot.open(folder, embedder) is None
    assert "checksum mismatch" in caplog.text
    snapshot.write(folder, embedder, _texts(catalog), progress=False)
    meta = json.loads((folder / snapshot.META).read_text())
    meta["model_id"] = "another-encoder"
    (folder / snapshot.META).write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="search.snapshot"):
        assert snapshot.VectorSnapshot.open(folder, embedder) is None
    assert "another encoder" in caplog.text


def test_ingest_takes_snapshot_rows_and_embeds_only_what_changed(make_engine, embedder, catalog: Path) -> None:
    snapshot.write(catalog / snapshot.FOLDER, embedder, _texts(catalog), progress=False)
    rows = [json.loads(line) for line in (catalog / "small.jsonl").read_text().splitlines()]
    rows[0]["capabilities"].append({"title": "A capability written after the snapshot", "description": "new"})
    (catalog / "small.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    saved, embedder.cache = embedder.cache, None  # vectors come from the snapshot or the model, not a cache
    try:
        before = embedder.encoded_texts
        report = make_engine().ingest([catalog])
        assert embedder.encoded_texts - before == 1 + 3, "the new capability and the 3 probes"
        assert report.artifacts == len(rows)
    finally:
        embedder.cache = saved
