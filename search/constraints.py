"""Constraints a request states: price, openness, context, modality and type, as filters and sorts.

Why a module: "cheap code completion model", "llm under $1 per million input tokens" or "open source llm with
128k context" carry conditions embeddings cannot enforce. `parse` reads them from a short query (a pasted
task description is a description: its "free time" is not a price), returns them with the query minus the
phrases that stated them (so "cheap" does not steer the embedding), and `understood` echoes each with the
words it came from, so a client can offer to drop it (`understand=false` searches the words as typed).
The same constraints are API parameters. Filters read an artifact's facts (graph/facts.py); a fact that is
unknown never passes a filter on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from graph.catalog import Artifact
from graph.facts import facts_of

SORTS = ("relevance", "popular", "newest", "price")
MAX_WORDS = 16  # longer queries are task descriptions: their words are not read as constraints
# licences that allow commercial use (SPDX ids, lower case); anything else, or unknown, does not pass
COMMERCIAL = frozenset({"mit", "mit-0", "apache-2.0", "bsd-2-clause", "bsd-3-clause", "bsd-1-clause", "isc",
                        "zlib", "unlicense", "bsl-1.0", "cc-by-4.0", "cc-by-3.0", "cc0-1.0", "mpl-2.0",
                        "upl-1.0", "lgpl-2.1", "lgpl-3.0", "openrail", "creativeml-openrail-m",
                        "bigscience-openrail-m"})
_NUM = r"(\d+(?:[.,]\d+)?)"
_UNIT = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "mil": 1e6, "b": 1e9}
PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("price", re.compile(r"\b(?:under|below|less than|cheaper than|at most|max(?:imum)?|up to|<=?)\s*(?:usd\s*)?"
                         r"\$?\s*" + _NUM + r"\s*(?:usd|dollars?|\$)?\s*(?:(?:per|/|a|an)\s*(?:1\s*)?(?:m\b|mtok|"
                         r"million|1m)\s*(?:input\s+|output\s+)?(?:tokens?)?|/\s*mtok)", re.I)),
    ("context", re.compile(r"\b(?:(?:context(?:\s+window)?|ctx)\s+(?:of\s+)?(?:at\s+least\s+)?" + _NUM +
                           r"\s*(k|m|thousand|million)?\b(?:\s*tokens?)?|" + _NUM +
                           r"\s*(k|m|thousand|million)\s*(?:tokens?\s*)?(?:context(?:\s+window)?|ctx|tokens?)\b)",
                           re.I)),
    ("cheap", re.compile(r"\b(?:cheap(?:est|er)?|affordable|low[- ]cost|inexpensive|budget)\b", re.I)),
    ("free", re.compile(r"(?<![-\w])(?:free(?: of charge)?|no[- ]cost|gratis)(?![-\w])"
                        r"(?!\s+(?:text|form|style|hand|flow|range|space|throw)s?\b)", re.I)),
    ("open", re.compile(r"\b(?:open[- ]source|open[- ]weights?|open[- ]models?|self[- ]host(?:ed|able)?|"
                        r"run locally|local(?:ly)?[- ]run)\b", re.I)),
    ("commercial", re.compile(r"\b(?:commercial(?:ly)?(?:[- ]use(?:able)?| usage)?|permissive(?: licen[cs]e)?)\b",
                              re.I)),
    ("image_in", re.compile(r"\b(?:accepts? images?|image inputs?|images? as input|vision(?:[- ]language)?|"
                            r"multimodal|multi-modal|sees? images?|understands? images?)\b", re.I)),
    ("audio_in", re.compile(r"\b(?:speech[- ]to[- ]text|audio[- ]to[- ]text|accepts? audio|audio inputs?|"
                            r"voice inputs?)\b", re.I)),
    ("audio_out", re.compile(r"\b(?:text[- ]to[- ]speech|speech synthesis|audio outputs?)\b", re.I)),
    ("image_out", re.compile(r"\b(?:text[- ]to[- ]image|image generation|generates? images?)\b", re.I)),
    ("newest", re.compile(r"\b(?:newest|latest|most recent|recently released)\b", re.I)),
    ("popular", re.compile(r"\b(?:most popular|most used|popular)\b", re.I)),
    ("dataset", re.compile(r"\bdata ?sets?\b", re.I)),
    ("mcp", re.compile(r"\bmcp(?: servers?)?\b", re.I)),
    ("api", re.compile(r"\b(?:rest |web |public )?apis?\b", re.I)),
)
_KEEP_WORDS = ("image_in", "audio_in", "audio_out", "image_out", "dataset", "mcp", "api")  # they mean something


@dataclass(frozen=True)
class Constraints:
    """Filters and a sort; empty by default. `said` keeps the words each came from (for `understood`)."""

    max_input_usd_per_mtok: float | None = None
    min_context_tokens: int | None = None
    open_weights: bool | None = None
    license: str | None = None  # an SPDX id, or "commercial" (any licence that allows commercial use)
    free: bool = False
    modality_in: tuple[str, ...] = ()
    modality_out: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    sort: str = "relevance"
    said: Mapping[str, str] = field(default_factory=dict)

    def filters(self) -> bool:
        return any((self.max_input_usd_per_mtok is not None, self.min_context_tokens is not None,
                    self.open_weights is not None, self.license, self.free, self.modality_in,
                    self.modality_out, self.types))

    def __bool__(self) -> bool:
        return self.filters() or self.sort != "relevance"

    def to_dict(self) -> dict[str, Any]:
        """What `understood` echoes: each constraint, and the words of the query that stated it."""
        out: dict[str, Any] = {}
        for name in ("max_input_usd_per_mtok", "min_context_tokens", "open_weights", "license", "free",
                     "modality_in", "modality_out", "types"):
            value = getattr(self, name)
            if value not in (None, False, (), ""):
                out[name] = list(value) if isinstance(value, tuple) else value
        if self.sort != "relevance":
            out["sort"] = self.sort
        if out and self.said:
            out["from_query"] = dict(self.said)
        return {"constraints": out} if out else {}

    def merge(self, other: Constraints) -> Constraints:
        """`other` (explicit parameters) over these (read from the query)."""
        changes = {k: getattr(other, k) for k in ("max_input_usd_per_mtok", "min_context_tokens", "open_weights",
                                                   "license", "modality_in", "modality_out", "types")
                   if getattr(other, k) not in (None, ())}
        if other.free:
            changes["free"] = True
        if other.sort != "relevance":
            changes["sort"] = other.sort
        return replace(self, **changes)

    def allows(self, artifact: Artifact, direction: Any = None) -> bool:
        """Does the artifact's known facts meet every filter? Unknown facts do not."""
        if not self.filters():
            return True
        if self.types and artifact.type not in self.types and not _is_mcp(artifact, self.types):
            return False
        f = facts(artifact)
        price = f.get("input_usd_per_mtok")
        if self.max_input_usd_per_mtok is not None and (price is None or price > self.max_input_usd_per_mtok):
            return False
        if self.free and not (artifact.pricing in ("free", "open-weights") or price == 0):
            return False
        context = f.get("context_tokens")
        if self.min_context_tokens is not None and (context is None or context < self.min_context_tokens):
            return False
        if self.open_weights is not None and f.get("open_weights") is not self.open_weights:
            return False
        if self.license and not _licence_ok(f.get("license"), self.license):
            return False
        inputs = set(f.get("modalities_in") or ()) | set(getattr(direction, "inputs", ()) or ())
        outputs = set(f.get("modalities_out") or ()) | set(getattr(direction, "outputs", ()) or ())
        return set(self.modality_in) <= inputs and set(self.modality_out) <= outputs


def facts(artifact: Artifact) -> dict[str, Any]:
    """The artifact's facts (graph/facts.py); an open-weights pricing states open weights."""
    out = facts_of(artifact)
    if out.get("open_weights") is None and artifact.pricing == "open-weights":
        out["open_weights"] = True
    return out


def _licence_ok(licence: str | None, wanted: str) -> bool:
    if not licence:
        return False
    if wanted == "commercial":
        return licence.lower() in COMMERCIAL
    return licence.lower() == wanted.lower()


def _is_mcp(artifact: Artifact, types: Sequence[str]) -> bool:
    return "mcp" in types and artifact.id.startswith("mcp/")


def _amount(number: str, unit: str | None) -> float:
    return float(number.replace(",", ".")) * _UNIT.get((unit or "").lower(), 1.0)


def parse(query: str) -> tuple[Constraints, str]:
    """The constraints a short query states, and the query without the words that only stated them."""
    if len(query.split()) > MAX_WORDS:
        return Constraints(), query
    found: dict[str, Any] = {}
    said: dict[str, str] = {}
    rest = query
    for kind, pattern in PATTERNS:
        m = pattern.search(rest)
        if not m:
            continue
        key, value = _meaning(kind, m)
        if key is None or (key in found and kind not in ("image_in", "audio_in", "audio_out", "image_out")):
            continue
        if key in ("modality_in", "modality_out", "types"):
            found[key] = tuple(dict.fromkeys(found.get(key, ()) + value))
        else:
            found[key] = value
        said[key] = (said[key] + ", " if key in said else "") + m.group(0).strip()
        if kind not in _KEEP_WORDS:
            rest = rest[:m.start()] + " " + rest[m.end():]
    if "types" in found and found["types"] == ("api",) and re.search(r"\b(llm|model|gpt)s?\b", query, re.I):
        found.pop("types")  # "cheap llm api": a model served by an API, not a web API
        said.pop("types")
    rest = re.sub(r"\s+", " ", re.sub(r"\b(with|and|for|a|an)\s*$", "", rest.strip(" ,;"))).strip()
    if not found:
        return Constraints(), query
    return Constraints(**found, said=said), rest or query


def _meaning(kind: str, m: re.Match) -> tuple[str | None, Any]:
    if kind == "price":
        return "max_input_usd_per_mtok", float(m.group(1).replace(",", "."))
    if kind == "context":
        number, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        amount = _amount(number, unit)
        return ("min_context_tokens", int(amount)) if amount >= 1000 else (None, None)
    simple = {"cheap": ("sort", "price"), "free": ("free", True), "open": ("open_weights", True),
              "commercial": ("license", "commercial"), "image_in": ("modality_in", ("image",)),
              "audio_in": ("modality_in", ("audio",)), "audio_out": ("modality_out", ("audio",)),
              "image_out": ("modality_out", ("image",)), "newest": ("sort", "newest"),
              "popular": ("sort", "popular"), "dataset": ("types", ("dataset",)), "mcp": ("types", ("mcp",)),
              "api": ("types", ("api",))}
    return simple[kind]


def popularity(artifact: Artifact) -> float:
    """Adoption the record states (downloads, stars, providers), for sort=popular."""
    s = artifact.signals
    return sum(float(s.get(k) or 0) * w for k, w in (("downloads", 1.0), ("stars", 30.0), ("providers", 1e4))
               if isinstance(s.get(k), (int, float)))


def sort(order: list[str], how: str, artifacts: Mapping[str, Artifact]) -> list[str]:
    """Matches re-sorted by price (cheapest headline input price first), newest or popularity; the
    artifacts whose fact is unknown after the others, in relevance order."""
    if how == "price":
        key = {a: facts(artifacts[a]).get("input_usd_per_mtok") for a in order}
        return sorted(order, key=lambda a: (key[a] is None, key[a] or 0.0))
    if how == "newest":
        key = {a: facts(artifacts[a]).get("released") or facts(artifacts[a]).get("updated") or "" for a in order}
        return sorted(order, key=lambda a: (not key[a], "".join(chr(0x10FFFF - ord(ch)) for ch in key[a])))
    if how == "popular":
        return sorted(order, key=lambda a: -popularity(artifacts[a]))
    return order
