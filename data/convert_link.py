"""Entity resolution across sources: one record per real thing, links between things that belong
together, and names that tell apart different things with one name.

Why: the same API, model or project is listed by several sources (Notion in the Gorilla API Zoo and in
public-apis; Kimi K2 in awesome-generative-ai and models.dev); a library and its MCP server are two
things that belong together; two different public APIs are both called "Dog Facts". Search must show one
card per thing and two cards that can be told apart. Rules in docs/catalog.md.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any
from urllib.parse import urlparse

from convert_common import Report, dedupe_capabilities, tags
from convert_resolve import identity

QUALIFIER = re.compile(r"\s*\([^)]*\)\s*$")
REGION = re.compile(r"^(?:us|eu|global|regional|apac|ap|jp|au|ca|uk|in|sa|us-gov|il)\.")


def name_key(name: str) -> str:
    """data/audit.py's normalised name (qualifier dropped, `+` read as `plus`)."""
    name = QUALIFIER.sub("", name.strip().lower()).replace("+", " plus ")
    name = REGION.sub("", name)
    name = re.sub(r"[-_:.]v\d+[-_:.]\d+$", "", name)
    return re.sub(r"[^a-z0-9]+", "", name)


def _absorb(into: dict[str, Any], other: dict[str, Any], caps: bool = True) -> None:
    """`other` is `into`: its id becomes an alias, its tags, signals and capabilities are kept."""
    into["_aliases"] = sorted({*into.get("_aliases", []), other["id"], *other.get("_aliases", [])})
    into["tags"] = tags([*into.get("tags", []), *other.get("tags", [])], limit=24)
    for key, value in other.get("signals", {}).items():
        if key != "source":
            into["signals"].setdefault(key, value)
    into["signals"]["source"] = (into["signals"].get("source", "") + "; " + other["signals"].get("source", ""))[:500]
    if caps:
        into["capabilities"] = dedupe_capabilities([*into["capabilities"], *other["capabilities"]], limit=40)
    if not into.get("url") and other.get("url"):
        into["url"] = other["url"]
    if into.get("pricing", "unknown") == "unknown" and other.get("pricing", "unknown") != "unknown":
        into["pricing"] = other["pricing"]  # public-apis lists free APIs: what the API Zoo does not say


def merge_same_api(apizoo: list[dict[str, Any]], public: list[dict[str, Any]], report: Report) -> list[dict]:
    """A public-apis entry whose name is an API Zoo product's (`Notion` / `Notion API`) is that product:
    merged into it. Returns the public-apis records left."""
    by_name = {name_key(re.sub(r"\bapi\b", "", r["name"], flags=re.I)): r for r in apizoo}
    kept = []
    for r in public:
        other = by_name.get(name_key(re.sub(r"\bapi\b", "", r["name"], flags=re.I)))
        if other is None:
            kept.append(r)
            continue
        _absorb(other, r)
        report.notes.append(f"{r['_where']}: {r['name']} is {other['id']} (same product name); merged")
    return kept


def merge_models(models: list[dict[str, Any]], awesome: list[dict[str, Any]], report: Report) -> list[dict]:
    """An awesome-generative-ai `model` entry whose name is a resolved model's identity (`Kimi K2` /
    `moonshotai/kimi-k2`) is that model: merged into it. Returns the entries left."""
    by_identity: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in models:
        by_identity[identity(m["id"].split("/", 1)[1])].append(m)
    kept = []
    for r in awesome:
        specific = re.search(r"\d", r["name"])  # `Kimi K2` is a model; `Claude`, `Grok` are product families
        found = by_identity.get(identity(r["name"])) if r["type"] == "model" and specific else None
        if not found or len(found) != 1:
            kept.append(r)
            continue
        _absorb(found[0], r, caps=False)
        report.notes.append(f"{r['_where']}: {r['name']} is {found[0]['id']} (same model); merged")
    return kept


def _github(r: dict[str, Any]) -> str:
    repo = r.get("signals", {}).get("github", "")
    if not repo:
        found = re.match(r"https?://(?:www\.)?github\.com/([^/\s#?]+)/([^/\s#?]+)", r.get("url", ""), re.I)
        repo = f"{found.group(1)}/{found.group(2)}".lower() if found else ""
    return repo


def _owner(r: dict[str, Any]) -> str:
    repo = _github(r)
    if repo:
        return repo.split("/")[0]
    return (urlparse(r.get("url", "")).hostname or "").removeprefix("www.").split(".")[0]


def link_same_as(groups: list[list[dict[str, Any]]], report: Report) -> None:
    """Different things that belong together get `same_as` each other: a library and the MCP server of
    the same project (same owner and the same name without `mcp`), an awesome-generative-ai product and
    the MCP server its maker publishes."""
    records = [r for g in groups for r in g]
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        key = name_key(re.sub(r"(?i)[-_ ]?mcp(?:[-_ ]server)?$|^mcp[-_ ]", "", r["name"]))
        owner = _owner(r)
        if key and owner:
            by_key[(owner, key)].append(r)
    linked = 0
    for members in by_key.values():
        kinds = {m["type"] for m in members}
        if len(members) < 2 or len(kinds) < 2 and "tool" not in kinds:
            continue
        if len({m["id"] for m in members}) < 2 or not any(m["id"].startswith("mcp/") for m in members):
            continue
        for m in members:
            m["_same_as"] = sorted({*m.get("_same_as", []), *(o["id"] for o in members if o is not m)})
        linked += 1
    report.notes.append(f"{linked} groups of different things that belong together linked with same_as "
                        "(a project's library or product and its MCP server)")


def tell_apart(records: list[dict[str, Any]], fixed: list[dict[str, Any]], report: Report) -> None:
    """Records of one type with the same name that are not one thing get a qualifier in their name: the
    owner of an MCP server, the host of an API or product, the id of a model (`Dog Facts
    (kinduff.github.io)`). The one whose id spells its name keeps it plain. `fixed` records (Gorilla, seed)
    are compared with, never renamed."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in [*records, *fixed]:
        groups[(r["type"], name_key(r["name"]) + "|" + _qualifier_text(r["name"]))].append(r)
    renamed = 0
    movable = {id(r) for r in records}
    for (_kind, key), members in groups.items():
        if key.startswith("|") or len(members) < 2:
            continue
        ids = {m["id"] for m in members}
        if all(ids - {m["id"]} <= set(m.get("_same_as", m.get("same_as", ()))) for m in members):
            continue
        spelled = [m for m in members if name_key(m["id"].split("/")[-1]) == name_key(m["name"])]
        for m in members:
            if id(m) not in movable or (len(spelled) == 1 and m is spelled[0]):
                continue
            m["name"] = f"{m['name']} ({_qualifier(m)})"
            renamed += 1
    report.notes.append(f"{renamed} records that share a name with a different thing carry a qualifier in it")


def _qualifier_text(name: str) -> str:
    found = QUALIFIER.search(name)
    return re.sub(r"[^a-z0-9]+", "", found.group(0).lower()) if found else ""


def _qualifier(r: dict[str, Any]) -> str:
    if r["id"].startswith("mcp/") or r["id"].startswith("lib/"):
        return _github(r) or r["id"]
    if r["type"] in ("model", "fine-tune"):
        return r["id"]
    host = (urlparse(r.get("url", "")).hostname or "").removeprefix("www.")
    return (host + urlparse(r.get("url", "")).path.rstrip("/") if host in ("github.com", "gitlab.com") else host) \
        or r["id"]
