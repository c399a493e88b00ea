"""The errors callers of `Engine` handle, in one place: api/ imports them from here, never from
graph.store (tests/test_layering.py checks), so a store's internals can move without touching api/."""

from __future__ import annotations

from graph.catalog import CatalogError
from graph.settings import SettingsError
from graph.store.base import NotServed, StoreUnavailable, UnknownSearch


class NotYours(PermissionError):
    """Feedback from an identity other than the one that made the search (search/owners.py)."""


class NotRecorded(LookupError):
    """Feedback on a search that was served but not recorded (`record=false`, or an identity over its
    network's hourly bound): nothing of it was kept, so it takes no feedback."""


__all__ = ["CatalogError", "NotRecorded", "NotServed", "NotYours", "SettingsError", "StoreUnavailable",
           "UnknownArtifact", "UnknownSearch", "WritesRefused"]


class UnknownArtifact(KeyError):
    """A delete of an artifact id the committed catalog does not hold (perhaps deleted a moment ago by
    another process): the API answers 404, never 500."""

    def __init__(self, artifact_id: str) -> None:
        super().__init__(artifact_id)
        self.artifact_id = artifact_id


class WritesRefused(RuntimeError):
    """A catalog write cannot be acknowledged now (the served generation failed verification, or the shared
    catalog feed does not hold this host's catalog yet): the API answers 503 with Retry-After."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.message, self.retry_after = message, retry_after
