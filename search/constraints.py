"""Constraints a request states (price, openness, context, modality, type) as filters and sorts of the matches.

Why a module: "cheap code completion model", "llm under $1 per million input tokens" or "open source llm with
128k context" carry conditions an embedding cannot enforce. `read` takes them from a short query's words
(a long pasted task description is a description: its "free time" is not a price), merges the explicit
parameters over them, and returns the text to rank without the words that only stated a condition ("cheap"
must not steer the embedding; "speech to text" and "dataset" stay, they also say what is wanted).
`understood` echoes each constraint with the words it came from and the parameter that drops it
(`ignore=PARAM`, or `interpret=false` for none of them).

`apply` is one stage after ranking: filters keep the matches whose known facts (graph/facts.py) meet them,
in ranked order (a fact that is unknown never passes a filter on it); a sort reorders the matches (one
the words ask for, the good ones: `SORT_BAND`), the ones whose sort fact is unknown after the others. A
type or pricing the words state filters like the `type`/`pricing` parameters, before ranking
(`with_constraints`), and `depth` lets the vector search reach further under a selective filter. Nothing
else in ranking changes. docs/search.md (Constraints) has the table of what is read and the measurements.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from graph.catalog import Artifact
from graph.facts import facts_of
from search import names
from search.names import adoption_signal

SORTS = ("relevance", "popular", "newest", "price")
MODALITIES = ("text", "image", "audio", "video", "pdf", "embedding")
PARAMS = ("max_input_usd_per_mtok", "min_context_tokens", "open_weights", "license", "modality_in",
          "modality_out", "tag", "sort")  # explicit parameters this module owns (type and pricing: Options)
DROPPABLE = PARAMS + ("type", "pricing")  # what `ignore` may name
MAX_WORDS = 16  # longer queries are task descriptions: their words are not read as constraints
MODEL_TYPES = ("model", "fine-tune")
FREE_PRICING = ("free", "open-weights")
# a sort the words ask for reorders the matches scoring at least this share of the first (the weaker follow)
SORT_BAND = 0.8
# licences that allow commercial use (SPDX ids, lower case); anything else, or unknown, does not pass
COMMERCIAL = frozenset({
    "mit", "mit-0", "apache-2.0", "bsd-2-clause", "bsd-3-clause", "bsd-1-clause", "0bsd", "isc", "zlib",
    "unlicense", "bsl-1.0", "cc-by-4.0", "cc-by-3.0", "cc-by-sa-4.0", "cc-by-sa-3.0", "cc0-1.0", "mpl-2.0",
    "upl-1.0", "lgpl-2.1", "lgpl-3.0", "gpl-2.0", "gpl-3.0", "agpl-3.0", "epl-2.0", "odc-by", "pddl",
    "odbl", "openrail", "openrail++", "creativeml-openrail-m", "bigscience-openrail-m", "llama2", "llama3",
    "llama3.1", "llama3.2", "llama3.3", "gemma", "afl-3.0", "artistic-2.0", "wtfpl", "python-2.0",
    "cdla-permissive-2.0", "cdla-permissive-1.0"})
_NUM = r"(\d+(?:\.\d+)?)"
_UNIT = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "mil": 1e6}
_PER_MILLION = (r"(?:(?:per|/|a|an|for\s+(?:a|one)|each)\s*(?:1\s*)?(?:m\b|mtok\b|million|1m\b|mil\b)"
                r"(?:\s+(?:input|prompt))?(?:\s+tokens?)?)")


@dataclass(frozen=True)
class Rule:
    """One way a query states a constraint: its pattern, its kind, whether its words stay in the ranked text."""

    kind: str
    pattern: re.Pattern
    keep_words: bool = False
    max_words: int = MAX_WORDS  # read only from queries this short


RULES: tuple[Rule, ...] = (
    Rule("max_price", re.compile(r"(?:\b(?:under|below|less than|cheaper than|at most|max(?:imum)?|up to|"
                                 r"no more than)\s*|<=?\s*)(?:usd\s*)?\$?\s*" + _NUM +
                                 r"\s*(?:usd|dollars?|\$)?\s*(?:" + _PER_MILLION + r"|(?<=\$\d)|/\s*mtok\b)?"
                                 r"(?:\s*(?:of\s+)?input)?(?:\s+tokens?)?", re.I)),
    Rule("min_context", re.compile(r"\b(?:(?:context(?:\s+window)?|ctx)\s+(?:length\s+)?(?:of\s+)?(?:at\s+least\s+)?"
                                   + _NUM + r"\s*(k|m|thousand|million)?\b\+?(?:\s*tokens?)?|(?:at\s+least\s+)?"
                                   + _NUM + r"\s*(k|m|thousand|million)\+?\s*(?:-?\s*tokens?\s*)?(?:context(?:\s+"
                                   r"(?:window|length))?|ctx|tokens?)\b)", re.I), keep_words=True),  # names say 128k
    Rule("cheap", re.compile(r"\b(?:cheap(?:est|er)?|affordable|low[- ]cost|lowest[- ]cost|inexpensive|"
                             r"budget|low[- ]price[d]?)\b", re.I)),
    Rule("free", re.compile(r"(?<![-\w])(?:free(?:\s+of\s+charge)?|no[- ]cost|gratis|costs? nothing)(?![-\w])"
                            r"(?!\s+(?:text|form|style|hand|flow|range|space|throw|will|software)s?\b)"
                            r"(?!\s+speech\b(?![- ]to[- ]text|\s+recognition))",
                            re.I)),
    Rule("open_weights", re.compile(r"\b(?:open[- ]source[d]?|open[- ]weights?|open[- ]models?|self[- ]host(?:ed|"
                                    r"able)?|run(?:s|ning)? locally|local(?:ly)?[- ]run)\b", re.I)),
    # "permissively licensed source code" says what the data holds, not the artifact's licence: not read
    Rule("commercial", re.compile(r"(?<!non[- ])(?<!non)\bcommercial(?:ly)?(?:[- ]use(?:able)?| usage| "
                                  r"licen[cs]e[sd]?)?\b", re.I)),
    Rule("image_in", re.compile(r"\b(?:accepts? images?|image inputs?|images? as input|takes images?|"
                                r"vision(?:[- ]language)?(?: models?)?|vlm|multimodal|multi-modal|sees images?|"
                                r"understands? images?|reads? images?)\b", re.I), keep_words=True),
    Rule("audio_in", re.compile(r"\b(?:speech[- ]to[- ]text|audio[- ]to[- ]text|voice[- ]to[- ]text|stt|"
                                r"accepts? audio|audio inputs?|speech recognition|asr)\b", re.I), keep_words=True),
    Rule("audio_out", re.compile(r"\b(?:text[- ]to[- ]speech|tts|speech synthesis|voice generation|"
                                 r"audio outputs?|generates? (?:speech|audio))\b", re.I), keep_words=True),
    Rule("image_out", re.compile(r"\b(?:text[- ]to[- ]image|image generation|generates? images?|"
                                 r"image generator)\b", re.I), keep_words=True),
    Rule("video_out", re.compile(r"\b(?:text[- ]to[- ]video|video generation|generates? videos?)\b", re.I),
         keep_words=True),
    Rule("text_out", re.compile(r"\b(?:code completion|completions?|text generation|generates? text|chat ?bots?|"
                                r"chat models?|llms?|large language models?|writ(?:e|es|ing) (?:code|text)|"
                                r"coding assistants?)\b", re.I), keep_words=True),
    Rule("newest", re.compile(r"\b(?:newest|latest|most recent|recently released|recent)\b", re.I)),
    Rule("popular", re.compile(r"\b(?:most popular|most used|most downloaded|popular)\b", re.I)),
    Rule("dataset", re.compile(r"(?<!\bgiven )(?<!\bmy )(?<!\bour )(?<!\bthis )(?<!\byour )(?<!\bthe )(?<!\bown )"
                               r"(?<!\bcustom )(?<!\bfrom a )(?<!\bin a )(?<!\bon a )\b(?:data ?sets?)\b", re.I),
         keep_words=True),
    Rule("mcp", re.compile(r"\bmcp(?:[- ]servers?)?\b", re.I), keep_words=True),
    # "public apis for news", "rest api": a web API; "weather api" too in a short query, but "an image
    # classification API that runs on GPUs" (the Gorilla dev sets' wording) asks for anything that does it
    Rule("api", re.compile(r"\b(?:rest|web|public|http|json|free) apis?\b", re.I), keep_words=True),
    Rule("api", re.compile(r"(?<!\ban )(?<!\bthe )(?<!\ba )\b(?!(?:an|the|a|what|which|any|this|that|your|some|"
                           r"good|best)\b)\w+ apis?\b|\bapis\b", re.I), keep_words=True, max_words=6),
    Rule("library", re.compile(r"\b(?:librar(?:y|ies)|python packages?|pip packages?|sdks?)\b", re.I),
         keep_words=True),
    Rule("model", re.compile(r"\b(?:models?|llms?|language models?|chat ?bots?|checkpoints?)\b", re.I),
         keep_words=True),
)
_MODEL_WORDS = re.compile(r"\b(?:llms?|gpt|language models?|chat models?|inference|provider)\b", re.I)
_TRAINING = re.compile(r"\b(?:train|training|trains|pre-?train\w*|fine-?tun\w*|evaluat\w*|benchmark\w*)\b", re.I)
_FILLER = re.compile(r"(?:\b(?:with|and|for|a|an|that|which|is|are|of|at|in|the|has|having|under)\s*)+$", re.I)


@dataclass(frozen=True)
class Said:
    """One constraint read from the query: its kind, the words, the parameter that states it, its value."""

    kind: str
    text: str
    param: str
    value: Any

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"kind": self.kind, "text": self.text, "param": self.param, "value": value}


@dataclass(frozen=True)
class Constraints:
    """Filters and a sort (empty: nothing to do), and what of them the query said."""

    max_input_usd_per_mtok: float | None = None
    min_context_tokens: int | None = None
    open_weights: bool | None = None
    license: str | None = None  # an SPDX id (any case), or "commercial": a licence that allows commercial use
    modality_in: tuple[str, ...] = ()
    modality_out: tuple[str, ...] = ()
    tag: str | None = None
    types: tuple[str, ...] = ()  # read from the query (explicit `type` filters before ranking: Options)
    pricing: tuple[str, ...] = ()  # likewise ("free")
    sort: str = "relevance"
    said: tuple[Said, ...] = ()
    sort_said: bool = False  # the sort came from the words ("cheap"): it reorders the good matches only

    def filters(self) -> bool:
        return any((self.max_input_usd_per_mtok is not None, self.min_context_tokens is not None,
                    self.open_weights is not None, self.license, self.modality_in, self.modality_out,
                    self.tag, self.types, self.pricing))

    def __bool__(self) -> bool:
        return self.filters() or self.sort != "relevance"

    def understood(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.said]

    def allows(self, artifact: Artifact, facts: Mapping[str, Any], direction: Any = None) -> bool:
        """Do the artifact's known facts meet every filter? An unknown fact does not."""
        if self.types and artifact.type not in self.types:
            return False
        if self.tag and self.tag not in artifact.tags:
            return False
        if self.pricing and artifact.pricing not in self.pricing:
            return False
        price = facts.get("input_usd_per_mtok")
        if self.max_input_usd_per_mtok is not None and (price is None or price > self.max_input_usd_per_mtok):
            return False
        context = facts.get("context_tokens")
        if self.min_context_tokens is not None and (context is None or context < self.min_context_tokens):
            return False
        if self.open_weights is not None and _open(artifact, facts) is not self.open_weights:
            return False
        if self.license and not licence_ok(facts.get("license"), self.license):
            return False
        if self.modality_in or self.modality_out:
            inputs = set(facts.get("modalities_in") or ()) | set(getattr(direction, "inputs", ()) or ())
            outputs = set(facts.get("modalities_out") or ()) | set(getattr(direction, "outputs", ()) or ())
            if not (set(self.modality_in) <= inputs and set(self.modality_out) <= outputs):
                return False
        return True


def _open(artifact: Artifact, facts: Mapping[str, Any]) -> bool | None:
    """Open weights as the record states it: the fact, else an open-weights pricing; a library, tool or
    dataset with a licence that allows use counts as open source. None: unknown."""
    known = facts.get("open_weights")
    if isinstance(known, bool):
        return known
    if artifact.pricing == "open-weights":
        return True
    if artifact.type not in MODEL_TYPES and licence_ok(facts.get("license"), "commercial"):
        return True
    return None


def licence_ok(licence: str | None, wanted: str) -> bool:
    """Does a licence meet `wanted` (an SPDX id, compared case-insensitively, or "commercial")?"""
    if not licence or not isinstance(licence, str) or licence.lower() in ("unknown", "not specified", "other"):
        return False
    if wanted.lower() == "commercial":
        return licence.lower() in COMMERCIAL
    return licence.lower() == wanted.lower()


# --- reading a query -----------------------------------------------------------------------------------------
def _amount(number: str, unit: str | None) -> float:
    return float(number) * _UNIT.get((unit or "").lower(), 1.0)


def _meaning(rule: Rule, m: re.Match) -> tuple[str, Any] | None:
    """(param, value) a rule's match states, or None when it states nothing."""
    kind = rule.kind
    if kind == "max_price":
        if not re.search(r"\$|usd|dollar|mtok|million|\bm\b|1m", m.group(0), re.I):
            return None  # "under 5" is a number, not a price
        return "max_input_usd_per_mtok", float(m.group(1))
    if kind == "min_context":
        number, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        amount = _amount(number, unit)
        return ("min_context_tokens", int(amount)) if amount >= 1000 else None
    return {"cheap": ("sort", "price"), "free": ("pricing", FREE_PRICING), "open_weights": ("open_weights", True),
            "commercial": ("license", "commercial"), "image_in": ("modality_in", ("image",)),
            "audio_in": ("modality_in", ("audio",)), "audio_out": ("modality_out", ("audio",)),
            "image_out": ("modality_out", ("image",)), "video_out": ("modality_out", ("video",)),
            "text_out": ("modality_out", ("text",)),
            "newest": ("sort", "newest"), "popular": ("sort", "popular"), "dataset": ("type", ("dataset",)),
            "mcp": ("tag", "mcp-server"), "api": ("type", ("api",)), "library": ("type", ("library",)),
            "model": ("type", MODEL_TYPES)}[kind]


def parse(query: str, ignore: Iterable[str] = ()) -> tuple[list[Said], str]:
    """The constraints a short query states (skipping the params in `ignore`), and the query without the
    words that only stated one (the words of an ignored constraint stay)."""
    if len(query.split()) > MAX_WORDS:
        return [], query
    skip = set(ignore)
    found: list[Said] = []
    rest = query
    params: set[str] = set()
    words = len(query.split())
    for rule in RULES:
        m = rule.pattern.search(rest) if words <= rule.max_words else None
        meant = _meaning(rule, m) if m else None
        if m is None or meant is None:
            continue
        param, value = meant
        if param in skip or (param in params and param not in ("type", "modality_in", "modality_out")) or \
                any(s.param == param and s.value == value for s in found):
            continue
        if rule.kind == "api" and _MODEL_WORDS.search(query):
            continue  # "cheap llm api": a model served by an API, not a web API
        other_type = bool({"dataset", "api", "library", "mcp"} & {s.kind for s in found})
        if rule.kind == "model" and (other_type or _TRAINING.search(query)):
            continue  # "dataset for training a model", "source code to train code models": models are the object
        if rule.kind == "text_out" and (param in params or other_type):
            continue  # "chat model that generates images": the output is the image; "chatbot dataset": data
        params.add(param)
        found.append(Said(rule.kind, m.group(0).strip(), param, value))
        if not rule.keep_words:
            rest = rest[:m.start()] + " " + rest[m.end():]
    if rest == query:  # nothing taken out: the words as typed
        return found, query
    rest = re.sub(r"\s+", " ", _FILLER.sub("", re.sub(r"^\s*(?:with|and|for|a|an|under)\b", "", rest.strip(" ,;"))))
    return found, rest.strip() or query


def _merged(said: Sequence[Said]) -> dict[str, Any]:
    """Constraint fields from what the query said (several types or modalities add up)."""
    out: dict[str, Any] = {}
    for s in said:
        name = {"type": "types"}.get(s.param, s.param)
        if isinstance(s.value, tuple) and name in out:
            out[name] = tuple(dict.fromkeys(out[name] + s.value))
        else:
            out[name] = s.value
    return out


def explicit(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validated explicit parameters (ValueError naming the field when one is wrong); None/empty = not given."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or value == () or value == [] or value == "":
            continue
        if name not in PARAMS:
            raise ValueError(f"{name}: not a search constraint (one of {', '.join(PARAMS)})")
        if name == "max_input_usd_per_mtok":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e9:
                raise ValueError(f"{name}: a number of USD, 0 or more")
            value = float(value)
        elif name == "min_context_tokens":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
                raise ValueError(f"{name}: a whole number of tokens, 0 or more")
        elif name == "open_weights":
            if not isinstance(value, bool):
                raise ValueError(f"{name}: true or false")
        elif name in ("modality_in", "modality_out"):
            value = tuple([value] if isinstance(value, str) else value)
            if not value or any(v not in MODALITIES for v in value):
                raise ValueError(f"{name}: one of {', '.join(MODALITIES)}")
        elif name == "sort":
            if value not in SORTS:
                raise ValueError(f"{name}: one of {', '.join(SORTS)}")
        elif not isinstance(value, str) or not 0 < len(value) <= 100:
            raise ValueError(f"{name}: a string of 1 to 100 characters")
        out[name] = value
    return out


def read(query: str, given: Mapping[str, Any] | Constraints | None, *, interpret: bool = True,
         ignore: Iterable[str] = (), types: Sequence[str] = (), pricing: Sequence[str] = (),
         named: bool = False) -> tuple[Constraints, str]:
    """The constraints of one query: what its words state (unless `interpret` is false, the query is exactly
    a name, or a param is in `ignore`), the explicit parameters over them; and the text to rank.
    Explicit `types`/`pricing` (filters before ranking) replace what the words said of type and pricing."""
    if isinstance(given, Constraints):
        return given, query
    said, rest = parse(query, ignore) if interpret and not named else ([], query)
    if types:
        said = [s for s in said if s.param != "type"]
    if pricing:
        said = [s for s in said if s.param != "pricing"]
    params = explicit(given or {})
    said = [s for s in said if s.param not in params]
    fields = {**_merged(said), **params}
    return Constraints(**fields, said=tuple(said), sort_said=any(s.param == "sort" for s in said)), rest


# --- the stage after ranking -----------------------------------------------------------------------------------
_FACTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # view -> artifact id -> facts


def facts_in(view: Any, artifact_id: str) -> dict[str, Any]:
    """An artifact's facts, computed once per catalog view."""
    cache = _FACTS.get(view)
    if cache is None:
        cache = _FACTS[view] = {}
    found = cache.get(artifact_id)
    if found is None:
        found = cache[artifact_id] = facts_of(view.artifacts[artifact_id])
    return found


def prepare(view: Any) -> None:
    """Every artifact's facts, now: the first search of a view that states a filter ("model", "free") otherwise
    derives them for the whole catalog on the request path (0.5 s at 27,726 artifacts, issue 32). For the code
    that loads a view (startup, reload) to call off the request path; answers do not depend on it."""
    for artifact_id in view.artifacts:
        facts_in(view, artifact_id)


_PASSING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # view -> filters -> ids that pass them
MAX_CACHED = 512  # distinct filter sets remembered per view


def passing(view: Any, wanted: Constraints) -> frozenset[str]:
    """Every artifact of the view that meets the filters, computed once per view and set of filters (the
    words of many queries state the same few: "model", "free", "open source")."""
    key = (wanted.max_input_usd_per_mtok, wanted.min_context_tokens, wanted.open_weights, wanted.license,
           wanted.modality_in, wanted.modality_out, wanted.tag, wanted.types, wanted.pricing)
    cache = _PASSING.get(view)
    if cache is None:
        cache = _PASSING[view] = {}
    found = cache.get(key)
    if found is None:
        if len(cache) >= MAX_CACHED:
            cache.clear()
        directions = view.directions
        # an artifact's facts are derived only when a filter reads them and its type, tag and pricing pass
        # (`allows` checks those first): "model" or "dataset" alone derives none
        reads_facts = wanted.max_input_usd_per_mtok is not None or wanted.min_context_tokens is not None or \
            wanted.open_weights is not None or bool(wanted.license or wanted.modality_in or wanted.modality_out)
        types, tag, pricing = wanted.types, wanted.tag, wanted.pricing
        found = cache[key] = frozenset(
            a for a, art in view.artifacts.items()
            if (not types or art.type in types) and (not tag or tag in art.tags)
            and (not pricing or art.pricing in pricing)
            and wanted.allows(art, facts_in(view, a) if reads_facts else _NO_FACTS, directions.get(a)))
    return found


_NO_FACTS: Mapping[str, Any] = MappingProxyType({})


def depth(view: Any, k: int, filtered: bool, wanted: Iterable[Constraints]) -> int:
    """How many capabilities the vector search returns: 20 per result (at least 200); under an explicit
    type/pricing filter 50 per result (at least 2,000); under filters the words or constraint parameters
    state, as many more as the filters are selective (a filter 1 artifact in 10 passes: 10x), up to half that.
    Never the offset: every page of a query ranks the same candidates."""
    n = len(view.index)
    base, most = max(200, 20 * k), max(2000, 50 * k)
    if filtered:
        return min(n, most)
    share = min((len(passing(view, w)) / max(1, len(view.artifacts)) for w in wanted if w.filters()), default=1.0)
    return min(n, max(base, min(most // 2, int(base / max(share, 1e-3)))))


def apply(view: Any, order: list[str], score: Mapping[str, float], wanted: Constraints) -> list[str]:
    """The matches (`order`, ranked) that meet the filters, in the order the sort asks."""
    if not wanted:
        return order
    if wanted.filters():
        ok = passing(view, wanted)
        order = [a for a in order if a in ok]
    if wanted.sort == "relevance" or not order:
        return order
    if not wanted.sort_said:  # the `sort` parameter: every match (what matches is the relevance floor's call)
        return sort(view, order, wanted.sort)
    # "cheap code completion model": the cheapest of the good matches first, not the cheapest thing matched
    # (the ranked prefix down to the first match below the band: name and direction tiers come first)
    floor = SORT_BAND * score.get(order[0], 0.0)
    cut = next((i for i, a in enumerate(order) if score.get(a, 0.0) < floor), len(order))
    return sort(view, order[:max(cut, 1)], wanted.sort) + order[max(cut, 1):]


def sort_key(view: Any, artifact_id: str, how: str) -> Any:
    """The sort fact of one artifact (None: unknown). Price: headline input price, else 0 for a free pricing
    (open weights are free to get but not to run: their price is unknown);
    newest: release date, else the record's update date; popular: stated adoption (downloads, stars...)."""
    a, f = view.artifacts[artifact_id], facts_in(view, artifact_id)
    if how == "price":
        price = f.get("input_usd_per_mtok")
        return price if price is not None else (0.0 if a.pricing == "free" else None)
    if how == "newest":
        return f.get("released") or f.get("updated")
    value = adoption_signal(a)
    return value if value > 0 else None


def sort(view: Any, order: list[str], how: str) -> list[str]:
    """Matches in the order `how` asks (stable: ties keep relevance order); unknown ones last."""
    keys = {a: sort_key(view, a, how) for a in order}
    known = [a for a in order if keys[a] is not None]
    unknown = [a for a in order if keys[a] is None]
    known.sort(key=lambda a: keys[a], reverse=how != "price")
    return known + unknown


def is_name(named: Mapping[str, tuple]) -> bool:
    """Is the query an artifact's name or id, or within a typo of one (`named`: the name tiers search/names.py
    found for it)? "Free Dictionary API" states no constraint; nor does "Large Langauge Models", a typo of a
    name, state a type."""
    return any(tier >= names.TYPO for tier, _, _ in named.values())


def with_constraints(options: Any, wanted: Constraints) -> Any:
    """The options of one query, carrying its resolved constraints to the ranking stage. A type or pricing the
    words stated filters like the `type`/`pricing` parameters (before ranking: facet counts follow it)."""
    return replace(options, constraints=wanted, types=options.types or wanted.types,
                   pricing=options.pricing or wanted.pricing)




KIND_PARAMS = frozenset({"type", "modality_in", "modality_out", "tag"})  # say what is wanted, not a condition


def states_a_kind(wanted: Any) -> bool:
    """The words named a kind of artifact ("llm", "dataset", "speech to text", "MCP server"): a request the
    catalog understands even when the rest of its words match nothing (the relevance decision counts it)."""
    return any(s.param in KIND_PARAMS for s in getattr(wanted, "said", ()))


def echo(understood: dict[str, Any], wanted: Constraints) -> dict[str, Any]:
    """The response's `understood`: the direction facets, plus `constraints` when the words stated any."""
    return {**understood, "constraints": wanted.understood()} if wanted.said else understood
