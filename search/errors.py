"""The errors callers of `Engine` handle, in one place: api/ imports them from here, never from
graph.store (tests/test_layering.py checks), so a store's internals can move without touching api/."""

from __future__ import annotations

from graph.catalog import CatalogError
from graph.settings import SettingsError
from graph.store.base import NotServed, StoreUnavailable, UnknownSearch

__all__ = ["CatalogError", "NotServed", "SettingsError", "StoreUnavailable", "UnknownSearch"]
