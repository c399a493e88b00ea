"""Calibrated relevance: when a candidate is a match at all, and the file that says so.

Why: the vector search always returns neighbours, so without a floor gibberish "matches" hundreds of
artifacts. Relevance here is absolute, comparable across queries: the cosine of the artifact's best
capability plus `lexical_weight` times the IDF-weighted share of the query's terms its text holds
(`LexicalIndex.coverage`). A candidate is a match when its relevance reaches `threshold`, or when the query
names it. The threshold is calibrated per model and catalog (`search/calibrate.py`, a build step writing
`relevance.json`) on the dev sets and a nonsense set; the engine reads it from its data dir, else the copy
shipped in data/ (when the model matches), else the setting's default.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
FILE = "relevance.json"
SHIPPED = Path(__file__).resolve().parent.parent / "data" / FILE
LEXICAL_WEIGHT = 0.3
MAX_LOST = 0.02  # the share of real requests (each set) the floor may leave without results


@dataclass(frozen=True)
class Calibration:
    """The match floor of one model over one catalog, and the evidence it was chosen on."""

    threshold: float
    lexical_weight: float = LEXICAL_WEIGHT
    model_id: str = ""
    artifacts: int = 0
    stats: dict = field(default_factory=dict)

    def relevance(self, best_similarity: float, coverage: float) -> float:
        return best_similarity + self.lexical_weight * min(1.0, coverage)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n", encoding="utf-8")


def load(data_dir: Path, model_id: str, default: float) -> Calibration:
    """The calibration for `model_id`: the data dir's own file, else the shipped one; a file made for another
    model is ignored (logged): the default floor serves until `python -m search.calibrate` is re-run."""
    for path in (Path(data_dir) / FILE, SHIPPED):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if raw.get("model_id") != model_id:
            log.warning("%s was calibrated for model %r, not %r: ignored (re-run python -m search.calibrate)",
                        path, raw.get("model_id"), model_id)
            continue
        return Calibration(float(raw["threshold"]), float(raw.get("lexical_weight", LEXICAL_WEIGHT)),
                           model_id, int(raw.get("artifacts", 0)), raw.get("stats", {}))
    return Calibration(default, LEXICAL_WEIGHT, model_id)


def relevances(calibration: Calibration, best: Mapping[str, float], coverage: Mapping[str, float]) \
        -> dict[str, float]:
    """Relevance of every candidate with semantic or lexical evidence."""
    return {a: calibration.relevance(best.get(a, 0.0), coverage.get(a, 0.0)) for a in set(best) | set(coverage)}


def choose_threshold(real: list[float], nonsense: list[float], dev: list[float]) -> tuple[float, dict]:
    """The floor that best separates the top relevances of real requests (short ones and the dev sets'
    long ones, each set weighing one) from those of nonsense: among the floors that leave at most `MAX_LOST`
    of each real set without results, the one maximising the share of nonsense below plus the shares of each
    real set at or above; the midpoint between the two neighbouring values it falls on."""
    values = sorted(set(real) | set(nonsense) | set(dev))
    if not values:
        return 0.0, {}

    def gain(t: float) -> float:
        out = sum(v < t for v in nonsense) / max(1, len(nonsense))
        for group in (real, dev):
            out += sum(v >= t for v in group) / max(1, len(group))
        return out

    def kept(t: float) -> bool:  # recall first: at most MAX_LOST of each real set loses its results
        return all(sum(v < t for v in group) <= MAX_LOST * len(group) for group in (real, dev))

    fine = [i for i in range(len(values)) if kept(values[i])] or [0]
    best_i = max(fine, key=lambda i: (gain(values[i]), -i))
    below = values[best_i - 1] if best_i else values[0] - 0.01
    threshold = round((values[best_i] + below) / 2, 4)
    stats = {"nonsense_rejected": round(sum(v < threshold for v in nonsense) / max(1, len(nonsense)), 4),
             "real_accepted": round(sum(v >= threshold for v in real) / max(1, len(real)), 4),
             "dev_accepted": round(sum(v >= threshold for v in dev) / max(1, len(dev)), 4),
             "nonsense": len(nonsense), "real": len(real), "dev": len(dev)}
    return threshold, stats
