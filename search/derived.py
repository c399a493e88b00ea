"""State derived from a generation's catalog and vector index, saved inside that generation.

The mean vector of every artifact and the BM25 index are functions of the catalog and the index, but
rebuilding them costs seconds per 100k capabilities (BM25 tokenising and stemming, one `reconstruct`
per capability), so each generation carries them and a cold start only reads them:

    artifact_vectors.f32       raw little-endian float32, one unit row per artifact, in the order of
    artifact_vectors.ids.json  these artifact ids
    bm25.*                     the BM25 index in bm25s's own format (.npy arrays and JSON, no pickle)
    derived.meta.json          written last: format, dim, counts, and size + sha256 of each file above

The files are written while the generation is staged, so `generations.commit` makes them current
together with the catalog and the index. A folder without `derived.meta.json` was written by an older
version (`DerivedMissing`); anything else that does not check out is `DerivedCorrupt`. Either way the
engine rebuilds both from the catalog and the index and saves them back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np

from graph.infra.generation_commit import fsync_dir
from search.index import fsync_and_hash
from search.lexical import BM25_FILES, LexicalIndex
from search.lexical import IDS_FILE as BM25_IDS_FILE

FORMAT = "matchgraph-derived/1"
META_FILE = "derived.meta.json"
VECTORS_FILE = "artifact_vectors.f32"
VECTOR_IDS_FILE = "artifact_vectors.ids.json"
_DTYPE = np.dtype("<f4")
_BM25_REQUIRED = ("data_name", "indices_name", "indptr_name", "vocab_name", "params_name")


class DerivedMissing(Exception):
    """The generation carries no saved derived state (written before it was saved)."""


class DerivedCorrupt(Exception):
    """Saved derived state is missing a file, truncated, altered or does not match the catalog."""


def save(folder: str | os.PathLike[str], artifact_vectors: Mapping[str, np.ndarray], lexical: LexicalIndex,
         dim: int) -> list[str]:
    """Write the artifact vectors and the BM25 index into `folder`; returns the names written.

    Everything is first written and fsynced in a temp folder inside `folder`, then renamed into place
    with the meta last (and any old meta removed first), so even outside a staged generation (saving
    back a rebuild) a reader sees the old set, no set, or the new set: a mix fails the checksums.
    """
    d = Path(folder)
    tmp = Path(tempfile.mkdtemp(prefix=".derived.", suffix=".tmp", dir=d))
    try:
        ids = sorted(artifact_vectors)
        matrix = np.empty((len(ids), dim), _DTYPE)
        for row, artifact_id in enumerate(ids):
            matrix[row] = artifact_vectors[artifact_id]
        (tmp / VECTORS_FILE).write_bytes(matrix.tobytes())
        (tmp / VECTOR_IDS_FILE).write_text(json.dumps(ids, ensure_ascii=False, separators=(",", ":")),
                                           encoding="utf-8")
        names = [VECTORS_FILE, VECTOR_IDS_FILE] + lexical.save(tmp)
        files = {}
        for name in names:
            sha, size = fsync_and_hash(tmp / name)
            files[name] = {"size": size, "sha256": sha}
        meta = {"format": FORMAT, "dim": int(dim), "artifacts": len(ids), "bm25_documents": len(lexical),
                "files": files}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        fsync_and_hash(tmp / META_FILE)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(d / META_FILE)
        for name in names:
            os.replace(tmp / name, d / name)
        os.replace(tmp / META_FILE, d / META_FILE)
        fsync_dir(d)
        return names + [META_FILE]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load(folder: str | os.PathLike[str], artifact_ids: Collection[str],
         dim: int) -> tuple[dict[str, np.ndarray], LexicalIndex]:
    """The saved artifact vectors (id -> read-only unit row) and BM25 index of a generation, checked
    against its meta (sizes, sha256), the catalog's artifact ids and the vector dimension."""
    d = Path(folder)
    try:
        raw_meta = (d / META_FILE).read_bytes()
    except FileNotFoundError:
        raise DerivedMissing(f"no {META_FILE} in {d.name}") from None
    except OSError as exc:
        raise DerivedCorrupt(f"cannot read {META_FILE}: {exc}") from exc
    try:
        meta = json.loads(raw_meta)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DerivedCorrupt(f"{META_FILE}: unknown format")
        files = meta["files"]
        count, saved_dim = int(meta["artifacts"]), int(meta["dim"])
        required = {VECTORS_FILE, VECTOR_IDS_FILE, BM25_IDS_FILE}
        if count:
            required |= {BM25_FILES[k] for k in _BM25_REQUIRED}
        if not isinstance(files, dict) or not required <= files.keys():
            raise DerivedCorrupt(f"{META_FILE}: file list incomplete")
        blobs = {}
        for name, want in files.items():
            if not isinstance(name, str) or Path(name).name != name or name.startswith("."):
                raise DerivedCorrupt(f"{META_FILE}: bad file name {name!r}")
            try:
                blob = (d / name).read_bytes()
            except OSError as exc:
                raise DerivedCorrupt(f"cannot read {name}: {exc}") from exc
            if len(blob) != want["size"]:
                raise DerivedCorrupt(f"{name}: {len(blob)} bytes, meta says {want['size']}")
            if hashlib.sha256(blob).hexdigest() != want["sha256"]:
                raise DerivedCorrupt(f"{name}: checksum mismatch")
            blobs[name] = blob
    except (KeyError, TypeError, ValueError) as exc:
        raise DerivedCorrupt(f"{META_FILE}: malformed ({exc!r})") from exc
    if saved_dim != dim:
        raise DerivedCorrupt(f"vectors of dimension {saved_dim}, the index has {dim}")
    try:
        ids = json.loads(blobs[VECTOR_IDS_FILE])
    except ValueError as exc:
        raise DerivedCorrupt(f"{VECTOR_IDS_FILE}: {exc}") from exc
    if not isinstance(ids, list) or len(ids) != count or len(set(ids)) != count \
            or set(ids) != set(artifact_ids):
        raise DerivedCorrupt(f"{VECTOR_IDS_FILE}: ids differ from the catalog's artifacts")
    vectors = blobs[VECTORS_FILE]
    if len(vectors) != count * dim * _DTYPE.itemsize:
        raise DerivedCorrupt(f"{VECTORS_FILE}: {len(vectors)} bytes for {count} x {dim} float32")
    matrix = np.frombuffer(vectors, dtype=_DTYPE).reshape(count, dim)
    if not np.isfinite(matrix).all():
        raise DerivedCorrupt(f"{VECTORS_FILE}: NaN or inf")
    try:
        lexical = LexicalIndex.load(d)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DerivedCorrupt(f"BM25 index: {exc}") from exc
    if len(lexical) != len(ids) or set(lexical.ids) != set(ids):
        raise DerivedCorrupt("BM25 documents differ from the catalog's artifacts")
    return dict(zip(ids, matrix, strict=True)), lexical
