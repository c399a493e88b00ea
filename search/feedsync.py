"""Keeping a host's catalog and the shared catalog feed's history in step, whatever happened to Redis.

A host's position is (epoch, version): which history of the feed its catalog is a state of, and how far
along. Before it follows the feed or writes, it reads the feed's head and decides (`decide`):

- "follow": the feed is in the host's epoch at or ahead of its version: apply the changes after it.
- "adopt": the feed moved to a newer epoch whose republish included the host's position (or the host holds
  nothing yet): replace the catalog in memory with the epoch's snapshot and follow from there.
- "republish": the feed does not hold the host's catalog (Redis came back empty, was restored from an older
  backup, or another host republished without this host's writes): publish the host's committed catalog,
  merged with the changes the feed's current epoch made since it started, as a new epoch that includes
  every position it stands for. The newest state wins and nothing acknowledged anywhere is dropped: the
  other hosts' positions are included, so they adopt it.

Until the feed holds a host's catalog its writes are refused (503 with Retry-After), and a write is
acknowledged only after it is in a committed generation this host serves and the feed still holds
(`confirm`). Each publish names the writer's epoch and is refused by the feed in any other one.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from graph.catalog import Artifact
from graph.store.catalogfeed import EpochChanged, FeedBehind, Head
from search import catalogview, generation_layout
from search.errors import WritesRefused

if TYPE_CHECKING:
    from search.catalogstate import CatalogState
    from search.catalogview import CatalogView

log = logging.getLogger(__name__)
RETRY_AFTER_S = 1


def decide(head: Head, epoch: str, version: int, empty: bool) -> str:
    """"follow", "adopt" or "republish" for a host at (epoch, version) holding a catalog (or not: `empty`)."""
    if head.epoch:
        if head.epoch == epoch:
            return "follow" if version <= head.version else "republish"  # behind us: an older backup
        if epoch in head.included and version <= head.included[epoch]:
            return "adopt"
        return "adopt" if not epoch and empty else "republish"
    if not epoch and version < head.version:  # a feed written before epochs, ahead of us: catch up first
        return "follow"
    return "republish"  # an empty feed (new, or Redis came back empty), or one behind us


def resync(state: CatalogState, writer_locked: bool) -> int:
    """Bring the host and the feed in step (adopt or republish) under the catalog's and the data dir's writer
    locks; returns 1 when the live view changed. WritesRefused when the feed still does not hold it."""
    lock = contextlib.nullcontext() if writer_locked else generation_layout.writer_lock(state.data_dir)
    with state.lock, lock:
        if not writer_locked:
            state.reload()  # start from the newest committed generation: what this host acknowledged
        head = state.feed.head()
        view = state.view
        action = decide(head, view.catalog_epoch, view.catalog_version, not view.artifacts)
        if action == "follow":
            return 0
        if action == "adopt":
            state._swap(_adopted(state, view, head))
        else:
            _republish(state, view, head)
        state.feed_problem = ""
        return 1


def _adopted(state: CatalogState, view: CatalogView, head: Head) -> CatalogView:
    """`view` replaced by the snapshot of the feed's epoch and the changes after it."""
    snap = state.feed.snapshot()
    if snap is None or snap[2] != head.epoch:
        state.feed_problem = f"catalog feed: epoch {head.epoch} has no snapshot yet"
        raise WritesRefused(state.feed_problem, RETRY_AFTER_S)
    version, records, epoch = snap
    artifacts = [Artifact.from_record(r, validate=False) for r in records]
    keep = {a.id for a in artifacts}
    log.warning("catalog feed is in epoch %s, which includes this host's position (epoch %s, version %d): "
                "adopting its snapshot (version %d, %d artifacts)", epoch, view.catalog_epoch or "(none)",
                view.catalog_version, version, len(artifacts))
    adopted, _, _ = catalogview.changed(view, artifacts, [a for a in view.artifacts if a not in keep],
                                        state.embedder, catalog_version=version, catalog_epoch=epoch)
    return state._followed(adopted)[0]  # and the changes after the snapshot


def _republish(state: CatalogState, view: CatalogView, head: Head) -> None:
    was = (view.catalog_epoch, view.catalog_version)
    merged = 0
    if head.epoch:  # what the feed's epoch changed since it started: keep it too
        try:
            changes = list(state.feed.changes(head.base))
        except FeedBehind:
            log.error("catalog feed epoch %s does not hold this host's catalog (epoch %s, version %d) and its "
                      "changes since it started were trimmed: adopting it; writes this host had that the feed "
                      "lacks must be re-sent", head.epoch, was[0] or "(none)", was[1])
            state._swap(_adopted(state, view, head))
            return
        view = state._followed(view, changes=changes)[0]
        merged = len(changes)
    included = dict(head.included)
    if head.epoch:
        included[head.epoch] = head.version
    if was[0]:
        included[was[0]] = max(included.get(was[0], 0), was[1])
    elif not head.epoch and head.version and head.version == was[1]:
        included[""] = head.version  # a feed written before epochs: hosts at its version are this state
    version = max(was[1], head.version)
    records = [view.artifacts[a].to_record() for a in sorted(view.artifacts)]
    epoch = state.feed.republish(head, version, records, included)
    if epoch is None:  # another host moved the feed first: the live view is untouched; decide again
        state.feed_problem = "catalog feed: another host is republishing the catalog"
        raise WritesRefused(state.feed_problem, RETRY_AFTER_S)
    view = catalogview.positioned(view, version, epoch)
    folder = generation_layout.commit(state.data_dir, lambda f: state._write(f, view), served=state.view.generation)
    state._swap(catalogview.renamed(view, folder.name))
    state.guard.committed(folder.name)
    log.error("catalog feed did not hold this host's catalog (host at epoch %s version %d; feed at epoch %s "
              "version %d): republished it as epoch %s at version %d (%d artifacts, %d changes of the feed's "
              "epoch merged) -> %s", was[0] or "(none)", was[1], head.epoch or "(none)", head.version, epoch,
              version, len(records), merged, folder.name)


def publish(state: CatalogState, upserts: list[dict], deletes: list[str]) -> int:
    """Publish one change in the host's epoch; WritesRefused when the feed moved to another one meanwhile."""
    try:
        return state.feed.publish(upserts, deletes, state.view.catalog_epoch)
    except EpochChanged as exc:
        state.feed_problem = f"catalog feed: {exc}"
        raise WritesRefused(f"{exc}; retry: this host republishes or adopts the catalog first",
                            RETRY_AFTER_S) from None


def confirm(state: CatalogState) -> None:
    """The last step of a write: the feed still holds this host's position (else WritesRefused: the write
    is committed here and reaches the feed when this host republishes; a retry is answered once it has)."""
    head = state.feed.head()
    epoch, version = state.view.catalog_epoch, state.view.catalog_version
    held = (head.epoch == epoch and head.version >= version) or head.included.get(epoch, -1) >= version
    if not held:  # (a newer epoch that includes this position holds it too)
        state.feed_problem = (f"catalog feed: lost this host's catalog (epoch {epoch} version {version}; "
                              f"feed at {head.epoch or '(none)'} {head.version})")
        raise WritesRefused(state.feed_problem, RETRY_AFTER_S)
