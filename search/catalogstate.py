"""The catalog's lifecycle in one process: load, reload, apply a change, follow other hosts, snapshot.

It owns the live `CatalogView` (search/catalogview.py) and replaces it by one reference assignment; it never
edits a view that requests may be reading, and never calls back into `Engine`. Writers serialise on `lock`
(and across processes on the data dir's writer lock); readers take no lock at all: they read `view` once.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from graph.catalog import Artifact, CatalogError
from graph.infra.forksafe import reset_after_fork
from graph.loader import load_artifacts
from graph.settings import Settings
from graph.store.catalogfeed import SNAPSHOT_EVERY, FeedBehind
from search import catalogview, constraints, feedsync, generation_layout
from search import snapshot as snapshots
from search.catalogview import CatalogView
from search.embedder import Embedder
from search.errors import UnknownArtifact
from search.servedgen import GenerationGuard

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    artifacts: int
    capabilities: int
    embedded: int
    removed: int
    generation: str


def _warm(view: CatalogView) -> None:
    """What a view's first searches would otherwise derive on the request path: its artifacts' facts (the
    first filtered search) and its hits' owners (every search: catalogview.hit_owners)."""
    constraints.prepare(view)
    catalogview.hit_owners(view)


def _take(data_dir: Path, name: str) -> BinaryIO | None:
    return generation_layout.lease(data_dir, name) if name else None


def _release(lease: BinaryIO | None) -> None:
    if lease is not None:
        lease.close()


class RefusedBootstrap(RuntimeError):
    """The data dir holds catalog state that does not load: the bundled catalog must not replace it."""


class CatalogState:
    """The live catalog view of a data dir, kept on the committed generation and the shared catalog feed."""

    def __init__(self, config: Settings, data_dir: Path, embedder: Embedder, feed) -> None:
        self.config, self.data_dir, self.embedder, self.feed = config, data_dir, embedder, feed
        self.lock = threading.RLock()
        reset_after_fork(self, "lock")
        self.view: CatalogView = catalogview.empty(embedder.dim, config.ann_threshold, config.index_fp16)
        self._lease: BinaryIO | None = None
        self.guard = GenerationGuard(data_dir)  # which generation is served; may writes build on it?
        self.feed_problem = ""  # why the feed does not hold this host's catalog right now ("" when it does)

    def degraded_reasons(self) -> list[str]:
        """Why the catalog is served but writes are refused, one short sentence each (empty: all is well): a
        generation that failed verification (search/servedgen.py), a feed that does not hold this host's
        catalog (search/feedsync.py)."""
        return [r for r in (self.guard.problem, self.feed_problem) if r]

    def configure(self, config: Settings) -> None:
        self.config = config

    def _swap(self, view: CatalogView) -> None:
        """Make `view` the live one (one reference assignment) and hold the lease of its generation. Its
        artifacts' facts are derived in a thread of their own: otherwise the first filtered search of each view
        derives the whole catalog's on the request path (0.5 s at 27,726 artifacts; issue 32)."""
        threading.Thread(target=_warm, args=(view,), name="facts-warm", daemon=True).start()
        if view.generation == self.view.generation:  # a followed change: same generation, same lease
            self.view = view
            return
        lease, old = _take(self.data_dir, view.generation), self._lease
        self.view, self._lease = view, lease
        _release(old)

    # --- reading the committed generation --------------------------------------------------------
    def reload(self, force: bool = False) -> bool:
        """Load the committed generation if it differs from the one in memory; True when it did.

        Only a generation that verifies is loaded (search/servedgen.py): when the committed one does not (a
        damaged catalog, a missing or garbage manifest, a rolled-back CURRENT), the newest older one that
        does is served, with an ERROR in the log and the reason on /readyz, and writes are refused."""
        folder = generation_layout.current(self.data_dir)
        key = folder.name if folder else ""
        if not force and self.guard.settled(key):
            return False
        with self.lock:
            if not force and self.guard.settled(key):
                return False
            return self.guard.choose(key, self._load_or_empty, "" if force else self.view.generation)

    def _load_or_empty(self, folder: Path | None) -> None:
        if folder is None:
            self._swap(catalogview.empty(self.embedder.dim, self.config.ann_threshold, self.config.index_fp16))
        else:
            self._load(folder)

    def _load(self, folder: Path) -> None:
        """Build the view of `folder` beside the live one (leased while it loads), then swap it in."""
        lease = _take(self.data_dir, folder.name)
        try:
            if not (folder / generation_layout.MANIFEST_FILE).is_file():
                raise FileNotFoundError(f"{folder}: pruned or incomplete")
            view = catalogview.load(folder, self.embedder, mmap=self.config.index_mmap,
                                    ann_threshold=self.config.ann_threshold, half_scan=self.config.index_fp16)
            self._swap(view)
        finally:
            _release(lease)

    # --- writing ---------------------------------------------------------------------------------
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
            caps = self.view.capabilities
            self.embedder.encode(list(dict.fromkeys(t for a in upserts for c, t in
                                                     zip(a.capabilities, self.embedder.document_texts(a),
                                                         strict=True) if c.id not in caps)), progress=progress)
        with self.lock, generation_layout.writer_lock(self.data_dir):
            served = self._writable()
            self.follow(writer_locked=True)
            missing = [d for d in deletes if d not in self.view.artifacts and d not in {u.id for u in upserts}]
            if missing:  # deleted meanwhile by another process: 404, not 500
                raise UnknownArtifact(missing[0])
            try:
                if self.feed is not None:
                    version = feedsync.publish(self, [a.to_record() for a in upserts], list(deletes))
                    view, embedded, removed = self._followed(self.view, progress=progress, shipped=shipped)
                    if view.catalog_version < version:
                        raise RuntimeError(f"catalog change {version} was published but not read back")
                else:
                    view, embedded, removed = catalogview.changed(self.view, upserts, deletes, self.embedder,
                                                                  progress=progress, shipped=shipped)
                embedded = max(embedded, self.embedder.encoded_texts - before)
                folder = generation_layout.commit(self.data_dir, lambda f: self._write(f, view), served=served)
            except BaseException:
                log.exception("write failed: restoring the committed generation")
                self.guard.forget()
                self.reload(force=True)
                raise
            self._swap(catalogview.renamed(view, folder.name))
            self.guard.committed(folder.name)
            if self.feed is not None and (len(upserts) >= 100 or view.catalog_version % SNAPSHOT_EVERY == 0):
                self.publish_snapshot()
            if self.feed is not None:
                feedsync.confirm(self)  # acknowledged only while the feed holds it
            return IngestReport(len(upserts), sum(len(a.capabilities) for a in upserts), embedded,
                                removed, folder.name)

    def _writable(self) -> str:
        """Under the writer lock: move to the committed generation; refuse (WritesRefused, 503) when the one
        served is not the verified committed one."""
        self.reload()
        self.guard.check_writable()
        return self.view.generation

    def _write(self, folder: Path, view: CatalogView) -> None:
        """A view written as a generation (the layout: search/generation_layout.py)."""
        generation_layout.write(folder, catalogview.contents(view, self.embedder.catalog_id))

    def delete(self, artifact_ids: Sequence[str]) -> IngestReport:
        return self.apply(deletes=artifact_ids)

    # --- the shared catalog feed -------------------------------------------------------------------
    def follow(self, writer_locked: bool = False) -> int:
        """Apply the catalog changes published (by any process on any host) since the version this process
        serves, in order, to the live view. Returns how many changes were applied. When the feed does not
        hold this host's position (Redis came back empty, a newer epoch), adopt or republish first
        (search/feedsync.py; `writer_locked`: the caller holds the data dir's writer lock)."""
        if self.feed is None:
            return 0
        # Read the feed before taking the lock: a hung Redis then costs this thread a socket timeout,
        # never a writer (searches take no lock at all).
        before, live = self.view.catalog_version, self.view
        if feedsync.decide(self.feed.head(), live.catalog_epoch, before, not live.artifacts) != "follow":
            return feedsync.resync(self, writer_locked)
        try:
            read: list | None = list(self.feed.changes(before))
        except FeedBehind:
            read = None  # the snapshot path, under the lock below
        with self.lock:
            start = self.view.catalog_version
            view, _, _ = self._followed(self.view, changes=read if start == before else None)
            if view is not self.view:
                self._swap(view)
            return view.catalog_version - start

    def _followed(self, view: CatalogView, progress: bool = False, from_snapshot: bool = False,
                  shipped: snapshots.VectorSnapshot | None = None,
                  changes: list | None = None) -> tuple[CatalogView, int, int]:
        """`view` with the feed's changes after its version applied (`changes`: already read at that version)."""
        try:
            if changes is None:
                changes = list(self.feed.changes(view.catalog_version))
        except FeedBehind:
            if from_snapshot:
                raise
            log.info("catalog changes after version %d were trimmed: loading the newest snapshot",
                     view.catalog_version)
            return self._from_snapshot(view, progress)
        if not changes:
            return view, 0, 0
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
        return catalogview.changed(view, list(upserts.values()), sorted(deletes), self.embedder, progress=progress,
                                   shipped=shipped, catalog_version=changes[-1].version)

    def _from_snapshot(self, view: CatalogView, progress: bool = False) -> tuple[CatalogView, int, int]:
        snap = self.feed.snapshot() if self.feed is not None else None
        if snap is None:
            return view, 0, 0
        version, records, epoch = snap
        artifacts = [Artifact.from_record(r, validate=False) for r in records]
        keep = {a.id for a in artifacts}
        view, embedded, removed = catalogview.changed(view, artifacts, [a for a in view.artifacts if a not in keep],
                                                      self.embedder, progress=progress, catalog_version=version,
                                                      catalog_epoch=epoch or None)
        try:
            view, more_embedded, more_removed = self._followed(view, progress, from_snapshot=True)
        except FeedBehind:
            raise RuntimeError(f"the catalog snapshot (version {version}) is older than the trimmed feed") from None
        return view, embedded + more_embedded, removed + more_removed

    def publish_snapshot(self) -> bool:
        """Store the catalog this process serves, at its version, as the feed's snapshot (new hosts start
        from it and the feed is trimmed behind it)."""
        if self.feed is None:
            return False
        view = self.view
        records = [view.artifacts[a].to_record() for a in sorted(view.artifacts)]
        return self.feed.put_snapshot(view.catalog_version, records, view.catalog_epoch)

    def join(self, progress: bool = False) -> bool:
        """A new host with an empty data dir: take the shared catalog (snapshot + changes) and commit it
        locally. False when the feed holds no catalog yet (the caller bootstraps one)."""
        if self.feed is None:
            return False
        head = self.feed.head()
        if not head.epoch and head.version == 0:
            return False
        with self.lock, generation_layout.writer_lock(self.data_dir):
            live = self.view
            if feedsync.decide(head, live.catalog_epoch, live.catalog_version, not live.artifacts) != "follow":
                feedsync.resync(self, writer_locked=True)
            view, _, _ = self._followed(self.view, progress)
            folder = generation_layout.commit(self.data_dir, lambda f: self._write(f, view))
            self._swap(catalogview.renamed(view, folder.name))
            self.guard.committed(folder.name)
        return True

    def bootstrap(self, bundled: Path, progress: bool = False) -> None:
        """Ingest the bundled catalog when the data dir holds none; one process does it, others wait.

        Never into a data dir that holds a CURRENT pointer or any generation folder, even when none of them
        loads: that is a damaged catalog to repair (the error says so on /readyz), not a new one to create."""
        if generation_layout.current(self.data_dir) is not None:
            return
        with open(self.data_dir / ".bootstrap.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            layout = generation_layout
            if layout.current(self.data_dir) is None and layout.holds_catalog_state(self.data_dir):
                raise RefusedBootstrap(f"{self.data_dir} holds a CURRENT pointer or generation folders but no "
                                       "complete generation: not bootstrapping the bundled catalog over it; "
                                       "restore a generation or ingest a catalog explicitly")
            if generation_layout.current(self.data_dir) is None and self.join(progress=progress):
                log.info("empty data dir: joined the shared catalog at version %d (%d artifacts)",
                         self.view.catalog_version, len(self.view.artifacts))
            elif generation_layout.current(self.data_dir) is None:
                log.info("empty data dir: ingesting the bundled catalog from %s", bundled)
                report = self.ingest([bundled], progress=progress)
                log.info("bundled catalog ingested: %d artifacts -> %s", report.artifacts, report.generation)
            else:
                self.reload()

    def close(self) -> None:
        _release(self._lease)
        self._lease = None
