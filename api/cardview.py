"""What a result card explains beyond the API's result: a one-line description, the price, the type's key facts
and the parts of its score (meaning, words, people), so a person sees why a result is there.

Why a module: the search page (server-rendered and the fragments static/search.js asks for) and the browse
list build the same card extras from an artifact and its facts; the template only lays them out.
"""

from __future__ import annotations

import re
from typing import Any

from graph.catalog import read_count
from search.engine import Engine

DESCRIPTION_CHARS = 160  # one line on a desktop card, two on a phone
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def one_line(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    """The description's first sentence, cut at a word before `limit` characters (with an ellipsis)."""
    text = " ".join(str(text or "").split())
    first = _SENTENCE.split(text, 1)[0]
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def price(pricing: str, facts: dict[str, Any]) -> str:
    """"free", "$0.50 / M input tokens" when a price is known, else the pricing in words ("open weights")."""
    usd = facts.get("input_usd_per_mtok")
    if isinstance(usd, (int, float)) and usd > 0:
        return f"${usd:,.2f} / M input tokens"
    if pricing == "free" or usd == 0:
        return "free"
    return pricing.replace("-", " ")


def _tokens(n: int) -> str:
    return f"{n // 1000:,}k tokens" if n >= 1000 and n % 1000 == 0 else f"{n:,} tokens"


def _count(value: Any) -> int | None:
    """A stored count to show: a usable one (graph.catalog.read_count) below the clamp; junk is not shown."""
    number, problem = read_count(value)
    return int(number) if number is not None and not problem else None


def key_facts(kind: str, facts: dict[str, Any], signals: dict[str, Any]) -> list[tuple[str, str]]:
    """The facts a person compares first for this type: context for models, licence for datasets, stars for
    libraries and tools; (label, value) pairs, only the ones known."""
    out: list[tuple[str, str]] = []
    context, stars = _count(facts.get("context_tokens")), _count(signals.get("stars"))
    if kind in ("model", "fine-tune", "api") and context:
        out.append(("Context", _tokens(context)))
    if kind in ("library", "tool", "agent", "framework") and stars is not None:
        out.append(("Stars", f"{stars:,}"))
    if facts.get("license"):
        out.append(("Licence", str(facts["license"]).split(":", 1)[0][:40]))
    if facts.get("open_weights") is True and kind != "dataset":
        out.append(("Weights", "open"))
    if kind == "dataset" and facts.get("size"):
        out.append(("Size", str(facts["size"])[:40]))
    return out


def why_parts(hit: Any, learned_why: list[str]) -> list[tuple[str, str]]:
    """The parts of a result's score as (part, words): what the meaning, the words and people's choices
    gave it, then the facets that ranked it (the API's `why`)."""
    parts = [("Meaning", f"{hit.dense:.2f} similar to your need")]
    if hit.lexical > 0:
        parts.append(("Words", f"{hit.lexical:.2f} of the best word match"))
    if hit.learned > 0:
        parts.append(("People", "; ".join(learned_why) or f"+{hit.learned:.2f} from past choices"))
    parts += [("Facet", str(w)) for w in hit.why]
    return parts


def extras(eng: Engine, hits: list, learned_why: dict[str, list[str]]) -> dict[str, dict]:
    """Per artifact id of `hits`: description, url, price, facts and why parts for its card."""
    out = {}
    for h in hits:
        a = h.artifact
        facts = eng.facts(a.id)
        out[a.id] = {"description": one_line(a.description), "url": a.url, "price": price(a.pricing, facts),
                     "key_facts": key_facts(a.type, facts, a.signals),
                     "why_parts": why_parts(h, learned_why.get(a.id, []))}
    return out
