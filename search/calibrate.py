"""Build step: calibrate the relevance floor of the engine's model over its catalog, write relevance.json.

    python -m search.calibrate [--data-dir DIR] [--out FILE] [--dev-limit N]

Re-run whenever the model or the catalog changes (tests/test_relevance.py checks that the shipped
data/relevance.json was made for the current model). The floor separates the best relevance of real requests
(bench/devsets/relevance_real.txt and the Gorilla dev sets' task descriptions) from that of nonsense
(bench/devsets/relevance_nonsense.txt); see `search.relevance.choose_threshold`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from search import relevance

DEVSETS = Path(__file__).resolve().parent.parent / "bench" / "devsets"


def lines(name: str) -> list[str]:
    path = DEVSETS / name
    return [x.strip() for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def dev_queries(limit: int | None) -> list[str]:
    out = []
    for name in ("huggingface_eval.jsonl", "torchhub_train.jsonl"):
        rows = [json.loads(x)["query"] for x in (DEVSETS / name).read_text().splitlines() if x.strip()]
        out += rows[::max(1, len(rows) // limit)] if limit else rows
    return out


def top_relevances(engine, queries: Sequence[str]) -> list[float]:
    """The best relevance of each query's candidates, with no floor in the way (constraints not read)."""
    if not queries:
        return []
    pipeline = engine.pipeline
    kept = pipeline.calibration
    pipeline.calibration = replace(kept, threshold=float("-inf"))
    try:
        return [round(r.top_relevance, 4) for r in
                engine.search_batch(list(queries), 1, record=False, learn=False, understand=False)]
    finally:
        pipeline.calibration = kept


def calibrate(engine, real: Sequence[str], nonsense: Sequence[str], dev: Sequence[str]) -> relevance.Calibration:
    """The calibration of `engine`'s model and catalog on these sets."""
    threshold, stats = relevance.choose_threshold(top_relevances(engine, real), top_relevances(engine, nonsense),
                                                  top_relevances(engine, dev))
    return relevance.Calibration(threshold, engine.pipeline.calibration.lexical_weight, engine.model_id,
                                 len(engine.artifacts), stats)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="engine data dir (default: the settings')")
    parser.add_argument("--out", type=Path, default=None, help="default: <data dir>/relevance.json")
    parser.add_argument("--dev-limit", type=int, default=200, help="dev-set queries per set (0 = all)")
    args = parser.parse_args(argv)
    from search.config import Config
    from search.engine import Engine

    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    engine = Engine(Config.from_env(**overrides))
    try:
        if not engine.artifacts:
            engine.bootstrap()
        found = calibrate(engine, lines("relevance_real.txt"), lines("relevance_nonsense.txt"),
                          dev_queries(args.dev_limit or None))
    finally:
        engine.close()
    out = args.out or Path(engine.data_dir) / relevance.FILE
    found.save(out)
    print(f"{out}: threshold {found.threshold} {found.stats}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
