"""One whole catalog state, immutable: what a request reads from start to end.

A `CatalogView` holds the artifacts, the capability index, the BM25 index, the artifact vectors, the name
index and the direction facets of one generation (or one catalog version). Nothing edits a view in place:
loading a generation or applying a change builds a new view beside the live one (the index is copied
before it changes) and `search/catalogstate.py` swaps the live reference in one assignment. A request
that took the old view keeps reading a whole, consistent state; before this a reload emptied the live
dicts while request threads read them (false 404s, a scorebook meeting unknown ids).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from graph.aliases import AliasMap
from graph.catalog import Artifact, Capability
from graph.evaluations import EvaluationIndex
from search import direction as directions
from search import generation_layout, tunequeries
from search import snapshot as snapshots
from search.embedder import Embedder
from search.index import IndexCorrupt, VectorIndex
from search.lexical import LexicalIndex
from search.names import NameIndex, compact

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity (per-view caches key on it)
class CatalogView:
    """The catalog one generation (or catalog version) serves, with everything derived from it."""

    artifacts: Mapping[str, Artifact]
    index: VectorIndex
    lexical: LexicalIndex
    artifact_vectors: Mapping[str, np.ndarray]
    generation: str = ""
    catalog_version: int = 0
    capabilities: Mapping[str, Capability] = field(default_factory=dict)
    names: NameIndex = field(default_factory=lambda: NameIndex(()))
    directions: Mapping[str, directions.Direction] = field(default_factory=dict)
    by_direction: Mapping[directions.Direction, list[str]] = field(default_factory=dict)
    aliases: AliasMap = field(default_factory=lambda: AliasMap({}))  # old ids of merged records
    catalog_epoch: str = ""  # the feed's history `catalog_version` counts in (search/feedsync.py)


def build(artifacts: Mapping[str, Artifact], index: VectorIndex, lexical: LexicalIndex,
          artifact_vectors: Mapping[str, np.ndarray], generation_name: str = "", catalog_version: int = 0,
          catalog_epoch: str = "") -> CatalogView:
    """A view with its capability table, name keys (exact / prefix / typo) and direction facets derived."""
    dirs = {a.id: d for a in artifacts.values() if (d := directions.derive(a))}
    # artifacts by distinct direction (a few dozen values): a query's agreement is computed once per value
    by_direction: dict[directions.Direction, list[str]] = {}
    for artifact_id, d in dirs.items():
        by_direction.setdefault(d, []).append(artifact_id)
    return CatalogView(artifacts, index, lexical, artifact_vectors, generation_name, catalog_version,
                       {c.id: c for a in artifacts.values() for c in a.capabilities},
                       NameIndex(artifacts.values()), dirs, by_direction, AliasMap.from_artifacts(artifacts.values()),
                       catalog_epoch)


def empty(dim: int, ann_threshold: int, half_scan: bool = False) -> CatalogView:
    return build({}, VectorIndex(dim, ann_threshold=ann_threshold, half_scan=half_scan), LexicalIndex({}), {})


def renamed(view: CatalogView, generation_name: str) -> CatalogView:
    """The same state under another generation name (a write just committed it)."""
    return replace(view, generation=generation_name)


def positioned(view: CatalogView, catalog_version: int, catalog_epoch: str) -> CatalogView:
    """The same state at another position of the catalog feed (a republish just started a new epoch)."""
    return replace(view, catalog_version=catalog_version, catalog_epoch=catalog_epoch)


def named(view: CatalogView, text: str) -> list[str]:
    """Every artifact `text` names exactly: the id itself, else the ids whose name, id or id tail has the
    same compact form (case, accents, punctuation and separators ignored), sorted."""
    text = text.strip()
    return [text] if text in view.artifacts else sorted(view.names.exact.get(compact(text), {}))


def canonical(view: CatalogView, artifact_id: str) -> str | None:
    """The id an artifact is served under: itself, the canonical id of an old id, or None if unknown."""
    found = view.aliases.canonical(artifact_id)
    return found if found in view.artifacts else None


_OWNERS: weakref.WeakKeyDictionary[CatalogView, dict[int, tuple[str, str]]] = weakref.WeakKeyDictionary()


def hit_owners(view: CatalogView) -> dict[int, tuple[str, str]]:
    """The index's int id of every capability of the view -> (capability id, artifact id), made once per view
    (at load, in the facts-warm thread: search/catalogstate.py). A search groups its 200 hits by artifact with
    one lookup each here instead of three (the id's name, the capability, its artifact): at 100k capabilities
    each is a CPU-cache miss after the encoder's pass, ~0.3 ms a search (issue 32)."""
    found = _OWNERS.get(view)
    if found is None:
        caps = view.capabilities
        found = {num: (cap_id, caps[cap_id].artifact_id) for num, cap_id in view.index.numbered().items()
                 if cap_id in caps}
        _OWNERS[view] = found
    return found


_EVALUATIONS: weakref.WeakKeyDictionary[CatalogView, EvaluationIndex] = weakref.WeakKeyDictionary()


def evaluations(view: CatalogView, artifact_id: str) -> tuple[list[str], list[str]]:
    """(datasets the artifact was evaluated on, models evaluated on it), indexed once per view."""
    index = _EVALUATIONS.get(view)
    if index is None:
        index = _EVALUATIONS[view] = EvaluationIndex(view.artifacts.values())
    return index.of(artifact_id)


def matrix(view: CatalogView, exclude: set[str], types: Sequence[str], dim: int) -> tuple[list[str], np.ndarray]:
    """Ids and stacked vectors of the artifacts with a vector, minus `exclude`, of `types` if given."""
    ids = [a for a, art in view.artifacts.items()
           if a not in exclude and (not types or art.type in types) and a in view.artifact_vectors]
    if not ids:
        return [], np.zeros((0, dim), dtype=np.float32)
    return ids, np.stack([view.artifact_vectors[a] for a in ids])


def refresh_derived(artifacts: Mapping[str, Artifact], index: VectorIndex, vectors: dict[str, np.ndarray],
                    touched: Iterable[str]) -> LexicalIndex:
    """Recompute (in `vectors`, a dict the caller owns) the artifact vectors of touched artifacts; returns
    the BM25 index rebuilt whole."""
    for artifact_id in touched:
        a = artifacts.get(artifact_id)
        if a is None:
            vectors.pop(artifact_id, None)
            continue
        vecs = np.stack([index.reconstruct(c.id) for c in a.capabilities])
        mean = vecs.mean(axis=0)
        vectors[artifact_id] = mean / (np.linalg.norm(mean) or 1.0)
    return LexicalIndex({a.id: a.lexical_text for a in artifacts.values()})


def load(folder: Path, embedder: Embedder, *, mmap: bool, ann_threshold: int, half_scan: bool = False) -> CatalogView:
    """The view of a committed generation; an unusable index or derived file is rebuilt (and saved back)."""
    artifacts = generation_layout.read_catalog(folder)
    capabilities = {c.id: c for a in artifacts.values() for c in a.capabilities}
    manifest = generation_layout.read_manifest(folder)
    rebuilt = False
    try:
        if _other_documents(manifest, embedder):
            raise IndexCorrupt(f"embedded as other texts ({manifest.get('model', '')[40:] or 'plain'}); "
                               f"now {embedder.documents}")
        index = generation_layout.read_index(folder, mmap=mmap, half_scan=half_scan)
        if set(index.ids()) != set(capabilities):
            raise IndexCorrupt("index ids differ from the catalog's capabilities")
    except (IndexCorrupt, FileNotFoundError, OSError, ValueError) as exc:
        log.warning("index of %s is unusable (%s): rebuilding it from the catalog and vector cache",
                    folder.name, exc)
        index = VectorIndex(embedder.dim, ann_threshold=ann_threshold, half_scan=half_scan)
        ids, texts = document_texts(artifacts.values(), embedder)
        if ids:
            index.upsert(ids, embedder.encode(texts), tune_queries=lambda: tunequeries.vectors(artifacts, embedder))
        generation_layout.save_index(folder, index)
        rebuilt = True
    vectors, lexical = _load_derived(folder, artifacts, index, rebuilt)
    _check_encoder(folder, manifest, embedder)
    return build(artifacts, index, lexical, vectors, folder.name, manifest.get("catalog_version", 0),
                 manifest.get("catalog_epoch", ""))


def _load_derived(folder: Path, artifacts: Mapping[str, Artifact], index: VectorIndex, rebuilt: bool = False) \
        -> tuple[dict[str, np.ndarray], LexicalIndex]:
    """Artifact vectors and BM25 as saved in the generation; rebuilt (and saved back) when missing or bad, or
    when the index was re-embedded (`rebuilt`)."""
    try:
        if rebuilt:
            raise generation_layout.DerivedMissing("the index was re-embedded")
        return generation_layout.read_derived(folder, artifacts.keys(), index.dim)
    except generation_layout.DerivedMissing:
        log.info("%s has no saved artifact vectors and BM25 index (written by an older version): "
                 "rebuilding them from the catalog and index", folder.name)
    except Exception as exc:  # whatever is wrong with derived files, they can be rebuilt: never fail the load
        log.warning("artifact vectors and BM25 index of %s are unusable (%s: %s): rebuilding them from the "
                    "catalog and index", folder.name, type(exc).__name__, exc)
    vectors: dict[str, np.ndarray] = {}
    lexical = refresh_derived(artifacts, index, vectors, artifacts)
    try:
        generation_layout.save_derived(folder, vectors, lexical, index.dim)
    except OSError as exc:  # a read-only data dir, or the generation pruned meanwhile: rebuild next time
        log.warning("could not save the rebuilt artifact vectors and BM25 index into %s (%s)", folder.name, exc)
    return vectors, lexical


def document_texts(artifacts: Iterable[Artifact], embedder: Embedder) -> tuple[list[str], list[str]]:
    """(capability ids, the texts they are embedded as) of the artifacts (search/doctext.py)."""
    ids: list[str] = []
    texts: list[str] = []
    for a in artifacts:
        ids += [c.id for c in a.capabilities]
        texts += embedder.document_texts(a)
    return ids, texts


def _other_documents(manifest: dict, embedder: Embedder) -> bool:
    """The generation's vectors are of the same model but of other texts (the `documents` setting changed)."""
    built_with = manifest.get("model") or ""
    return built_with.split("+")[0] == embedder.model_id and built_with != embedder.catalog_id


def _check_encoder(folder: Path, manifest: dict, embedder: Embedder) -> None:
    """Queries and stored vectors must come from the same encoder: say so when they do not."""
    built_with = manifest.get("model")
    if built_with and built_with.split("+")[0] != embedder.model_id:
        log.warning("%s was embedded with encoder %s but this process encodes with %s (model, layers, "
                    "pooling or int8 changed): re-ingest the catalog to re-embed it", folder.name,
                    built_with[:12], embedder.model_id[:12])


def changed(view: CatalogView, upserts: Sequence[Artifact], deletes: Sequence[str], embedder: Embedder, *,
            progress: bool = False, shipped: snapshots.VectorSnapshot | None = None,
            catalog_version: int | None = None, catalog_epoch: str | None = None) -> tuple[CatalogView, int, int]:
    """A new view: `view` with upserts and deletes applied (deletes of unknown ids are ignored), built
    beside it (the index is copied first). Returns (view, capability texts embedded, capabilities removed)."""
    new_catalog = dict(view.artifacts)
    for artifact_id in deletes:
        new_catalog.pop(artifact_id, None)
    for a in upserts:
        new_catalog[a.id] = a
    touched = {a.id for a in upserts} | set(deletes)
    old_caps = {c.id for t in touched if t in view.artifacts for c in view.artifacts[t].capabilities}
    new_caps = {c.id: c for t in touched if t in new_catalog for c in new_catalog[t].capabilities}
    old_texts = dict(zip(*document_texts([view.artifacts[t] for t in touched if t in view.artifacts], embedder),
                         strict=True))
    new_texts = dict(zip(*document_texts([new_catalog[t] for t in touched if t in new_catalog], embedder),
                         strict=True))
    changed_caps = [c for cid, c in new_caps.items()
                    if cid not in view.index or old_texts.get(cid) != new_texts[cid]]
    removed = sorted(old_caps - set(new_caps))
    before = embedder.encoded_texts
    vectors, from_snapshot = snapshots.encode(embedder, [new_texts[c.id] for c in changed_caps], shipped,
                                              progress=progress)
    embedded = embedder.encoded_texts - before
    if shipped is not None:
        log.info("%d of %d capability vectors taken from the shipped snapshot, %d embedded",
                 from_snapshot, len(changed_caps), embedded)
    index = view.index.copy() if (removed or changed_caps) else view.index
    if removed:
        index.remove(removed)
    if changed_caps:  # nprobe is tuned on query-like catalog texts if this turns the index IVF
        index.upsert([c.id for c in changed_caps], vectors,
                     tune_queries=lambda: tunequeries.vectors(new_catalog, embedder))
    artifact_vectors = dict(view.artifact_vectors)
    lexical = refresh_derived(new_catalog, index, artifact_vectors, touched)
    version = view.catalog_version if catalog_version is None else catalog_version
    epoch = view.catalog_epoch if catalog_epoch is None else catalog_epoch
    return (build(new_catalog, index, lexical, artifact_vectors, view.generation, version, epoch), embedded,
            len(removed))


def contents(view: CatalogView, model_id: str) -> generation_layout.Contents:
    """What a view writes as a generation (the layout: search/generation_layout.py)."""
    return generation_layout.Contents(view.artifacts, view.index, view.artifact_vectors, view.lexical, model_id,
                               view.catalog_version, view.catalog_epoch)
