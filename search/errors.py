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
           "UnknownSearch"]
