"""Calibrated relevance: is a query about anything in the catalog, and which candidates are its matches.

Why: the vector search always returns neighbours, so without a decision gibberish "matches" hundreds of
artifacts and `total` counts candidates. Two evidences, comparable across queries, decide:

- a candidate's *relevance* = the cosine of its best capability + `lexical_weight` x its lexical coverage
  (`LexicalIndex.coverage`: the IDF-weighted share of the query's terms its text holds);
- a query's *evidence* = its best candidate's relevance + `vocabulary_weight` x the share of its terms the
  catalog knows at all (keyboard mashes know none; a pasted task description, long and diluted, most).

The query matches when its evidence reaches the floor (or it names an artifact); its matches are then the
candidates within `spread` of the best relevance, or keeping at least `keep` of its height above the
gibberish level (loose on purpose: a paraphrase's right answer is often not its most similar text; the second
rule loosens it in a small catalog, where relevances are lower), and the artifacts it names.
Otherwise nothing matches: no results, `low_confidence`, and suggestions.

The floor is the catalog's *gibberish level* (the median evidence of `PROBES`, nonsense strings, computed
once per catalog view: a bigger catalog has more near neighbours for anything, nonsense included) plus a
calibrated `margin`. The numbers are a build product of (model, catalog): `python -m search.calibrate`
writes them (`data/relevance.calibration` for the bundled catalog, or a data dir's own file); a calibration
made for another model is ignored with a warning.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from search.lexical import LexicalIndex
from search.names import EXACT, TYPO
from search.ranking import group_hits

log = logging.getLogger(__name__)
FILE = "relevance.calibration"  # JSON text, but not .json: the loader ingests every .json/.jsonl under data/
SHIPPED = Path(__file__).resolve().parent.parent / "data" / FILE
DEPTH = 200  # capability hits per probe: what a search of one page reads
# what "nothing" reaches in a catalog: keyboard runs, made-up words, word salad (none is in the test sets)
PROBES = ("asdfghjkl", "qwertyuiop", "zxcvbnm", "hjkl hjkl", "lkjh gfds", "qazwsx edc", "poiuy trewq",
          "mnbvc xzlkj", "zzzz yyyy", "xxxxxxxx", "aaaa bbbb cccc", "abcdefg", "fhqwhgads", "xyzzy plugh",
          "blorp zorp", "glorbnax", "snargle fleep", "wubba lubba", "flibber jabber", "quux baz foo",
          "wug dax blicket", "fnord", "grlmph", "ptoo ptoo", "nurble", "kjsdf lkjsd", "ghghghgh",
          "purple monkey dishwasher", "banana telephone cathedral", "rutabaga orchestra moonlight")


@dataclass(frozen=True)
class Calibration:
    """The match decision's numbers for one model over one catalog, and what they were chosen on."""

    margin: float = 0.14  # the floor above the catalog's gibberish level
    lexical_weight: float = 0.3
    vocabulary_weight: float = 0.15
    spread: float = 0.35  # a match is within this of the best relevance...
    keep: float = 0.0  # ...or keeps this share of the best relevance's height above the gibberish level
    model_id: str = ""
    catalog: dict = field(default_factory=dict)  # artifacts, capabilities: what it was calibrated over
    stats: dict = field(default_factory=dict)  # the floor, level and shares it achieved on its sets

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n", encoding="utf-8")


def load(data_dir: Path, model_id: str, margin: float) -> Calibration:
    """The calibration for `model_id`: the data dir's own file, else the shipped one; a file made for another
    model is ignored (logged) and `margin` (the setting) serves with the default weights."""
    for path in (Path(data_dir) / FILE, SHIPPED):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("model_id") != model_id:
                log.warning("%s was calibrated for model %r, not %r: ignored (run python -m search.calibrate)",
                            path, raw.get("model_id"), model_id)
                continue
            return Calibration(**{k: raw[k] for k in Calibration.__dataclass_fields__ if k in raw})
        except (OSError, ValueError, TypeError):
            continue
    return Calibration(margin=margin, model_id=model_id)


@dataclass
class Verdict:
    """The match decision of one query."""

    relevance: dict[str, float]  # per candidate
    best: float  # the best candidate's relevance
    known: float  # the share of the query's terms the catalog knows
    evidence: float  # best + vocabulary_weight * known
    matched: bool  # the query is about something in the catalog
    cut: float  # a candidate below this relevance is not a match
    floor: float

    named: Mapping[str, tuple] = field(default_factory=dict)  # name tiers (search/names.py)

    def keeps(self, artifact_id: str) -> bool:
        """A match: within the cut of a matched query, or named by the query (a typo of a name counts even
        when nothing else matched: "did you mean")."""
        tier = self.named.get(artifact_id)
        if self.matched:
            return tier is not None or self.relevance.get(artifact_id, 0.0) >= self.cut
        return tier is not None and tier[0] >= TYPO

    @property
    def low_confidence(self) -> bool:
        """Nothing matched the meaning, unless the query is exactly a name."""
        return not self.matched and not any(tier[0] >= EXACT for tier in self.named.values())

    def flagged(self, margin: float) -> bool:
        """Low confidence: nothing matched the meaning, or the evidence is within `margin` above the floor."""
        return self.low_confidence or (self.matched and self.evidence < self.floor + margin)


class Judge:
    """The match decision of a pipeline: its calibration and each catalog view's floor (the gibberish level,
    computed once per view from `PROBES`: their vectors come from the encoder's caches after the first)."""

    def __init__(self, calibration: Calibration, encode: Callable[[list[str]], np.ndarray]) -> None:
        self.calibration, self.encode = calibration, encode
        self._levels: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def level(self, view) -> float:
        """The median evidence of the probes in this view (0 for an empty catalog)."""
        with self._lock:
            found = self._levels.get(view)
        if found is None:
            found = self._level(view)
            with self._lock:
                self._levels[view] = found
        return found

    def _level(self, view) -> float:
        if not len(view.index):
            return 0.0
        hits = view.index.search(self.encode(list(PROBES)), DEPTH)  # one batch; the data dir's cache after
        out = []
        for probe, found in zip(PROBES, hits, strict=True):
            grouped = group_hits(found, view.capabilities)
            out.append(self._weigh(view.lexical, probe, grouped, view.lexical.scores(probe), {}, 0.0).evidence)
        return float(np.median(out))

    def verdict(self, view, text: str, grouped: Mapping[str, list], bm25: Mapping[str, float],
                named: Mapping[str, tuple], understood: bool = False,
                coverage: tuple[np.ndarray, float] | None = None) -> Verdict:
        """The verdict over a query's candidates: `grouped` (capability hits per artifact, best first), `bm25`
        (BM25 candidates), `named` (name tiers). `understood`: the query states a direction (languages,
        modality) some artifact matches, which gibberish never does ("Translate from French to English: «Le
        système éducatif...»" is a real request whose words the catalog mostly does not hold). `coverage`:
        `view.lexical.coverage(text)` when already computed (search/overlap.py)."""
        verdict = self._weigh(view.lexical, text, grouped, bm25, named, self.level(view), coverage)
        verdict.matched = verdict.matched or understood
        return verdict

    def _weigh(self, lexical: LexicalIndex, text: str, grouped: Mapping[str, list], bm25: Mapping[str, float],
               named: Mapping[str, tuple], level: float,
               coverage: tuple[np.ndarray, float] | None = None) -> Verdict:
        """Relevance per candidate and the decision. A BM25-only candidate's cosine is at most the lowest one
        the vector search returned, which stands in for it (no extra vector work per request)."""
        cal = self.calibration
        got, known = lexical.coverage(text) if coverage is None else coverage
        rows = lexical.rows
        sims = {a: caps[0][1] for a, caps in grouped.items() if caps}
        reach = min(sims.values(), default=0.0)
        ids = list(sims) + [a for a in bm25 if a not in sims]
        at = [rows.get(a, -1) for a in ids]  # one numpy read for every candidate's coverage
        covs = np.where(np.asarray(at) >= 0, got[at], 0.0).tolist() if ids and len(got) else [0.0] * len(ids)
        w = cal.lexical_weight
        rel = {a: sims.get(a, reach) + w * cv for a, cv in zip(ids, covs, strict=True)}
        best = max(rel.values(), default=0.0)
        evidence = best + cal.vocabulary_weight * known
        floor = level + cal.margin
        cut = min(best - cal.spread, level + cal.keep * (best - level))
        return Verdict(rel, best, known, evidence, evidence >= floor, cut, floor, named)


MAX_SUGGESTIONS = 3


def suggestions(view, query: str, verdict: Verdict | None, order: list[str]) -> list[str]:
    """When nothing matched: names the query may have meant ("did you mean"), from the name index (prefixes
    and one-typo names of the query's longest words, no embedding)."""
    if verdict is None or order or len(query) > 60:
        return []
    out: list[str] = []
    for text in [query] + sorted(query.split(), key=len, reverse=True)[:2]:
        for s in view.names.suggest(text, k=MAX_SUGGESTIONS):
            if s.name not in out:
                out.append(s.name)
    return out[:MAX_SUGGESTIONS]
