#!/usr/bin/env python3
"""Audit of what the catalog's capabilities say: facts, templates, copies, truncations and false claims.

Why: a capability is shown to users and searched; it must be a fact its source supports about that one
artifact. This module measures how far the catalog is from that, with the measures of issue 24:

- **template**: the description, with the artifact's own name (and id) and every number blanked, appears in
  15 or more records ("Long context window: <name> reads up to <n> tokens" on 1,600 models);
- **copy**: the description only repeats the record's own description (it is contained in it);
- **truncated**: the description ends in "..." or is cut mid-sentence at the length limit;
- **fact**: anything else.
- **false claims** by modality: chat / text generation on embedding, rerank, speech, guard, OCR or image
  models; "long context" on a model with at most 8,192 tokens or on an image model; function calling on an
  image-only model.

`report(records)` returns the numbers (the integrator wires it into `python -m data.audit`);
`python data/audit_capabilities.py [files...]` prints them for data/*.jsonl and data/catalog/*.jsonl.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

TEMPLATE_MIN_RECORDS = 15
SHORT_CONTEXT = 8192
CAP_DESCRIPTION_MAX = 600
COPY_MIN_WORDS = 4
EXAMPLES = 5

# Kinds of model that do not hold a conversation, found from the name, id, tags and modalities.
_KIND_PATTERNS = (
    ("rerank", re.compile(r"rerank|re-rank", re.I)),
    ("embedding", re.compile(r"embed|text-embedding|\bbge-|\bgte-|\be5-|sentence-transformers", re.I)),
    ("speech", re.compile(r"whisper|\btts\b|tts-|-tts|speech|transcri|voxtral-mini-transcribe|\basr\b"
                          r"|text-to-speech|speech-to-text|\bsonic\b|eleven_", re.I)),
    ("guard", re.compile(r"guard|moderation|safety-?check|shieldgemma|llama-?guard", re.I)),
    ("ocr", re.compile(r"\bocr\b|-ocr|ocr-", re.I)),
    ("image", re.compile(r"dall-e|flux|stable-diffusion|\bsdxl\b|imagen|midjourney|recraft|ideogram"
                         r"|gpt-image|seedream|kolors|playground-v", re.I)),
)
_CHAT = re.compile(r"\bchat\b|text generation|generates text|text completion|chat and completion"
                   r"|holds? a conversation|conversational (ai|assistant|model)", re.I)
_ID_LIKE = re.compile(r"\S*[/_-]\S*")  # model ids and names (distilrubert-base-cased-conversational) are no claim
_LONG = re.compile(r"long context|long-context", re.I)
_FUNCTION = re.compile(r"function calling|tool use|tool calling|calls? tools", re.I)
_NUMBER = re.compile(r"[$€£]?\d[\d,.]*(?:\s?[kKmMbB%])?")
_WORD = re.compile(r"[a-z0-9<>#]+")
_TRUNC_END = re.compile(r"(\.\.\.|…)\s*$")
_SENTENCE_END = re.compile(r"[.!?:;)\]\"'`*»”’]\s*$")


def _words(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def blank(text: str, names: Iterable[str]) -> str:
    """The text with every given name and every number replaced by a placeholder, normalised."""
    out = text
    for name in sorted({n for n in names if n and len(n) >= 2}, key=len, reverse=True):
        out = re.sub(re.escape(name), " <name> ", out, flags=re.I)
    out = _NUMBER.sub(" # ", out)
    return _words(out)


def _names(record: dict[str, Any]) -> list[str]:
    rid = str(record.get("id", ""))
    name = str(record.get("name", ""))
    return [name, rid, rid.split("/")[-1], name.split("/")[-1], name.split(":")[-1].strip()]


def model_kinds(record: dict[str, Any]) -> set[str]:
    """What kind of non-conversational model a record is (empty for chat models and non-models)."""
    if record.get("type") not in ("model", "fine-tune"):
        return set()
    signals = record.get("signals") or {}
    modalities = signals.get("modalities") or {}
    outputs = set(modalities.get("output") or [])
    text = " ".join([str(record.get("id", "")), str(record.get("name", ""))])
    kinds = {kind for kind, pattern in _KIND_PATTERNS if pattern.search(text)}
    if outputs and "text" not in outputs:
        if outputs & {"image", "video"}:
            kinds.add("image")
        if "audio" in outputs:
            kinds.add("speech")
        if "embedding" in outputs or "embeddings" in outputs:
            kinds.add("embedding")
    if outputs and "text" in outputs and kinds & {"image"} and not re.search(r"dall-e|flux|diffusion", text, re.I):
        kinds.discard("image")  # e.g. "gpt-image" models that also write text: judged by outputs
    return kinds


def _context_of(record: dict[str, Any], description: str) -> int | None:
    found = re.search(r"([\d,]+)\s*(?:k\b|tokens)", description)
    if found:
        try:
            value = int(found.group(1).replace(",", ""))
            return value * 1000 if re.search(r"\d\s*k\b", found.group(0)) else value
        except ValueError:
            pass
    context = (record.get("signals") or {}).get("context_window")
    return int(context) if isinstance(context, (int, float)) else None


def capability_kind(cap: dict[str, Any], record: dict[str, Any], counts: Counter) -> str:
    """fact, template, copy or truncated (see the module docstring); `counts` maps blanked text to records."""
    description = str(cap.get("description") or "")
    if not description:
        return "fact" if cap.get("title") else "template"
    own_text = " ".join(str(record.get("description") or "").split())
    trails_off = _TRUNC_END.search(description) and not own_text.endswith(" ".join(description.split())[-40:])
    if trails_off or (len(description) == CAP_DESCRIPTION_MAX and not _SENTENCE_END.search(description)):
        return "truncated"  # (a text whose source itself ends in "...", as the record's description shows, is not)
    own = _words(str(record.get("description") or ""))
    words = _words(description)
    if words and len(words.split()) >= COPY_MIN_WORDS and words in own:
        return "copy"
    if counts[blank(description, _names(record))] >= TEMPLATE_MIN_RECORDS:
        return "template"
    return "fact"


def false_claims(cap: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """The modality checks this capability fails (empty when none)."""
    kinds = model_kinds(record)
    text = f"{cap.get('title') or ''} {cap.get('description') or ''}"
    title = str(cap.get("title") or "")
    found = []
    if kinds and _CHAT.search(_ID_LIKE.sub(" ", title or text)):
        found.append("chat or text generation on a " + "/".join(sorted(kinds)) + " model")
    if _LONG.search(title) or (not title and _LONG.search(text)):
        context = _context_of(record, str(cap.get("description") or ""))
        if context is not None and context <= SHORT_CONTEXT:
            found.append(f"long context on {context:,} tokens")
        elif "image" in kinds:
            found.append("long context on an image model")
    if _FUNCTION.search(title) and "image" in kinds:
        outputs = set(((record.get("signals") or {}).get("modalities") or {}).get("output") or [])
        if "text" not in outputs:
            found.append("function calling on an image-only model")
    return found


def report(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Capability kinds, missing titles and false claims over `records` (catalog records)."""
    records_per_text: dict[str, set[str]] = defaultdict(set)
    for r in records:
        for cap in r.get("capabilities") or []:
            if cap.get("description"):
                records_per_text[blank(str(cap["description"]), _names(r))].add(str(r.get("id")))
    counts = Counter({text: len(ids) for text, ids in records_per_text.items()})
    kinds: Counter = Counter()
    claims: Counter = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    templates: Counter = Counter()
    untitled = 0
    only_weak = 0
    total = 0
    for r in records:
        strong = False
        for cap in r.get("capabilities") or []:
            total += 1
            kind = capability_kind(cap, r, counts)
            kinds[kind] += 1
            strong = strong or kind == "fact"
            if kind == "template":
                templates[blank(str(cap.get("description") or ""), _names(r))[:80]] += 1
            if len(examples[kind]) < EXAMPLES and kind != "fact":
                examples[kind].append(f"{r.get('id')}: {str(cap.get('description'))[:120]}")
            if not cap.get("title"):
                untitled += 1
            for claim in false_claims(cap, r):
                key = claim.split(" on ")[0]
                claims[key] += 1
                if len(examples[key]) < EXAMPLES:
                    examples[key].append(f"{r.get('id')}: {cap.get('title')}")
        only_weak += 0 if strong else 1
    pct = {k: round(100 * v / total, 1) if total else 0.0 for k, v in kinds.items()}
    return {
        "records": len(records), "capabilities": total,
        "kinds": dict(sorted(kinds.items())), "kinds_percent": dict(sorted(pct.items())),
        "untitled": untitled, "records_without_a_fact": only_weak,
        "false_claims": dict(sorted(claims.items())),
        "top_templates": templates.most_common(10),
        "examples": dict(examples),
        "done": {"template_at_most_25pct": pct.get("template", 0) <= 25, "copy_at_most_10pct": pct.get("copy", 0) <= 10,
                 "no_truncated": kinds.get("truncated", 0) == 0, "no_untitled": untitled == 0,
                 "no_chat_on_non_chat_models": claims.get("chat or text generation", 0) == 0},
    }


def load(paths: Iterable[Path]) -> list[dict[str, Any]]:
    records = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(json.loads(line))
    return records


def default_files(data_dir: Path = Path(__file__).resolve().parent) -> list[Path]:
    return sorted(data_dir.glob("*.jsonl")) + sorted((data_dir / "catalog").glob("*.jsonl"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in argv] or default_files()
    print(json.dumps(report(load(paths)), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
