"""Compatibility name: the settings live in one table, `graph.settings.Settings` (see its docstring for how
to add one). `Config.from_env(data_dir=..., store_url="")` keeps working."""

from __future__ import annotations

from graph.settings import Settings, SettingsError

Config = Settings

__all__ = ["Config", "Settings", "SettingsError"]
