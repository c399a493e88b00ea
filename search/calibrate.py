"""Build step: calibrate the match decision (search/relevance.py) of the engine's model over its catalog.

    python -m search.calibrate [--data-dir DIR] [--out FILE] [--dev-limit N]

Re-run it whenever the model or the catalog changes; for the bundled catalog with `--out
data/relevance.calibration` (tests/test_relevance.py fails when the shipped file was made for another model
or a catalog of another size). It searches, with no floor and no cut, three kinds of requests:

- real short requests (bench/devsets/relevance_real.txt): none may lose its results;
- nonsense (bench/devsets/relevance_nonsense.txt): as many as possible must;
- the Gorilla dev sets' task descriptions (bench/devsets/*.jsonl, with their gold artifact): at most
  `MAX_DEV_LOST` of them may lose their results, and the cut below the best relevance (`spread`) keeps every
  gold artifact the uncut search ranks in its top 10, so recall@10 does not move.

For each vocabulary weight of `VOCABULARY_WEIGHTS` the floor is the highest those limits allow; the weight
rejecting most nonsense wins, and the floor is then lowered to midway to the highest nonsense evidence
below it (the same rejection, the widest margin for real requests). What is saved is the floor's height
above this catalog's gibberish level (`search.relevance.Judge.level`), so another catalog (a small one,
where everything, nonsense included, has fewer near neighbours) gets a floor at the same height above its own.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from search import relevance

DEVSETS = Path(__file__).resolve().parent.parent / "bench" / "devsets"
DEV_FILES = ("huggingface_eval.jsonl", "torchhub_train.jsonl")
VOCABULARY_WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)
MAX_DEV_LOST = 0.002  # the share of dev task descriptions the floor may leave without results
SPREAD_MARGIN = 0.03  # above the largest gap between a kept gold artifact and its query's best relevance


def lines(name: str) -> list[str]:
    text = (DEVSETS / name).read_text(encoding="utf-8")
    return [x.strip() for x in text.splitlines() if x.strip() and not x.startswith("#")]


def dev_rows(limit: int | None = None) -> list[dict]:
    out = []
    for name in DEV_FILES:
        rows = [json.loads(x) for x in (DEVSETS / name).read_text(encoding="utf-8").splitlines() if x.strip()]
        out += rows[::max(1, len(rows) // limit)] if limit else rows
    return out


def uncut(engine, queries: Sequence[str], k: int = 10) -> list:
    """Each query's search with no floor and no cut (what the decision is chosen on); learning off."""
    judge = engine.pipeline.judge
    kept = judge.calibration
    judge.calibration = replace(kept, margin=-math.inf, spread=math.inf)
    try:
        return engine.search_batch(list(queries), k, record=False, learn=False)
    finally:
        judge.calibration = kept


def choose(real: list[tuple[float, float]], nonsense: list[tuple[float, float]],
           dev: list[tuple[float, float]]) -> tuple[float, float, dict]:
    """(vocabulary weight, floor, stats) from each set's (best relevance, known share) per query."""
    def ev(pairs: list[tuple[float, float]], beta: float) -> list[float]:
        return sorted(b + beta * k for b, k in pairs)

    best: tuple | None = None
    for beta in VOCABULARY_WEIGHTS:
        r, n, d = ev(real, beta), ev(nonsense, beta), ev(dev, beta)
        top = min(r[0] if r else math.inf, d[int(MAX_DEV_LOST * len(d))] if d else math.inf)
        rejected = sum(v < top for v in n)
        if best is None or rejected > best[0]:
            below = max((v for v in n if v < top), default=top - 0.02)
            best = (rejected, beta, round((top + below) / 2, 4) if below < top else top)
    _, beta, floor = best

    def share(pairs: list[tuple[float, float]]) -> float:
        return round(sum(b + beta * k >= floor for b, k in pairs) / max(1, len(pairs)), 4)

    stats = {"nonsense_rejected": round(1 - share(nonsense), 4), "real_accepted": share(real),
             "dev_accepted": share(dev), "nonsense": len(nonsense), "real": len(real), "dev": len(dev)}
    return beta, floor, stats


def spread(dev_results: list, golds: list[str]) -> tuple[float, int]:
    """The cut below the best relevance that keeps every gold artifact the uncut search puts in its top 10."""
    gaps = []
    for result, gold in zip(dev_results, golds, strict=True):
        if gold in [h.artifact.id for h in result.hits] and gold in result.verdict.relevance:
            gaps.append(result.verdict.best - result.verdict.relevance[gold])
    return round(max(gaps, default=0.0) + SPREAD_MARGIN, 3), len(gaps)


def calibrate(engine, real: Sequence[str], nonsense: Sequence[str], dev: Sequence[dict]) -> relevance.Calibration:
    """The calibration of `engine`'s model and catalog on these sets."""
    def pairs(results: list) -> list[tuple[float, float]]:
        return [(r.verdict.best, r.verdict.known) for r in results]

    dev_results = uncut(engine, [row["query"] for row in dev])
    beta, floor, stats = choose(pairs(uncut(engine, real)), pairs(uncut(engine, nonsense)), pairs(dev_results))
    view = engine.view()
    level = engine.pipeline.judge.level(view)
    cut, golds = spread(dev_results, [row["gold"] for row in dev])
    stats.update(floor=floor, gibberish_level=round(level, 4), dev_golds_in_top10=golds)
    return replace(engine.pipeline.judge.calibration, margin=round(floor - level, 4), vocabulary_weight=beta,
                   spread=cut, model_id=engine.model_id, stats=stats,
                   catalog={"artifacts": len(view.artifacts), "capabilities": len(view.capabilities)})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="engine data dir (default: the settings')")
    parser.add_argument("--out", type=Path, default=None, help=f"default: <data dir>/{relevance.FILE}")
    parser.add_argument("--dev-limit", type=int, default=0, help="dev-set queries per set (0 = all)")
    args = parser.parse_args(argv)
    from graph.settings import Settings
    from search.engine import Engine

    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    engine = Engine(Settings.load(**overrides))
    try:
        if not engine.artifacts:
            engine.bootstrap()
        found = calibrate(engine, lines("relevance_real.txt"), lines("relevance_nonsense.txt"),
                          dev_rows(args.dev_limit or None))
    finally:
        engine.close()
    out = args.out or Path(engine.data_dir) / relevance.FILE
    found.save(out)
    print(f"{out}: margin {found.margin} (floor {found.stats['floor']}), vocabulary weight "
          f"{found.vocabulary_weight}, spread {found.spread}; {found.stats}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
