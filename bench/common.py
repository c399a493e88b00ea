"""Shared pieces of the benchmarks: dev sets, metrics, an engine over the bundled catalog, the ONNX export
(the servers they start are in bench/servers.py)."""

from __future__ import annotations

import functools
import json
import os
import platform
import random
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVSETS = Path(__file__).resolve().parent / "devsets"
WORK = Path(os.environ.get("MATCHGRAPH_BENCH_DIR", ROOT / "bench" / "out"))


def load_devset(name: str) -> list[dict]:
    """Rows {"query", "gold"} of bench/devsets/<name>.jsonl (made by data/convert_gorilla.py)."""
    path = DEVSETS / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def split(rows: list[dict], train: float = 0.8, seed: int = 13) -> tuple[list[dict], list[dict]]:
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    cut = int(len(shuffled) * train)
    return shuffled[:cut], shuffled[cut:]


def metrics(ranked: Sequence[Sequence[str]], gold: Sequence[str]) -> dict[str, float]:
    """R@1, R@5, R@10 and MRR@10 of ranked id lists against one gold id each."""
    n = len(gold) or 1
    r1 = sum(1 for r, g in zip(ranked, gold, strict=True) if r[:1] == [g]) / n
    r5 = sum(1 for r, g in zip(ranked, gold, strict=True) if g in r[:5]) / n
    r10 = sum(1 for r, g in zip(ranked, gold, strict=True) if g in r[:10]) / n
    mrr = sum(1 / (list(r[:10]).index(g) + 1) for r, g in zip(ranked, gold, strict=True) if g in r[:10]) / n
    return {"R@1": round(r1, 4), "R@5": round(r5, 4), "R@10": round(r10, 4), "MRR@10": round(mrr, 4)}


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


# The catalog before issue 13: the Gorilla APIBench files and the two seed records (data/*.jsonl; the
# sources added since live in data/catalog/).
GORILLA_SUBSET = tuple(sorted((ROOT / "data").glob("*.jsonl")))


def bundled_engine(data_dir: Path | None = None, paths: Sequence[Path] | None = None, **overrides):
    """An engine over the bundled catalog (or `paths`) in its own data dir (ingested once, then reused)."""
    from graph.settings import Settings
    from search.engine import Engine

    data_dir = data_dir or WORK / "catalog"
    engine = Engine(Settings.load(data_dir=data_dir, store_url="", **overrides))
    if not engine.artifacts:
        engine.ingest(list(paths) if paths else [ROOT / "data"], progress=True)
    return engine


def table(rows: list[dict], columns: Sequence[str]) -> str:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(out)


@functools.cache
def ensure_onnx_export() -> Path:
    """The bench's shared ONNX export dir, exported once: servers then start the way a restart does."""
    from graph.settings import Settings
    from search.embedder import Embedder

    folder = Settings.load().onnx_dir or WORK / "onnx"
    Embedder(onnx_dir=folder)  # checks the export, or writes it
    return folder
