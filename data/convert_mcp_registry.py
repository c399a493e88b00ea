#!/usr/bin/env python3
"""MCP registry seed (MIT): one `tool` artifact per MCP server (a tool AI agents call).

Pricing is `open-weights` (source published, docs/catalog.md): every entry of the seed is a public source
repository. A server whose package declares environment variables (an API key, a token) needs an account
with another service: that is said in a capability, not guessed into a price. PyPI package names are kept
so `convert_all` can join 30-day downloads from top-pypi.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_clean import import_day  # noqa: E402
from convert_common import Report, capability, clean, date, github_repo, make_id, pypi_name, tags  # noqa: E402,E501

NAME = "mcp-registry"
ATTRIBUTION = "MCP registry seed (modelcontextprotocol/registry, data/seed_2025_05_16.json), MIT"


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    path = src / "seed_2025_05_16.json"
    servers = report.read_json(path)
    if servers is None:
        return []
    records: dict[str, dict[str, Any]] = {}
    for index, server in enumerate(servers):
        report.rows += 1
        where = f"{path.name}[{index}]"
        if not isinstance(server, dict) or not server.get("name"):
            report.skip(where, "server without a name")
            continue
        full = clean(server["name"])
        short = full.split("/")[-1]
        desc = clean(server.get("description"))
        repo_url = str((server.get("repository") or {}).get("url") or "")
        if not desc:
            report.skip(where, "server without a description")
            continue
        packages = [p for p in server.get("packages") or [] if isinstance(p, dict)]
        env = sorted({str(v.get("name")) for p in packages for v in p.get("environment_variables") or []
                      if isinstance(v, dict) and v.get("name")})
        installs = [f"{p.get('registry_name')} package {p.get('name')}" for p in packages
                    if p.get("registry_name") not in (None, "unknown") and p.get("name")]
        caps = [server_capability(short, desc, installs)]
        if env:
            caps.append(capability("Needs credentials", f"{short} is configured with environment variables "
                                   + ", ".join(env[:6]) + " (keys or settings of the service it connects to)."))
        signals: dict[str, Any] = {"source": f"{ATTRIBUTION}: {where}"}
        pypi = [pypi_name(str(p["name"])) for p in packages if p.get("registry_name") == "pypi" and p.get("name")]
        if pypi:
            signals["pypi"] = pypi[0]
        if github_repo(repo_url):
            signals["github"] = github_repo(repo_url)
        signals["integrations"] = ["mcp"]
        aid = make_id("mcp", full.removeprefix("io.github.").replace("/", "-"))
        if aid in records:
            report.skip(where, f"duplicate server: {full}")
            continue
        record = {
            "id": aid, "name": short, "type": "tool", "pricing": "open-weights", "description": desc,
            "tags": tags(["mcp", "mcp-server", "agent-tool", *[p.get("registry_name") or "" for p in packages
                                                                if p.get("registry_name") != "unknown"]]),
            "signals": signals, "capabilities": caps, "_where": where,
        }
        if repo_url.startswith("http"):
            record["url"] = repo_url
        released = date((server.get("version_detail") or {}).get("release_date"))
        if released:
            record["updated_at"] = released
        record["_full"] = full
        records[aid] = record
    out = list(records.values())
    tell_apart(out, report)
    drop_import_day(out, report)
    return out


GENERIC = {"mcp", "mcp-server", "server", "mcp_server", "mcpserver"}


def _owner(record: dict[str, Any]) -> str:
    full = record["_full"]
    if "/" in full:
        return full.split("/")[0].removeprefix("io.github.")
    return record["signals"].get("github", "").split("/")[0]


def tell_apart(records: list[dict[str, Any]], report: Report) -> None:
    """Servers that share a name (or are named just `mcp`) are named with their owner too:
    `mcp-proxy (sparfenyuk)`. Two different things with one name are told apart, never merged."""
    counts = Counter(r["name"].lower() for r in records)
    renamed = 0
    for r in records:
        owner = _owner(r)
        if owner and (counts[r["name"].lower()] > 1 or r["name"].lower() in GENERIC):
            r["name"] = f"{r['name']} ({owner})"
            renamed += 1
    report.notes.append(f"{renamed} servers that share a name, or are named just 'mcp', carry their owner in it")


def drop_import_day(records: list[dict[str, Any]], report: Report) -> None:
    """The seed gives most servers one release date: the day they were imported into the registry, not a
    date of the server. Such a date is left unknown."""
    day = import_day(r.get("updated_at", "") for r in records)
    if not day:
        return
    dropped = 0
    for r in records:
        if r.get("updated_at") == day:
            del r["updated_at"]
            dropped += 1
    report.notes.append(f"{dropped} servers dated {day}, the registry's import day: their date is left unknown")


def server_capability(short: str, desc: str, installs: list[str]) -> dict[str, str]:
    """What the server does (the registry's description) and how it is installed, in one capability. The
    registry seed does not list the tools a server exposes, so none are claimed."""
    what = desc.rstrip(". ") + "." if desc else f"{short}: an MCP server."
    how = ("Installed as an MCP server from " + ", ".join(installs[:3]) + ".") if installs else \
        "An MCP server run from its source repository (no package in the registry)."
    return capability(f"MCP server: {short}", f"{what} {how}")
