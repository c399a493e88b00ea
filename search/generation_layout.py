"""One generation on disk: which files it holds, how they are written, read and committed.

This is the one module that knows the layout of a generation folder; `Engine` asks it (it keeps only the
policy: what to rebuild when a file is unusable, and swapping memory). `graph/infra/generation_commit.py` does the
atomic part (staging folder, fsync, rename, the `CURRENT` pointer, pruning) for any `write(folder)`.
Each object serialises its own files (`VectorIndex.save`, `derived.save`); which files make a
generation, in which order they are written and how a folder is read back is decided here.

    <data dir>/CURRENT                 name of the committed generation (graph/infra/generation_commit.py)
    <data dir>/gen-NNNNNN/
        catalog.jsonl                  every artifact, one JSON record per line, sorted by id
        graph.json                     the catalog graph: artifact -> capability (node-link JSON)
        index.faiss, index.ids.json,   FAISS index of capability vectors, its id map, and checksums
        index.meta.json                  (search/index.py)
        index.fp16.faiss               an IVF's fp16 scan copy, when saved with MATCHGRAPH_INDEX_FP16 (optional:
                                         rebuilt from index.faiss when absent; search/halfscan.py)
        artifact_vectors.f32,          artifact vectors and the BM25 index, derived from the two above,
        artifact_vectors.ids.json,       checksummed in derived.meta.json (search/derived.py)
        bm25.*, derived.meta.json
        manifest.json                  written last: counts, encoder model id, index kind, time, catalog version
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graph import matchgraph
from graph.catalog import Artifact, CatalogError
from graph.infra import generation_commit
from search import derived, index
from search.index import VectorIndex
from search.lexical import LexicalIndex

CATALOG_FILE = "catalog.jsonl"
GRAPH_FILE = "graph.json"
# Written last: graph.infra.generation_commit (the commit protocol, a layer below) treats it as the complete marker.
MANIFEST_FILE = generation_commit.COMPLETE_MARKER
FILES = (CATALOG_FILE, GRAPH_FILE, MANIFEST_FILE)  # what search.engine re-exports
INDEX_FILES = (index.INDEX_FILE, index.IDS_FILE, index.META_FILE)
OPTIONAL_FILES = (index.HALF_FILE,)  # an IVF's fp16 scan copy (MATCHGRAPH_INDEX_FP16); rebuilt when absent
DERIVED_META_FILE = derived.META_FILE

# re-exported so callers need one import for everything about generations
DerivedMissing, DerivedCorrupt, IndexCorrupt = derived.DerivedMissing, derived.DerivedCorrupt, index.IndexCorrupt


@dataclass
class Contents:
    """What a generation holds, in memory."""

    artifacts: Mapping[str, Artifact]
    index: VectorIndex
    artifact_vectors: Mapping[str, np.ndarray]
    lexical: LexicalIndex
    model_id: str
    catalog_version: int = 0  # the shared catalog feed's version it reflects (0: no feed)
    catalog_epoch: str = ""  # the feed's epoch that version counts in (graph/store/catalogfeed.py)


def current(data_dir: Path) -> Path | None:
    """The committed generation's folder (None: the data dir holds no catalog yet); when CURRENT names a
    missing or incomplete folder, the newest complete generation (graph/infra/generation_commit.py)."""
    return generation_commit.current(data_dir)


# the writer lock and the complete generations, for writers (Engine.apply) and start-up
writer_lock = generation_commit.writer_lock
generations_newest_first = generation_commit.generations_newest_first
holds_catalog_state = generation_commit.holds_catalog_state
lease = generation_commit.lease  # a process's share lock on a generation it loads or serves (never pruned under it)


# --- reading ---------------------------------------------------------------------------------------
def read_catalog(folder: Path) -> dict[str, Artifact]:
    """The artifacts of a generation (validated when written, so not validated again), checked against
    the size and sha256 in its manifest (generations written before the checksum are read unchecked).
    Any damage raises CatalogError naming the file (and the line, when a line does not parse)."""
    path = folder / CATALOG_FILE
    manifest = read_manifest(folder)
    data = path.read_bytes()
    want = manifest.get("catalog_sha256")
    if want and (len(data) != manifest.get("catalog_bytes", len(data)) or hashlib.sha256(data).hexdigest() != want):
        raise CatalogError(f"{path}: damaged (size or sha256 differs from {MANIFEST_FILE})")
    artifacts: dict[str, Artifact] = {}
    for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        try:
            a = Artifact.from_record(json.loads(line), validate=False)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CatalogError(f"{path}:{n}: unreadable record ({type(exc).__name__}: {exc})") from None
        artifacts[a.id] = a
    return artifacts


def read_index(folder: Path, *, mmap: bool = False, half_scan: bool = False) -> VectorIndex:
    """The capability index (IndexCorrupt, OSError or ValueError when unusable); `mmap`, `half_scan`: see
    VectorIndex.load."""
    return VectorIndex.load(folder, mmap=mmap, half_scan=half_scan)


def read_derived(folder: Path, artifact_ids, dim: int) -> tuple[dict[str, np.ndarray], LexicalIndex]:
    """Artifact vectors and BM25 (DerivedMissing for a generation written before they were saved,
    DerivedCorrupt when they do not check out)."""
    return derived.load(folder, artifact_ids, dim)


def read_manifest(folder: Path) -> dict:
    """The manifest; {} when it cannot be read."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def built_with(folder: Path) -> str | None:
    """The encoder model id the generation's vectors were made with (None when unknown)."""
    return read_manifest(folder).get("model")


# --- verifying -------------------------------------------------------------------------------------
def verify(folder: Path) -> str | None:
    """Why the generation in `folder` cannot be trusted as the base of a write, or None when it checks out:
    its manifest must be a JSON object naming the artifact count, and the catalog must have the size and
    sha256 the manifest records (a generation written before the checksum: as many lines as artifacts).
    A missing or garbage manifest is a failure: it would silently turn the catalog check off. The index is
    not judged here: it is derived from the catalog and rebuilt from it when it does not load."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except FileNotFoundError:
        return f"{folder / MANIFEST_FILE} is missing"
    except (OSError, ValueError) as exc:
        return f"{folder / MANIFEST_FILE} is unreadable ({type(exc).__name__})"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts"), int):
        return f"{folder / MANIFEST_FILE} is not a generation manifest"
    try:
        data = (folder / CATALOG_FILE).read_bytes()
    except OSError as exc:
        return f"{folder / CATALOG_FILE} is unreadable ({type(exc).__name__})"
    want = manifest.get("catalog_sha256")
    if want is not None:
        if len(data) != manifest.get("catalog_bytes") or hashlib.sha256(data).hexdigest() != want:
            return f"{folder / CATALOG_FILE} differs from its size or sha256 in {MANIFEST_FILE}"
    elif (lines := data.count(b"\n")) != manifest["artifacts"]:
        return f"{folder / CATALOG_FILE} holds {lines} records, {MANIFEST_FILE} says {manifest['artifacts']}"
    return None


@dataclass
class Choice:
    """Which generation to serve: `folder` (None: the data dir holds no catalog), the generation that should
    be served (`wanted`: CURRENT, or the high-water mark when CURRENT was rolled back behind it), and the
    problems that made `folder` differ from it (empty when it is the wanted one and nothing is wrong)."""

    folder: Path | None
    wanted: str
    problems: list[str]

    @property
    def fallback(self) -> bool:
        return bool(self.problems)


def choose(data_dir: Path, broken: Mapping[str, str] = {}) -> Choice:  # noqa: B006 - read only
    """The newest generation that verifies, at or below the wanted one (the higher of CURRENT and the
    high-water mark COMMITTED), skipping `broken` ones (name -> why: they failed to load in this process).
    Generations above the wanted one were never acknowledged (a writer died before CURRENT moved)."""
    pointer, high = generation_commit.pointers(data_dir)
    number = generation_commit.number
    wanted = max((n for n in (pointer, high) if number(n)), key=number, default=None)
    if wanted is None:
        complete = generations_newest_first(data_dir)  # CURRENT lost or garbage: the newest complete one
        if not complete:
            lost = [f"{generation_commit.POINTER} names {pointer!r}: no generation"] if pointer else []
            return Choice(None, "", lost)
        wanted = complete[0].name
    problems = []
    if generation_commit.number(high) > generation_commit.number(pointer):
        problems.append(f"{generation_commit.POINTER} names {pointer} but {high} was committed "
                        f"({generation_commit.HIGH_WATER}): rolled back")
    if not (data_dir / wanted).is_dir():
        problems.append(f"{wanted} is missing")
    for folder in generation_commit.folders_up_to(data_dir, generation_commit.number(wanted)):
        why = broken.get(folder.name) or verify(folder)
        if why is None:
            return Choice(folder, wanted, problems)
        problems.append(why if str(folder) in why else f"{folder.name}: {why}")
    return Choice(None, wanted, problems + ["no generation verifies"])


# --- writing ---------------------------------------------------------------------------------------
def save_index(folder: Path, vectors: VectorIndex) -> None:
    """Save a rebuilt index back into a committed generation (atomic per file set, checksummed)."""
    vectors.save(folder)


def save_derived(folder: Path, artifact_vectors: Mapping[str, np.ndarray], lexical: LexicalIndex, dim: int) -> None:
    """Save rebuilt derived state back into a committed generation (atomic, checksummed)."""
    derived.save(folder, artifact_vectors, lexical, dim)


def write(folder: Path, contents: Contents) -> None:
    """Write every file of a generation into `folder` (a staging folder), the manifest last."""
    arts = contents.artifacts
    digest = hashlib.sha256()
    with open(folder / CATALOG_FILE, "wb") as fh:
        for artifact_id in sorted(arts):
            line = (json.dumps(arts[artifact_id].to_record(), ensure_ascii=False) + "\n").encode()
            digest.update(line)
            fh.write(line)
    matchgraph.save(matchgraph.catalog_graph(arts.values()), folder / GRAPH_FILE)
    contents.index.save(folder)
    derived.save(folder, contents.artifact_vectors, contents.lexical, contents.index.dim)
    manifest = {"artifacts": len(arts), "capabilities": sum(len(a.capabilities) for a in arts.values()),
                "model": contents.model_id, "index": contents.index.kind, "created_at": time.time(),
                "catalog_version": contents.catalog_version, "catalog_epoch": contents.catalog_epoch,
                "catalog_sha256": digest.hexdigest(),
                "catalog_bytes": (folder / CATALOG_FILE).stat().st_size}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


def commit(data_dir: Path, write_folder, served: str = "") -> Path:
    """Make a new generation current: `write_folder(staging)` (usually `write(staging, contents)`), then
    the atomic rename and pointer swap of graph/infra/generation_commit.py (under `writer_lock`; `served` is never
    pruned). Returns the new folder."""
    return generation_commit.commit(data_dir, write_folder, served=served)
