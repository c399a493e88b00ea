"""The `facts` of an artifact: one flat object of checkable facts (price, context, modalities, licence...).

Why a module: pages, compare, search filters and the API all read the same facts, and a record may carry
them explicitly (the optional top-level `facts` object) or only as signals (older records, PUT clients
that send signals only). `facts_of` merges the two: an explicit value wins, the rest is derived from the
signals, and what neither says is None (unknown). docs/facts.md documents every key.
"""

from __future__ import annotations

import math
import re
from typing import Any

from graph.catalog import Artifact

FACT_KEYS = ("input_usd_per_mtok", "output_usd_per_mtok", "context_tokens", "max_output_tokens",
             "modalities_in", "modalities_out", "open_weights", "license", "released", "updated",
             "languages", "tasks", "size", "evaluated_on")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return value


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list):
        out = [str(v) for v in value if isinstance(v, (str, int, float)) and str(v)]
        return out or None
    return None


def _day(value: Any) -> str | None:
    found = _DATE.match(value) if isinstance(value, str) else None
    return found.group(1) if found else None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def derived(signals: dict[str, Any], updated_at: str = "") -> dict[str, Any]:
    """The facts the signals state (None where they say nothing)."""
    modalities = signals.get("modalities") if isinstance(signals.get("modalities"), dict) else {}
    open_weights = signals.get("open_weights")
    return {
        "input_usd_per_mtok": _number(signals.get("price_input_per_mtok")),
        "output_usd_per_mtok": _number(signals.get("price_output_per_mtok")),
        "context_tokens": _integer(signals.get("context_window")),
        "max_output_tokens": _integer(signals.get("max_output_tokens", signals.get("max_output"))),
        "modalities_in": _strings(modalities.get("input")),
        "modalities_out": _strings(modalities.get("output")),
        "open_weights": open_weights if isinstance(open_weights, bool) else None,
        "license": _text(signals.get("license")),
        "released": _day(signals.get("released", signals.get("release_date"))),
        "updated": _day(updated_at),
        "languages": _strings(signals.get("languages")),
        "tasks": _strings(signals.get("tasks")),
        "size": _text(signals.get("size")),
        "evaluated_on": _strings(signals.get("evaluated_on")),
    }


def facts_of(artifact: Artifact) -> dict[str, Any]:
    """Every fact key: the record's explicit `facts` first, then what its signals state, else None."""
    out = derived(artifact.signals, artifact.updated_at)
    for key in FACT_KEYS:
        value = artifact.facts.get(key)
        if value is not None:
            out[key] = value
    return out
