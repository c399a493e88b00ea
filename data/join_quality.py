"""Attach benchmark results (epoch, llmstats, bfcl, mteb-results rows) to catalog models by model key.

Why one module: the four sources name models differently ("gpt-5-mini-2025-08-07_high",
"anthropic/claude-sonnet-4-20250514", "Claude-Opus-4-5-20251101 (FC)", "BAAI/bge-m3") and the catalog is
being de-duplicated concurrently, so the join must tolerate provider prefixes, dated snapshots,
reasoning-effort suffixes and `-latest`: `model_key` reduces all of them to one key. A row whose key names
catalog models is attached to each of them (duplicates of one model get the same results); rows that name
none are counted per source. Each record keeps at most MAX_PER_RECORD results, independent measurements
and newer dates first.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

MAX_PER_RECORD = 100
_SUFFIX = re.compile(r"(_(?:high|medium|low|minimal|max|xhigh|none|thinking|\d+k))+$")
_DATED = re.compile(r"[-_@](?:20\d{2}-?\d{2}-?\d{2}|latest|preview-\d{2}-\d{2})$")
_VENDOR = re.compile(r"^(?:amazon|anthropic|meta|cohere|mistral|ai21|google|openai)\.")


def model_key(text: str) -> str:
    """One key for the names a model goes by: no provider prefix, snapshot date, effort suffix or -latest."""
    t = str(text).strip().lower().split("/")[-1]
    t = re.sub(r"\s*\((?:fc|prompt)[^)]*\)$", "", t)
    t = _VENDOR.sub("", re.sub(r":[^:]*$", "", t))
    t = _SUFFIX.sub("", t)
    for _ in range(2):
        t = _DATED.sub("", t)
    return re.sub(r"[^a-z0-9]+", "", t)


def index(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """model key -> the model / fine-tune records it names (by id, last id segment and name)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("type") not in ("model", "fine-tune"):
            continue
        for key in {model_key(r["id"]), model_key(r["name"])} - {""}:
            if len(key) >= 3:
                out[key].append(r)
    return out


def match(row: dict[str, Any], keys: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in [row["model"], *row.get("names", [])]:
        for r in keys.get(model_key(name), []) if name else []:
            found[r["id"]] = r
    return list(found.values())


def attach(records: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    """Add each row's benchmark to its record (same benchmark, metric and source: the newer one)."""
    by_id = {r["id"]: r for r in records}
    for rid, items in _group(rows).items():
        r = by_id[rid]
        current = {(b["name"], b.get("metric"), b.get("source")): b for b in r["signals"].get("benchmarks", [])}
        for b in items:
            key = (b["name"], b.get("metric"), b.get("source"))
            if key not in current or b.get("date", "") > current[key].get("date", ""):
                current[key] = b
        ordered = sorted(current.values(), key=lambda b: (b.get("measured") is False, -_day(b), b["name"]))
        r["signals"]["benchmarks"] = ordered[:MAX_PER_RECORD]


def _day(b: dict[str, Any]) -> int:
    return int(re.sub(r"\D", "", b.get("date", "")) or 0)


def _group(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        for rid in row.get("_matched", []):
            out[rid].append(row["benchmark"])
    return out


def join(writable: list[dict[str, Any]], readonly: list[dict[str, Any]], rows: list[dict[str, Any]],
         note) -> tuple[list[dict[str, Any]], Counter]:
    """Attach `rows` to matching `writable` records. Rows that match only `readonly` records (catalog files
    another converter writes) are counted, not attached. Returns (unmatched rows, counts)."""
    keys, other = index(writable), index(readonly)
    counts: Counter = Counter()
    unmatched = []
    for row in rows:
        found = match(row, keys)
        row["_matched"] = [r["id"] for r in found]
        if found:
            counts["attached"] += 1
        elif match(row, other):
            counts["in another file (not attached)"] += 1
        else:
            counts["no catalog model"] += 1
            unmatched.append(row)
    attach(writable, rows)
    note(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return unmatched, counts
