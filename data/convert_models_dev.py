#!/usr/bin/env python3
"""models.dev (MIT): one `model` artifact per distinct model, with every provider's offer.

Identity: a provider file names its model by its path under `models/` (`openai/gpt-oss-120b`,
`gpt-oss-120b`, `openai.gpt-5.4`) or by `base_model`; the model is the last path segment of `base_model`
when present, else of the path, lowercased, without a `:free` suffix. The same model served by 23
providers is ONE artifact: a user looks for the model, then picks where to run it, so the offers
(provider, price per million tokens, context) are listed in `signals.offers` instead of 23 near-identical
artifacts competing in search results. Facts common to the offers (modalities, tool calling, open
weights...) are taken from the majority of offers; dates are the earliest release and latest update.

Files that are text pointers to another file (Git symlinks stored as text, `../../x/models/y.toml`) are
followed; files that still do not parse as TOML are reported and skipped.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, clean, date  # noqa: E402

NAME = "models-dev"


def model_key(name: str) -> str:
    """The cross-source identity of a model name: its last path segment, alphanumerics only."""
    last = name.strip().split("/")[-1].lower()
    last = re.sub(r":free$", "", last)
    return re.sub(r"[^a-z0-9]+", "", last)


def _read_toml(path: Path, root: Path) -> tuple[dict[str, Any] | None, str]:
    """The parsed file (following text pointers up to 4 hops), or (None, reason)."""
    current = path
    for _ in range(5):
        try:
            raw = current.read_bytes()
        except OSError as exc:
            return None, f"unreadable: {exc.strerror}"
        text = raw.decode("utf-8", "replace").strip()
        if text.startswith("../") and "\n" not in text and text.endswith(".toml"):
            target = (current.parent / text).resolve()
            if root.resolve() not in target.parents or not target.is_file():
                return None, f"points to a missing file: {text}"
            current = target
            continue
        try:
            return tomllib.loads(raw.decode("utf-8")), ""
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            return None, f"not valid TOML: {str(exc).splitlines()[0]}"
    return None, "too many pointer hops"


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value == value and 0 <= value < 1e9 else None


def read_offers(src: Path, report: Report) -> dict[str, list[dict[str, Any]]]:
    """model key -> offers (one per provider file), each with the facts that file states."""
    providers_dir = src / "providers"
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for provider_dir in sorted(p for p in providers_dir.iterdir() if p.is_dir()):
        meta, why = _read_toml(provider_dir / "provider.toml", providers_dir) if (
            provider_dir / "provider.toml").is_file() else ({}, "")
        if meta is None:
            report.skip(f"{provider_dir.name}/provider.toml", why)
            meta = {}
        models_dir = provider_dir / "models"
        if not models_dir.is_dir():
            continue
        for path in sorted(models_dir.rglob("*.toml")):
            report.rows += 1
            rel = path.relative_to(models_dir).with_suffix("").as_posix()
            where = f"providers/{provider_dir.name}/models/{rel}.toml"
            data, why = _read_toml(path, providers_dir)
            if data is None:
                report.skip(where, why)
                continue
            name_path = str(data.get("base_model") or rel)
            key = model_key(name_path)
            if not key:
                report.skip(where, "no model name")
                continue
            cost = data.get("cost") if isinstance(data.get("cost"), dict) else {}
            limit = data.get("limit") if isinstance(data.get("limit"), dict) else {}
            mods = data.get("modalities") if isinstance(data.get("modalities"), dict) else {}
            by_key[key].append({
                "provider": provider_dir.name,
                "provider_name": clean(meta.get("name")) or provider_dir.name,
                "doc": str(meta.get("doc") or ""),
                "model_path": name_path,
                "name": clean(data.get("name")),
                "family": clean(data.get("family")),
                "input": _num(cost.get("input")), "output": _num(cost.get("output")),
                "context": _num(limit.get("context")), "max_output": _num(limit.get("output")),
                "inputs": [str(m) for m in mods.get("input", []) if isinstance(m, str)],
                "outputs": [str(m) for m in mods.get("output", []) if isinstance(m, str)],
                "tool_call": data.get("tool_call"), "reasoning": data.get("reasoning"),
                "structured_output": data.get("structured_output"), "attachment": data.get("attachment"),
                "open_weights": data.get("open_weights"),
                "release_date": date(data.get("release_date")), "last_updated": date(data.get("last_updated")),
                "knowledge": str(data.get("knowledge") or "")[:10],
                "status": str(data.get("status") or ""),
                "where": where,
            })
    return by_key


def _majority(values: list[Any]) -> Any:
    values = [v for v in values if v is not None and v != "" and v != []]
    if not values:
        return None
    counted = Counter(repr(v) for v in values)
    best = counted.most_common(1)[0][0]
    return next(v for v in values if repr(v) == best)


def merge_offers(key: str, offers: list[dict[str, Any]]) -> dict[str, Any]:
    """One model's facts from its offers: majority values, earliest release, latest update."""
    names = Counter(o["name"] for o in offers if o["name"])
    paths = Counter(o["model_path"] for o in offers)
    orgs = Counter(o["model_path"].split("/")[0].lower() for o in offers if "/" in o["model_path"])
    facts: dict[str, Any] = {
        "key": key,
        "name": names.most_common(1)[0][0] if names else paths.most_common(1)[0][0].split("/")[-1],
        "model_path": paths.most_common(1)[0][0].split("/")[-1],
        "org": orgs.most_common(1)[0][0] if orgs else "",
        "family": _majority([o["family"] for o in offers]) or "",
        "inputs": _majority([o["inputs"] for o in offers]) or [],
        "outputs": _majority([o["outputs"] for o in offers]) or [],
        "context": max((o["context"] for o in offers if o["context"]), default=None),
        "max_output": max((o["max_output"] for o in offers if o["max_output"]), default=None),
        "release_date": min((o["release_date"] for o in offers if o["release_date"]), default=""),
        "last_updated": max((o["last_updated"] or o["release_date"] for o in offers
                             if o["last_updated"] or o["release_date"]), default=""),
        "knowledge": _majority([o["knowledge"] for o in offers]) or "",
        "docs": [o["doc"] for o in sorted(offers, key=lambda o: o["provider"] != (orgs.most_common(1)[0][0] if orgs
                                                                               else o["provider"]))
                 if o["doc"].startswith("http")],
    }
    for flag in ("tool_call", "reasoning", "structured_output", "attachment", "open_weights"):
        votes = [o[flag] for o in offers if isinstance(o[flag], bool)]
        facts[flag] = (sum(votes) * 2 > len(votes)) if votes else None
        facts[f"{flag}_votes"] = (sum(votes), len(votes))
    facts["offers"] = sorted(
        ({"provider": o["provider"], "provider_name": o["provider_name"], "input_per_mtok": o["input"],
          "output_per_mtok": o["output"], "context": o["context"], "source": "models.dev", "where": o["where"]}
         for o in offers),
        key=lambda o: (o["provider"], o["where"]))
    return facts


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    """Every provider offer, in read order, with its legacy key (`model_key`): `convert_all` groups them
    into models (data/convert_resolve.py), joins genai-prices offers, then builds the records."""
    by_key = read_offers(src, report)
    return [dict(offer, legacy_key=key) for key, offers in sorted(by_key.items()) for offer in offers]


# --------------------------------------------------------------------------- capabilities

LONG_CONTEXT = 100_000  # tokens: "long context" is said only from here up, with the number

# What a model that does not hold a conversation does, from its name and the provider's description
# (models.dev lists embedding, rerank and OCR models as "text in, text out"; its modalities alone would call
# them chat models). Checked in this order; the first match wins.
_KINDS = (
    ("rerank", re.compile(r"rerank|re-rank", re.I)),
    ("embedding", re.compile(r"embed|\bbge-|^bge|\be5-|^e5-|\bgte-|^gte-|minilm|mpnet|^voyage-(?!.*rerank)"
                             r"|embedding model", re.I)),
    ("guard", re.compile(r"guard|moderation|shieldgemma", re.I)),
    ("ocr", re.compile(r"ocr(\b|-|_)|(\b|-|_)ocr", re.I)),
    ("transcription", re.compile(r"whisper|transcri|\basr\b|-asr|speech-to-text|\bstt\b", re.I)),
    ("speech", re.compile(r"\btts\b|-tts|tts-|text-to-speech|orpheus", re.I)),
    ("translation", re.compile(r"translat|-mt-|-mt$", re.I)),
    ("intent", re.compile(r"intent-detect", re.I)),
)
_KIND_TITLES = {
    "rerank": "Reranking for search and retrieval",
    "embedding": "Embeddings for semantic search and retrieval",
    "guard": "Safety classification of prompts and responses",
    "ocr": "OCR: reading text from images and documents",
    "transcription": "Speech recognition (transcription)",
    "speech": "Text to speech",
    "translation": "Machine translation",
    "intent": "Intent detection",
    "music": "Music generation",
    "audio": "Audio generation",
    "image": "Image generation",
    "video": "Video generation",
    "chat": "Chat and text generation",
}
_KIND_SENTENCES = {
    "rerank": "reorders candidate passages or documents by their relevance to a query (a reranking model)",
    "embedding": "turns {inputs} into embedding vectors for semantic search, retrieval and clustering (an "
                 "embedding model)",
    "guard": "classifies prompts and model responses as safe or unsafe (a safety / moderation model)",
    "ocr": "reads the text in images and documents (an OCR model) and writes it out as text",
    "transcription": "turns speech audio into text (speech recognition)",
    "speech": "turns text into spoken audio (text to speech)",
    "translation": "translates text from one language to another (a translation model)",
    "intent": "classifies the intent of a user's message (an intent detection model)",
    "music": "generates music from {inputs}",
    "audio": "generates audio from {inputs}",
    "image": "generates images from {inputs}",
    "video": "generates video from {inputs}",
    "chat": "holds a conversation and writes text from {inputs}",
}
_INPUT_WORDS = {"text": "text", "image": "images", "pdf": "PDF documents", "audio": "audio", "video": "video"}


def model_kind(name: str, path: str, described: str, inputs: list[str], outputs: list[str]) -> str:
    """What the model does, as one word of `_KIND_TITLES` ("" when the sources do not say)."""
    text = f"{name} {path}"
    for kind, pattern in _KINDS:
        if pattern.search(text) or (kind in ("rerank", "embedding") and pattern.search(described[:80])):
            return kind
    out = set(outputs)
    if "text" in out:
        return "chat"
    if out & {"video"}:
        return "video"
    if out & {"image"}:
        return "image"
    if "audio" in out:
        return "music" if re.search(r"music|lyria|song", text, re.I) else "speech" if "text" in inputs else "audio"
    return ""


def _listing(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def model_capabilities(name: str, path: str, facts: dict[str, Any], described: str,
                       context: float | None) -> list[dict[str, Any]]:
    """A model's capabilities: what it does (by kind, never chat for a model that does not converse),
    with its modalities, family, features and dates (function calling only where models.dev says so, for a
    model that writes text); long context with its number, only from 100k tokens. Provider offers are added by
    `convert_all.model_record`. Private `_flag` keys let `convert_all.compare_models` rank them."""
    inputs, outputs = facts.get("inputs") or [], facts.get("outputs") or []
    kind = model_kind(name, path, described, inputs, outputs)
    caps: list[dict[str, Any]] = []
    if kind:
        what = _KIND_SENTENCES[kind].format(inputs=_listing([_INPUT_WORDS.get(i, i) for i in inputs] or ["text"]))
        sentence = f"{name} {what}"
        if len(facts.get("family") or "") >= 3:  # models.dev has a few one-letter families ("o"): no fact
            sentence += f"; {facts['family']} family"
        extras = []
        if kind in ("ocr", "translation") and set(inputs) - {"text"}:
            extras.append("reads " + _listing([_INPUT_WORDS.get(i, i) for i in inputs]))
        if kind in ("chat", "translation") and "audio" in outputs:
            extras.append("can answer in speech (audio out)")
        if kind == "chat" and "image" in outputs:
            extras.append("can also produce images")
        if kind == "chat" and facts.get("tool_call"):
            yes, total = facts.get("tool_call_votes") or (1, 1)
            extras.append(f"calls tools / functions the application defines (function calling: {yes} of {total} "
                          f"offer{'s' if total != 1 else ''} on models.dev)")
        if kind == "chat" and facts.get("reasoning"):
            extras.append("has a reasoning (thinking) mode")
        if kind == "chat" and facts.get("structured_output"):
            extras.append("can answer in a given JSON schema")
        if facts.get("attachment"):
            extras.append("accepts file attachments")
        if facts.get("open_weights"):
            extras.append("open weights")
        text = sentence + (": " + "; ".join(extras) if extras else "") + "."
        dates = []
        if facts.get("release_date"):
            dates.append(f"released {facts['release_date']}")
        if facts.get("knowledge"):
            dates.append(f"knowledge cutoff {facts['knowledge']}")
        if dates:
            text += " " + _listing(dates)[:1].upper() + _listing(dates)[1:] + " (models.dev)."
        first = _SENTENCE.split(clean(described))[0] if described else ""
        if first:
            text += f" Provider description: {first.rstrip()}" + ("" if first.rstrip()[-1:] in ".!?" else ".")
        title = _KIND_TITLES[kind]
        if kind == "chat" and facts.get("tool_call"):
            title += " with function calling"
        flag = "tool_call" if kind == "chat" and facts.get("tool_call") else "main"
        caps.append({"title": title, "description": text, "_flag": flag})
    if context and context >= LONG_CONTEXT and kind in ("chat", "ocr", "translation", ""):
        text = f"{name} reads up to {int(context):,} tokens of context"
        if facts.get("max_output"):
            text += f" and writes up to {int(facts['max_output']):,} tokens in one answer"
        caps.append({"title": f"Long context: {int(context):,} tokens", "description": text + ".", "_flag": "context"})
    return caps


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
