"""The query engine: one facade over catalog, vectors, BM25, the match store and the scores.

Like txtai's `Embeddings`, callers (CLI, API, benchmarks) only talk to `Engine`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graph import matchgraph
from graph.catalog import Artifact, Capability, CatalogError
from graph.dedup import Dedup
from graph.events import FeedbackEvent, SearchEvent, Served, normalise_query
from graph.forksafe import reset_after_fork
from graph.loader import load_artifacts
from graph.scores import ScoreBook, Scores
from graph.settings import REDIS_SCHEMES, Settings
from graph.store import open_catalog_feed, open_store, store_options
from graph.store.base import MatchStore, QueryStat
from graph.store.catalogfeed import SNAPSHOT_EVERY, FeedBehind
from search import direction as directions
from search import generation
from search import snapshot as snapshots
from search.embedder import Embedder
from search.identity import load_secret, user_key
from search.index import IndexCorrupt, VectorIndex
from search.learning import IntentMemory
from search.lexical import LexicalIndex
from search.names import NameIndex, compact
from search.ranking import dense_score, fuse, group_hits
from search.vectorcache import VectorCache

log = logging.getLogger(__name__)
# the layout of a generation belongs to search/generation.py; these names stay importable from here
CATALOG_FILE, GRAPH_FILE, MANIFEST_FILE = generation.CATALOG_FILE, generation.GRAPH_FILE, generation.MANIFEST_FILE
POPULAR_CHARS = (3, 80)  # length limits of a query shown in "Popular searches"


@dataclass
class Hit:
    """One ranked artifact of a search."""

    rank: int
    artifact: Artifact
    score: float
    capabilities: list[tuple[str, float]]
    dense: float = 0.0
    lexical: float = 0.0
    learned: float = 0.0
    why: list[str] = field(default_factory=list)

    def artifact_capability(self, capability_id: str) -> str:
        """Display title of one of this artifact's capabilities."""
        for c in self.artifact.capabilities:
            if c.id == capability_id:
                return c.label
        return capability_id


@dataclass
class SearchResult:
    search_id: str
    query: str
    took_ms: float
    hits: list[Hit]
    total: int
    low_confidence: bool = False
    learned_from: dict[str, list[str]] = field(default_factory=dict)
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    understood: dict = field(default_factory=dict)
    normalised: str = ""
    vector: np.ndarray | None = field(default=None, repr=False)
    recorded: bool = False
    user: str = ""  # who searched (pseudonymous key), recorded with the search (graph/dedup.py)
    preview: bool = False
    filtered: bool = False


FACET_FIELDS = ("type", "pricing")
MAX_DIRECTION_CANDIDATES = 64  # artifacts matching a query's direction added beyond the vector search's reach
ENCODER_CHARS = 4096  # the encoder sees its first max_length tokens anyway: do not tokenise pages it drops


@dataclass
class IngestReport:
    artifacts: int
    capabilities: int
    embedded: int
    removed: int
    generation: str


class Engine:
    """Loads the committed generation of a data dir and serves searches over it."""

    def __init__(self, config: Settings, *, embedder: Embedder | None = None,
                 store: MatchStore | None = None) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # the store first: a store that refuses us (wrong password) fails start-up before the model loads
        self.store = store or open_store(config.store_url, self.data_dir, **store_options(config))
        self.cache = VectorCache(self.data_dir / "vectors.db")
        self.embedder = embedder or Embedder(
            config.model, layers=config.layers, pooling=config.pooling, cache=self.cache, backend=config.encoder,
            threads=config.encoder_threads, onnx_dir=config.onnx_dir or self.data_dir / "models")
        if self.embedder.cache is None:
            self.embedder.cache = self.cache
        self.feed = open_catalog_feed(config.store_url, config)
        self.catalog_version = 0  # the shared catalog version this process serves (0: no feed, or none yet)
        self.query_cache = _query_cache(config)
        self.intents = IntentMemory(self.embedder, self.store)
        self._user_secret = load_secret(config.user_secret, self.data_dir)
        self.dedup = Dedup(self.store, config.settle_window_s)
        self._blocked: tuple[int, set[str]] = (-1, set())
        self._lock = threading.RLock()
        reset_after_fork(self, "_lock")
        self._scorebook: ScoreBook | None = None
        self._scorebook_at = 0.0
        self._intents_by_artifact: dict[str, set[str]] | None = None
        self.generation = ""
        self._broken: set[str] = set()  # generations that failed to load (never retried by this process)
        self._serving_instead_of = ""  # the committed generation we fell back from, if any
        self._reset_state()
        self.reload()

    # --- state -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.artifacts: dict[str, Artifact] = {}
        self.capabilities: dict[str, Capability] = {}
        self.index = VectorIndex(self.embedder.dim, ann_threshold=self.config.ann_threshold)
        self.lexical = LexicalIndex({})
        self.artifact_vectors: dict[str, np.ndarray] = {}
        self.names = NameIndex(())
        self.directions: dict[str, directions.Direction] = {}
        self._by_direction: dict[directions.Direction, list[str]] = {}

    def reload(self) -> bool:
        """Load the committed generation if it differs from the one in memory; True when it did.

        A generation that does not load (a damaged catalog, say) is remembered as broken and the newest
        older complete one is loaded instead, with an ERROR in the log; when none loads, the generation in
        memory keeps serving and the error is raised (reported by /readyz)."""
        folder = generation.current(self.data_dir)
        name = folder.name if folder else ""
        if name == self.generation or (name in self._broken and self._serving_instead_of == name):
            return False
        with self._lock:
            if name == self.generation:
                return False
            candidates = [folder] if folder is not None else []
            candidates += [g for g in generation.generations_newest_first(self.data_dir)
                           if folder is not None and int(g.name[4:]) < int(name[4:])]
            first_error: Exception | None = None
            for candidate in candidates:
                if candidate.name in self._broken:
                    continue
                if candidate.name == self.generation:  # the fallback is what we already serve
                    self._serving_instead_of = name
                    return False
                try:
                    self._load_into_memory(candidate)
                except Exception as exc:
                    log.exception("could not load generation %s", candidate.name)
                    self._broken.add(candidate.name)
                    first_error = first_error or exc
                    continue
                if candidate is not folder:
                    log.error("generation %s does not load: serving the previous complete generation %s "
                              "(re-ingest or fix %s)", name, candidate.name, self.data_dir / name)
                self._serving_instead_of = name if candidate is not folder else ""
                return True
            if folder is None:
                self._load_into_memory(None)
                return True
            self._serving_instead_of = name
            log.error("no generation of %s loads: keeping the one in memory (%s)", self.data_dir,
                      self.generation or "empty")
            if first_error is not None:
                raise first_error
            return False

    def _load_into_memory(self, folder: Path | None) -> None:
        """Swap memory to `folder` (None: empty) or, when it fails, leave memory as it was and raise."""
        previous = (self.artifacts, self.capabilities, self.index, self.lexical, self.artifact_vectors,
                    self.names, self.directions, self._by_direction)
        self._reset_state()
        try:
            if folder is not None:
                self._load(folder)
        except BaseException:
            (self.artifacts, self.capabilities, self.index, self.lexical, self.artifact_vectors,
             self.names, self.directions, self._by_direction) = previous
            raise
        self.generation = folder.name if folder is not None else ""
        self.catalog_version = generation.read_manifest(folder).get("catalog_version", 0) if folder else 0
        self._invalidate()

    def _load(self, folder: Path) -> None:
        self._load_catalog(folder)
        try:
            self.index = generation.read_index(folder, mmap=self.config.index_mmap)
            if set(self.index.ids()) != set(self.capabilities):
                raise IndexCorrupt("index ids differ from the catalog's capabilities")
        except (IndexCorrupt, FileNotFoundError, OSError, ValueError) as exc:
            log.warning("index of %s is unusable (%s): rebuilding it from the catalog and vector cache",
                        folder.name, exc)
            self.index = VectorIndex(self.embedder.dim, ann_threshold=self.config.ann_threshold)
            caps = list(self.capabilities.values())
            if caps:
                self.index.upsert([c.id for c in caps], self.embedder.encode([c.text for c in caps]))
            generation.save_index(folder, self.index)
        self._load_derived(folder)
        self._derive_names_and_directions()
        self._check_encoder(folder)

    def _derive_names_and_directions(self) -> None:
        """Name keys (exact / prefix / typo) and direction facets of every artifact, from its metadata."""
        self.names = NameIndex(self.artifacts.values())
        self.directions = {a.id: d for a in self.artifacts.values() if (d := directions.derive(a))}
        # artifacts by distinct direction (a few dozen values): a query's agreement is computed once per value
        self._by_direction: dict[directions.Direction, list[str]] = {}
        for artifact_id, d in self.directions.items():
            self._by_direction.setdefault(d, []).append(artifact_id)

    def _check_encoder(self, folder: Path) -> None:
        """Queries and stored vectors must come from the same encoder: say so when they do not."""
        built_with = generation.read_manifest(folder).get("model")
        if built_with and built_with != self.embedder.model_id:
            log.warning("%s was embedded with encoder %s but this process encodes with %s (model, layers, "
                        "pooling or int8 changed): re-ingest the catalog to re-embed it", folder.name,
                        built_with[:12], self.embedder.model_id[:12])

    def _load_catalog(self, folder: Path) -> None:
        self.artifacts = generation.read_catalog(folder)
        self.capabilities = {c.id: c for a in self.artifacts.values() for c in a.capabilities}

    def _load_derived(self, folder: Path) -> None:
        """Artifact vectors and BM25 as saved in the generation; rebuilt (and saved back) when missing or bad."""
        try:
            self.artifact_vectors, self.lexical = generation.read_derived(folder, self.artifacts.keys(),
                                                                          self.index.dim)
            return
        except generation.DerivedMissing:
            log.info("%s has no saved artifact vectors and BM25 index (written by an older version): "
                     "rebuilding them from the catalog and index", folder.name)
        except Exception as exc:  # whatever is wrong with derived files, they can be rebuilt: never fail the load
            log.warning("artifact vectors and BM25 index of %s are unusable (%s: %s): rebuilding them from the "
                        "catalog and index", folder.name, type(exc).__name__, exc)
        self._refresh_derived(self.artifacts)
        try:
            generation.save_derived(folder, self.artifact_vectors, self.lexical, self.index.dim)
        except OSError as exc:  # a read-only data dir, or the generation pruned meanwhile: rebuild next time
            log.warning("could not save the rebuilt artifact vectors and BM25 index into %s (%s)", folder.name, exc)

    def _refresh_derived(self, touched: Iterable[str]) -> None:
        """Recompute the artifact vectors of touched artifacts and rebuild the BM25 index whole."""
        for artifact_id in touched:
            a = self.artifacts.get(artifact_id)
            if a is None:
                self.artifact_vectors.pop(artifact_id, None)
                continue
            vecs = np.stack([self.index.reconstruct(c.id) for c in a.capabilities])
            mean = vecs.mean(axis=0)
            self.artifact_vectors[artifact_id] = mean / (np.linalg.norm(mean) or 1.0)
        self.lexical = LexicalIndex({a.id: a.lexical_text for a in self.artifacts.values()})
        self._derive_names_and_directions()

    def _invalidate(self) -> None:
        self._scorebook = None
        self._intents_by_artifact = None

    def capability_vector(self, capability_id: str) -> np.ndarray:
        return self.index.reconstruct(capability_id)

    # --- writing -----------------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path], progress: bool = False) -> IngestReport:
        """Validate every record of the files, then upsert them all in one generation."""
        artifacts = load_artifacts(paths)
        if not artifacts:
            raise CatalogError("no catalog records found in " + ", ".join(str(p) for p in paths))
        shipped = None
        for path in paths:  # a catalog folder (or a file's folder) may ship its vectors (search/snapshot.py)
            folder = (Path(path) if Path(path).is_dir() else Path(path).parent) / snapshots.FOLDER
            if (folder / snapshots.META).is_file():
                shipped = snapshots.VectorSnapshot.open(folder, self.embedder)
                break
        return self.apply(upserts=artifacts, progress=progress, shipped=shipped)

    def apply(self, upserts: Sequence[Artifact] = (), deletes: Sequence[str] = (),
              progress: bool = False, shipped: snapshots.VectorSnapshot | None = None) -> IngestReport:
        """Upsert and delete artifacts; memory and disk move to the new state together or not at all.

        The slow part (embedding new capability texts) runs first, outside the data dir's writer lock (the
        vectors land in the cache); then, under the lock, the write starts again from the generation
        committed last by any process and commits on top of it, so no acknowledged write is lost.

        With a shared catalog feed (Redis store) the change is published first, then every change up to
        and including it is applied in version order (so every host resolves concurrent writes alike),
        then the generation is committed here; other hosts pick it up with `follow`."""
        before = self.embedder.encoded_texts
        if shipped is None:  # shipped vectors (search/snapshot.py) need no embedding
            self.embedder.encode(list(dict.fromkeys(c.text for a in upserts for c in a.capabilities
                                                     if c.id not in self.capabilities)), progress=progress)
        with self._lock, generation.writer_lock(self.data_dir):
            self.reload()
            committed = generation.current(self.data_dir)
            if committed is not None and self.generation not in (committed.name, "") and \
                    self._serving_instead_of != committed.name:
                raise RuntimeError(f"cannot write: the committed generation {committed.name} does not load "
                                   "(see the log); fix or remove it first")
            served = self.generation
            self.follow()
            missing = [d for d in deletes if d not in self.artifacts and d not in {u.id for u in upserts}]
            if missing:
                raise KeyError(missing[0])
            try:
                if self.feed is not None:
                    version = self.feed.publish([a.to_record() for a in upserts], list(deletes))
                    embedded, removed = self._follow_locked(progress=progress, shipped=shipped)
                    if self.catalog_version < version:
                        raise RuntimeError(f"catalog change {version} was published but not read back")
                else:
                    embedded, removed = self._apply_memory(upserts, deletes, progress=progress, shipped=shipped)
                embedded = max(embedded, self.embedder.encoded_texts - before)
                folder = generation.commit(self.data_dir, self._write_generation, served=served)
            except BaseException:
                log.exception("write failed: restoring the committed generation")
                self.generation, self._serving_instead_of = "(failed)", ""
                self.reload()
                raise
            self.generation, self._serving_instead_of = folder.name, ""
            self._invalidate()
            if self.feed is not None and (len(upserts) >= 100 or self.catalog_version % SNAPSHOT_EVERY == 0):
                self.publish_snapshot()
            return IngestReport(len(upserts), sum(len(a.capabilities) for a in upserts), embedded,
                                removed, folder.name)

    def _apply_memory(self, upserts: Sequence[Artifact], deletes: Sequence[str], progress: bool = False,
                      shipped: snapshots.VectorSnapshot | None = None) -> tuple[int, int]:
        """Apply upserts and deletes to the live catalog, index and derived state (nothing on disk).
        Returns (capability texts embedded, capabilities removed). Deletes of unknown ids are ignored."""
        new_catalog = dict(self.artifacts)
        for artifact_id in deletes:
            new_catalog.pop(artifact_id, None)
        for a in upserts:
            new_catalog[a.id] = a
        touched = {a.id for a in upserts} | set(deletes)
        old_caps = {c.id for t in touched if t in self.artifacts for c in self.artifacts[t].capabilities}
        new_caps = {c.id: c for t in touched if t in new_catalog for c in new_catalog[t].capabilities}
        changed = [c for cid, c in new_caps.items()
                   if cid not in self.index or cid not in self.capabilities or self.capabilities[cid].text != c.text]
        removed = sorted(old_caps - set(new_caps))
        before = self.embedder.encoded_texts
        vectors, from_snapshot = snapshots.encode(self.embedder, [c.text for c in changed], shipped,
                                                  progress=progress)
        embedded = self.embedder.encoded_texts - before
        if shipped is not None:
            log.info("%d of %d capability vectors taken from the shipped snapshot, %d embedded",
                     from_snapshot, len(changed), embedded)
        if removed:
            self.index.remove(removed)
        if changed:
            self.index.upsert([c.id for c in changed], vectors)
        self.artifacts = new_catalog
        self.capabilities = {c.id: c for a in new_catalog.values() for c in a.capabilities}
        self._refresh_derived(touched)
        return embedded, len(removed)

    def follow(self) -> int:
        """Apply the catalog changes published (by any process on any host) since the version this process
        serves, in order, to the live index. Returns how many changes were applied."""
        if self.feed is None:
            return 0
        # Read the feed before taking the lock: a hung Redis then costs this thread a socket timeout,
        # never every search (they take the lock for the index section).
        before = self.catalog_version
        try:
            read: list | None = list(self.feed.changes(before))
        except FeedBehind:
            read = None  # the snapshot path, under the lock below
        with self._lock:
            start = self.catalog_version
            self._follow_locked(changes=read if start == before else None)
            if self.catalog_version != start:
                self._invalidate()
            return self.catalog_version - start

    def _follow_locked(self, progress: bool = False, from_snapshot: bool = False,
                       shipped: snapshots.VectorSnapshot | None = None,
                       changes: list | None = None) -> tuple[int, int]:
        """Apply the feed's changes after `catalog_version` (`changes`: already read from it at that version)."""
        try:
            if changes is None:
                changes = list(self.feed.changes(self.catalog_version))
        except FeedBehind:
            if from_snapshot:
                raise
            log.info("catalog changes after version %d were trimmed: loading the newest snapshot",
                     self.catalog_version)
            got = self._load_snapshot(progress)
            return (got[0], got[1]) if got else (0, 0)
        if not changes:
            return 0, 0
        upserts: dict[str, Artifact] = {}
        deletes: set[str] = set()
        for ch in changes:  # the net effect of the changes, in version order: the last write of an id wins
            for record in ch.upserts:
                a = Artifact.from_record(record, validate=False)
                upserts[a.id] = a
                deletes.discard(a.id)
            for artifact_id in ch.deletes:
                upserts.pop(artifact_id, None)
                deletes.add(artifact_id)
        got = self._apply_memory(list(upserts.values()), sorted(deletes), progress=progress, shipped=shipped)
        self.catalog_version = changes[-1].version
        return got

    def _load_snapshot(self, progress: bool = False) -> tuple[int, int] | None:
        snap = self.feed.snapshot() if self.feed is not None else None
        if snap is None:
            return None
        version, records = snap
        artifacts = [Artifact.from_record(r, validate=False) for r in records]
        keep = {a.id for a in artifacts}
        got = self._apply_memory(artifacts, [a for a in self.artifacts if a not in keep], progress=progress)
        self.catalog_version = version
        try:
            more = self._follow_locked(progress, from_snapshot=True)  # and the changes after it
        except FeedBehind:
            raise RuntimeError(f"the catalog snapshot (version {version}) is older than the trimmed feed") from None
        return got[0] + more[0], got[1] + more[1]

    def publish_snapshot(self) -> bool:
        """Store the catalog this process serves, at its version, as the feed's snapshot (new hosts start
        from it and the feed is trimmed behind it)."""
        if self.feed is None:
            return False
        with self._lock:
            records = [self.artifacts[a].to_record() for a in sorted(self.artifacts)]
            return self.feed.put_snapshot(self.catalog_version, records)

    def join(self, progress: bool = False) -> bool:
        """A new host with an empty data dir: take the shared catalog (snapshot + changes) and commit it
        locally. False when the feed holds no catalog yet (the caller bootstraps one)."""
        if self.feed is None or self.feed.version() == 0:
            return False
        with self._lock, generation.writer_lock(self.data_dir):
            self._follow_locked(progress)
            self.generation = generation.commit(self.data_dir, self._write_generation).name
            self._invalidate()
        return True

    def _write_generation(self, folder: Path) -> None:
        """What this engine holds, written as a generation (the layout: search/generation.py)."""
        generation.write(folder, generation.Contents(self.artifacts, self.index, self.artifact_vectors,
                                                     self.lexical, self.embedder.model_id, self.catalog_version))

    def delete(self, artifact_ids: Sequence[str]) -> IngestReport:
        return self.apply(deletes=artifact_ids)

    # --- who -------------------------------------------------------------------------------------
    def user_key(self, token: str | None = None, address: str | None = None, agent: str | None = None) -> str:
        """The pseudonymous key of a request's user: HMAC of `user_token`, else of address + User-Agent."""
        return user_key(self._user_secret, token, address, agent)

    # --- searching ---------------------------------------------------------------------------
    def encode_query(self, text: str) -> np.ndarray:
        """Query vector: the embedder's LRU, then the Redis query cache when the store is Redis, then the model."""
        return self.embedder.encode_query(text, shared=self.query_cache)

    def search(self, query: str, k: int = 10, *, offset: int = 0, types: Sequence[str] = (),
               pricing: Sequence[str] = (), record: bool = True, learn: bool = True,
               mode: str = "hybrid", facets: Sequence[str] = (), user: str = "",
               preview: bool = False) -> SearchResult:
        """Rank artifacts for a query; records the match edges of what was served when `record`.

        Order (Algolia-style criteria, each only breaking the previous one's ties): the name tier (exact
        name or id > within a typo > whole words of the name, `search.names`), then direction agreement
        (matching > silent > contradicting, `search.direction`), then relevance (dense + BM25 + what was
        learned from feedback). Learning therefore only reorders within a tier.

        `mode` "dense" or "lexical" switches one signal off (for evaluation; "lexical" embeds nothing
        when nothing is recorded or learned); "hybrid" is the product. `facets` ("type", "pricing")
        adds counts per value over the query's matches, each counted under the other facets' filters.
        """
        started = time.perf_counter()
        try:
            self.reload()
        except Exception:  # logged in reload; keep serving the generation in memory
            pass
        normalised = normalise_query(query)
        text = normalised or query
        needs_vector = mode != "lexical" or record or (learn and self.config.learned_cap > 0)
        vector = self.encode_query(text[:ENCODER_CHARS]) if needs_vector else None
        wanted = offset + k
        filtered = bool(types or pricing)
        with self._lock:
            n = len(self.index)
            depth = min(n, max(200, 20 * wanted) if not filtered else max(2000, 50 * wanted))
            hits = self.index.search(vector[None, :], depth)[0] if n and mode != "lexical" else []
            grouped = group_hits(hits, _Owner(self.capabilities))
            lexical = self.lexical.scores(text) if mode != "dense" else {}
            artifacts = self.artifacts
            names = self.names.match(query) if self.config.name_ranking else {}
            asked = directions.parse(query) if self.config.direction_ranking else directions.Direction()
            agree: dict[str, tuple[float, list[str]]] = {}
            matching: list[str] = []
            for d, members in (self._by_direction.items() if asked else ()):
                verdict = directions.agreement(asked, d)
                if verdict[0]:
                    agree.update(dict.fromkeys(members, verdict))
                    if verdict[0] > 0:
                        matching += [a for a in members if a not in grouped]
            index = self.index
            vecs = self.artifact_vectors
            if len(matching) > MAX_DIRECTION_CANDIDATES and vector is not None:  # keep the nearest ones
                sims = np.stack([vecs[a] for a in matching]) @ vector
                matching = [matching[i] for i in np.argsort(-sims)[:MAX_DIRECTION_CANDIDATES]]
            caps_of = {a: artifacts[a].capabilities for a in set(names) | set(matching)
                       if a not in grouped and a in artifacts}

        # artifacts named by the query, or matching its direction, are candidates even when the vector
        # search did not reach them: score them on their own capabilities
        if vector is not None and mode != "lexical":
            for a, caps in caps_of.items():
                sims = sorted(((c.id, float(index.reconstruct(c.id) @ vector)) for c in caps if c.id in index),
                              key=lambda cs: -cs[1])
                if sims:
                    grouped[a] = sims

        def allowed(artifact_id: str, kinds: Sequence[str] = types, prices: Sequence[str] = pricing) -> bool:
            a = artifacts.get(artifact_id)
            return a is not None and (not kinds or a.type in kinds) and (not prices or a.pricing in prices)

        dense_all = {a: dense_score([s for _, s in caps], self.config.multi_match_credit)
                     for a, caps in grouped.items() if a in artifacts and mode != "lexical"}
        pool = set(dense_all) | {a for a in lexical if a in artifacts} | {a for a in names if a in artifacts}
        facet_counts = self._facet_counts(pool, facets, types, pricing) if facets else {}
        dense = {a: s for a, s in dense_all.items() if allowed(a)}
        lexical = {a: s for a, s in lexical.items() if allowed(a)}
        fused = fuse(dense, lexical, self.config.lexical_weight)
        for a in names:
            if a not in fused and allowed(a):
                fused[a] = 0.0
        learned, why = ({}, {})
        if learn and self.config.learned_cap > 0 and vector is not None:
            learned, why = self.intents.learned(vector, cap=self.config.learned_cap,
                                                min_similarity=self.config.intent_min_similarity,
                                                k=self.config.intent_neighbours, scale=self.config.learned_scale,
                                                min_users=self.config.learn_min_users)
            learned = {a: v for a, v in learned.items() if allowed(a) and a in fused}
        final = {a: s + learned.get(a, 0.0) for a, s in fused.items()}

        def key(a: str) -> tuple:
            tier = names.get(a)
            return (-(tier[0] if tier else 0), -(tier[1] if tier else 0.0),
                    -agree.get(a, (0, []))[0], -final[a], a)

        order = sorted(final, key=key)
        top_lex = max(lexical.values(), default=0.0)
        ranked = []
        for rank, a in enumerate(order[offset:wanted], start=offset + 1):
            reasons = [f"name: {names[a][2]}"] if a in names else []
            reasons += agree.get(a, (0, []))[1]
            ranked.append(Hit(rank, artifacts[a], final[a], grouped.get(a, [])[:5], dense.get(a, 0.0),
                              lexical.get(a, 0.0) / top_lex if top_lex else 0.0, learned.get(a, 0.0), reasons))
        best_sim = max((s for caps in grouped.values() for _, s in caps[:1]), default=0.0)
        low = bool(ranked) and best_sim < self.config.low_confidence and not any(
            names.get(h.artifact.id, (0,))[0] >= 2 for h in ranked)
        result = SearchResult(uuid.uuid4().hex, query, 0.0, ranked, len(order), low, why, facets=facet_counts,
                              understood=asked.to_dict(), normalised=text, vector=vector, user=user,
                              preview=preview, filtered=bool(types or pricing))
        if record:
            self.record(result)
        result.took_ms = round((time.perf_counter() - started) * 1000, 2)
        return result

    def record(self, result: SearchResult) -> None:
        """Record the match edges of a search that was served. The API calls it once the response is
        built, so a search that fails is never counted as a match. Recording twice is a no-op."""
        if result.recorded or result.vector is None:
            return
        self._record(result, result.normalised, result.vector, user=result.user, preview=result.preview,
                     filtered=result.filtered)
        result.recorded = True

    def _facet_counts(self, pool: set[str], facets: Sequence[str], types: Sequence[str],
                      pricing: Sequence[str]) -> dict[str, dict[str, int]]:
        """Counts per value of each facet over the query's matches, under the filters of the other facets
        (disjunctive faceting: the type counts say what each type option would return with this pricing)."""
        out: dict[str, dict[str, int]] = {}
        for name in facets:
            counts: dict[str, int] = {}
            for a in pool:
                art = self.artifacts[a]
                if name == "type" and pricing and art.pricing not in pricing:
                    continue
                if name == "pricing" and types and art.type not in types:
                    continue
                value = art.type if name == "type" else art.pricing
                counts[value] = counts.get(value, 0) + 1
            out[name] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        return out

    def suggest(self, prefix: str, k: int = 8, types: Sequence[str] = ()) -> list:
        """Name completions as the user types (`search.names.NameIndex.suggest`); no embedding."""
        return self.names.suggest(prefix, k=k, types=types)

    def named(self, text: str) -> list[str]:
        """Every artifact `text` names exactly: the id itself, else the ids whose name, id or id tail has the
        same compact form (case, accents, punctuation and separators ignored), sorted."""
        text = text.strip()
        if text in self.artifacts:
            return [text]
        return sorted(self.names.exact.get(compact(text), {}))

    def resolve(self, text: str) -> str | None:
        """The artifact id a user means by an id or a name (case, separators, one typo); None if unknown
        or ambiguous."""
        return self.names.resolve(text)

    def _record(self, result: SearchResult, normalised: str, vector: np.ndarray, *, user: str = "",
                preview: bool = False, filtered: bool = False) -> None:
        intent_id = hashlib.sha1(normalised.encode()).hexdigest()[:16]
        served = tuple(
            Served(h.artifact.id, h.rank, round(h.score, 6), tuple((c, round(s, 6)) for c, s in h.capabilities))
            for h in result.hits
        )
        event = SearchEvent(result.search_id, intent_id, normalised, time.time(), served,
                            self.config.match_k, round(result.hits[0].score, 6) if result.hits else 0.0,
                            result.low_confidence, user=user, preview=preview, filtered=filtered)
        self.store.record_search(self.dedup.search(event))
        self.intents.remember(intent_id, vector, normalised)

    def compact(self, retain_s: float) -> dict[str, int]:
        """Archive match-log events older than `retain_s` to files and trim them from Redis (no-op on
        SQLite); `rebuild` replays archive + tail. Returns {"archived", "retained"}."""
        return self.store.compact(retain_s)

    def feedback(self, search_id: str, artifact_id: str, event: str, dwell_ms: int = 0, user: str = "") -> None:
        """Record a click, dwell or vote on a served result (raises UnknownSearch / NotServed)."""
        self.store.record_feedback(self.dedup.feedback(
            FeedbackEvent(search_id, artifact_id, event, time.time(), dwell_ms, user=user)))
        self._intents_by_artifact = None

    def feedback_many(self, items: Sequence[tuple]) -> list[FeedbackEvent | Exception]:
        """Record (search_id, artifact_id, event, dwell_ms[, user]) items in one store round trip; per item the
        event recorded, or the exception `feedback` would have raised for it alone.

        Each event gets its own timestamp in item order: two identical clicks in one batch are two clicks,
        as when sent one by one, never an idempotent retry of each other (RedisStore)."""
        now = time.time()
        events = [self.dedup.feedback(FeedbackEvent(it[0], it[1], it[2], now + i * 1e-6, it[3],
                                                    user=it[4] if len(it) > 4 else ""))
                  for i, it in enumerate(items)]
        results = self.store.record_many(events)
        self._intents_by_artifact = None
        return [r if isinstance(r, Exception) else ev for ev, r in zip(events, results, strict=True)]

    # --- public lists ------------------------------------------------------------------------
    def popular_searches(self, limit: int = 6) -> list[QueryStat]:
        """Queries fit for a public "Popular searches" list: run as counted, confident searches by at least
        `popular_min_users` distinct users, POPULAR_CHARS long with a letter in them, never hidden by an
        operator (`hide_query`) nor in the blocklist file (`popular_blocklist`). Most users first."""
        blocked = self.hidden_queries() | self._blocklist()
        out = []
        for q in self.store.queries("popular", limit=max(100, 10 * limit)):
            if q.users < self.config.popular_min_users:
                break
            if (POPULAR_CHARS[0] <= len(q.query) <= POPULAR_CHARS[1] and any(ch.isalpha() for ch in q.query)
                    and q.query not in blocked and not q.low_confidence and q.query.isprintable()):
                out.append(q)
                if len(out) >= limit:
                    break
        return out

    def hide_query(self, query: str, hidden: bool = True) -> str:
        """Keep a query off public lists (or let it back); returns the normalised query it applies to."""
        normalised = normalise_query(query) or query
        self.store.hide_query(normalised, hidden)
        return normalised

    def hidden_queries(self) -> set[str]:
        return self.store.hidden_queries()

    def _blocklist(self) -> set[str]:
        """The operator's blocklist file (one query per line, `#` comments), normalised; re-read when it changes."""
        path = self.config.popular_blocklist
        if path is None:
            return set()
        try:
            stamp = Path(path).stat().st_mtime_ns
        except OSError:
            log.warning("popular-searches blocklist %s is missing: nothing is blocked", path)
            return set()
        if self._blocked[0] != stamp:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
            self._blocked = (stamp, {normalise_query(x) for x in lines if x.strip() and not x.lstrip().startswith("#")})
        return self._blocked[1]

    # --- scores ------------------------------------------------------------------------------
    def scorebook(self) -> ScoreBook:
        """Scores for the whole catalog, refreshed after catalog changes or `scores_ttl_s`."""
        now = time.monotonic()
        if self._scorebook is None or now - self._scorebook_at > self.config.scores_ttl_s:
            self._scorebook = ScoreBook(self.artifacts.values(), self.store.match_scores(),
                                        matchgraph.co_matched(self.store), weights=self.config.weights,
                                        evidence=self.store.times_matched(self.artifacts))
            self._scorebook_at = now
        return self._scorebook

    def scores(self, artifact_id: str) -> Scores:
        return self.scorebook().scores(artifact_id)

    def times_matched(self, artifact_ids: Iterable[str]) -> dict[str, int]:
        return self.store.times_matched(list(artifact_ids))

    def intents_by_artifact(self) -> dict[str, set[str]]:
        if self._intents_by_artifact is None:
            self._intents_by_artifact = matchgraph.intents_by_artifact(self.store)
        return self._intents_by_artifact

    def recompute(self) -> dict[str, float]:
        """Recompute Match Graph scores from the whole graph and store them for every worker."""
        # authoritative(): a degraded read (a Redis outage behind the spool) must never become stored scores
        g = matchgraph.add_matches(matchgraph.catalog_graph(self.artifacts.values()), self.store.authoritative())
        scores = matchgraph.match_scores(g)
        self.store.put_match_scores(scores)
        matchgraph.save(g, self.data_dir / "matchgraph.json")
        self._invalidate()
        return scores

    # --- analytics and health: the match store's reads, through the one door ------------------
    def capability_times_matched(self, capability_ids: Iterable[str]) -> dict[str, int]:
        return self.store.capability_times_matched(list(capability_ids))

    def top_artifacts(self, limit: int = 10, since: str | None = None) -> list[tuple[str, int]]:
        """Most matched artifact ids with their Times Matched, all time or since a day (YYYY-MM-DD)."""
        return self.store.top_artifacts(limit=limit, since=since)

    def timeline(self, artifact_id: str, since: str | None = None) -> list[tuple[str, int]]:
        """(day, Times Matched) of one artifact."""
        return self.store.timeline(artifact_id, since=since)

    def searches_per_day(self, since: str | None = None) -> list[tuple[str, int]]:
        return self.store.searches_per_day(since=since)

    def queries(self, kind: str, limit: int = 20) -> list[QueryStat]:
        """Zero-result, low-confidence or most frequent ("top") queries."""
        return self.store.queries(kind, limit=limit)

    def summary(self) -> dict[str, int]:
        """Store totals (searches, feedback, clicks, intents, ...)."""
        return self.store.summary()

    def store_health(self) -> dict:
        """`{"store": bool}` and, behind the Redis outage spool, `"spool"`; a dead store reads as
        `{"store": False, "store_error": <exception type>}`, never raises."""
        try:
            out: dict = {"store": bool(self.store.ping())}
            if hasattr(self.store, "status"):  # the Redis outage spool: primary up? events waiting?
                out["spool"] = self.store.status()
            return out
        except Exception as exc:
            return {"store": False, "store_error": type(exc).__name__}

    def rebuild(self) -> int:
        """Re-derive all match state from the event log; returns the number of logged events."""
        self.store.rebuild()
        self._invalidate()
        return self.store.last_seq()

    # --- vectors for related artifacts ------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.embedder.dim

    def artifact_vector(self, artifact_id: str) -> np.ndarray:
        """The artifact's vector (from its capabilities'); KeyError when it has none."""
        return self.artifact_vectors[artifact_id]

    def artifact_matrix(self, exclude: set[str] = frozenset(), types: Sequence[str] = ()) \
            -> tuple[list[str], np.ndarray]:
        """Ids and stacked vectors of the artifacts with a vector, minus `exclude`, of `types` if given."""
        with self._lock:
            artifacts, vectors = self.artifacts, self.artifact_vectors
        ids = [a for a, art in artifacts.items()
               if a not in exclude and (not types or art.type in types) and a in vectors]
        if not ids:
            return [], np.zeros((0, self.dim), dtype=np.float32)
        return ids, np.stack([vectors[a] for a in ids])

    def close(self) -> None:
        self.store.close()
        if self.feed is not None:
            self.feed.close()
        if self.query_cache is not None:
            self.query_cache.close()


def _query_cache(config: Settings):
    """A Redis query-vector cache when the store URL is Redis (TTL `query_cache_ttl`, 0 = off)."""
    ttl = config.query_cache_ttl
    if not config.store_url.startswith(REDIS_SCHEMES) or ttl <= 0:
        return None
    from search.querycache import RedisQueryCache

    return RedisQueryCache(config.store_url, ttl_s=ttl)


class _Owner(dict):
    """Capability id -> artifact id, looked up lazily from the capability table."""

    def __init__(self, capabilities: dict[str, Capability]) -> None:
        super().__init__()
        self._caps = capabilities

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        cap = self._caps.get(key)
        return cap.artifact_id if cap is not None else default
