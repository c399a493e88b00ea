"""The catalog model: artifacts decomposed into capabilities, validated against the JSON Schema."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema

SCHEMA_PATH = Path(__file__).with_name("artifact.schema.json")
DEFAULT_PRICING = "free"
# Pricing values older clients send, read as today's vocabulary (docs/catalog.md).
OLD_PRICING = {"open-source": "open-weights"}


class CatalogError(ValueError):
    """A record that does not fit the schema; names the file, line and field."""

    def __init__(self, message: str, *, field: str = "", source: str = "", line: int = 0) -> None:
        self.message = message
        self.field = field
        self.source = source
        self.line = line
        where = f"{source}:{line}: " if source else (f"line {line}: " if line else "")
        at = f" (field '{field}')" if field else ""
        super().__init__(f"{where}{message}{at}")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The artifact JSON Schema, loaded once."""
    return json.loads(SCHEMA_PATH.read_text())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


@lru_cache(maxsize=1)
def _fast_check() -> Any:
    """The schema compiled to Python by fastjsonschema (~17x faster: the first start validates ~8k records).

    It only says valid / invalid; an invalid record is re-checked by jsonschema, which names the field. The
    schema uses no keyword whose meaning differs between draft 2020-12 and draft-07, so it compiles as 07.
    `use_default=False`: validation must never fill defaults into the record.
    """
    compiled = dict(schema(), **{"$schema": "http://json-schema.org/draft-07/schema#"})
    return fastjsonschema.compile(compiled, use_default=False)


def _errors(record: dict[str, Any]) -> list[jsonschema.ValidationError]:
    try:
        _fast_check()(record)
        return []
    except fastjsonschema.JsonSchemaException:
        return sorted(_validator().iter_errors(record), key=lambda e: list(e.absolute_path))


def _field_path(error: jsonschema.ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    if error.validator == "required" and isinstance(error.message, str):
        missing = re.match(r"'([^']+)' is a required property", error.message)
        if missing:
            path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    if error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message)
        if extra:
            path = f"{path}.{extra[0]}" if path else extra[0]
    return path


def valid_date(value: str) -> bool:
    """A real calendar date or date-time (the schema's pattern only checks the shape: 2026-02-30 and
    T25:61:61+99:99 fit it)."""
    try:
        if len(value) == 10:
            dt.date.fromisoformat(value)
        else:
            dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


MAX_COUNT = 1e15  # a stored count above this is out of range (clamped by scores, not shown by pages)


def read_count(raw: Any) -> tuple[float | None, str]:
    """A stored count (downloads, stars, context tokens...) as a usable number, and what was wrong with it.

    Records come from many sources and the API: a count may be a string, a bool, NaN, infinite, negative or an
    int beyond any float (10**400). Returns (value, "") for a finite number >= 0 (values above MAX_COUNT
    clamped to it, with "out of range"); (None, reason) otherwise. Scores and pages read counts through here."""
    if raw is None:
        return None, ""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None, f"is {type(raw).__name__}, not a number"
    try:
        value = float(raw)
    except OverflowError:
        return (MAX_COUNT, "is out of range") if raw > 0 else (None, "is out of range")
    if not (value >= 0 and value != float("inf")):  # NaN fails the first test
        return None, f"is {value}"
    return (MAX_COUNT, "is out of range") if value > MAX_COUNT else (value, "")


def capability_id(artifact_id: str, title: str, description: str) -> str:
    """Stable id: the same artifact and capability text always give the same id."""
    digest = hashlib.sha1(f"{title}\x1f{description}".encode()).hexdigest()[:12]
    return f"{artifact_id}#{digest}"


@dataclass(frozen=True)
class Capability:
    """What an artifact does, what is unique about it, and how it compares."""

    id: str
    artifact_id: str
    title: str
    description: str = ""
    unique: str = ""
    vs_alternatives: str = ""

    @property
    def text(self) -> str:
        """The text that is embedded and indexed for search."""
        return f"{self.title}. {self.description}".strip(". ") if self.title else self.description

    @property
    def label(self) -> str:
        """A short title for display; capabilities without a title use their first sentence."""
        if self.title:
            return self.title
        first = re.split(r"(?<=[.!?])\s", self.description, maxsplit=1)[0]
        return first if len(first) <= 120 else first[:117].rstrip() + "..."

    def to_record(self) -> dict[str, str]:
        out = {"title": self.title, "description": self.description,
               "unique": self.unique, "vs_alternatives": self.vs_alternatives}
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class Artifact:
    """One catalog entry with its capabilities and the signals the scores read."""

    id: str
    name: str
    type: str
    capabilities: tuple[Capability, ...]
    pricing: str = DEFAULT_PRICING
    description: str = ""
    url: str = ""
    tags: tuple[str, ...] = ()
    signals: dict[str, Any] = field(default_factory=dict)
    updated_at: str = ""
    aliases: tuple[str, ...] = ()
    same_as: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)  # explicit facts only; graph/facts.py derives the rest

    @classmethod
    def from_record(cls, record: Any, *, source: str = "", line: int = 0, validate: bool = True) -> Artifact:
        """Validate a raw record against the schema and build the artifact.

        `validate=False` is for the data dir's own canonical catalog, already validated at ingest.
        """
        if not isinstance(record, dict):
            raise CatalogError("record must be a JSON object", source=source, line=line)
        if isinstance(record.get("pricing"), str) and record["pricing"] in OLD_PRICING:
            record = dict(record, pricing=OLD_PRICING[record["pricing"]])
        errors = _errors(record) if validate else []
        if errors:
            err = errors[0]
            raise CatalogError(err.message, field=_field_path(err), source=source, line=line)
        aid = record["id"]
        if validate and not record["name"].strip():  # the canonical form strips: it must stay valid
            raise CatalogError("must not be blank", field="name", source=source, line=line)
        if validate and record.get("updated_at") and not valid_date(record["updated_at"]):
            raise CatalogError(f"{record['updated_at'][:40]!r} is not a real ISO 8601 date or date-time",
                               field="updated_at", source=source, line=line)
        caps: list[Capability] = []
        seen: set[str] = set()
        for i, raw in enumerate(record["capabilities"]):
            title = raw.get("title", "").strip()
            desc = raw.get("description", "").strip()
            if validate and not (title or desc):
                raise CatalogError("needs a title or description that is not blank", field=f"capabilities[{i}]",
                                   source=source, line=line)
            cid = capability_id(aid, title, desc)
            if cid in seen:
                continue
            seen.add(cid)
            caps.append(Capability(cid, aid, title, desc, raw.get("unique", "").strip(),
                                   raw.get("vs_alternatives", "").strip()))
        return cls(
            id=aid, name=record["name"].strip(), type=record["type"], capabilities=tuple(caps),
            pricing=record.get("pricing", DEFAULT_PRICING), description=record.get("description", ""),
            url=record.get("url", ""), tags=tuple(record.get("tags", ())),
            signals=dict(record.get("signals", {})), updated_at=record.get("updated_at", ""),
            aliases=tuple(record.get("aliases", ())), same_as=tuple(record.get("same_as", ())),
            facts=dict(record.get("facts") or {}),
        )

    def to_record(self) -> dict[str, Any]:
        """The canonical JSON form; `from_record(to_record())` round-trips."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type,
                               "pricing": self.pricing}
        for key in ("description", "url", "updated_at"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.tags:
            out["tags"] = list(self.tags)
        for key in ("aliases", "same_as"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        if self.signals:
            out["signals"] = self.signals
        if self.facts:
            out["facts"] = self.facts
        out["capabilities"] = [c.to_record() for c in self.capabilities]
        return out

    @property
    def lexical_text(self) -> str:
        """Names, tags and capability text for the BM25 index; the name counts three times."""
        parts = [self.name] * 3 + [self.id.replace("/", " ")] + list(self.tags) + [self.description]
        parts += [c.text for c in self.capabilities]
        return "\n".join(p for p in parts if p)
