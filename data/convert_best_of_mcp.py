#!/usr/bin/env python3
"""best-of-mcp-servers (tolkonepiu/best-of-mcp-servers, CC-BY-SA-4.0): usage of 405 MCP servers (GitHub
stars, contributors, package downloads), for Adoption.

Share-alike: the list's TEXT (descriptions, categories) stays in its own catalog file
(best-of-mcp-servers.jsonl, under CC-BY-SA-4.0 with LICENSE.best-of-mcp-servers beside it). `join_usage`
adds only the numbers (stars, contributors, monthly downloads, with their source) to MCP servers of other
files that have the same GitHub repository; the servers no other file has become artifacts of that file.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, capability, clean, count, date, github_repo, is_osi, make_id, tags  # noqa: E402

NAME = "best-of-mcp-servers"
SOURCE = "best-of-mcp-servers (tolkonepiu/best-of-mcp-servers, 2026-07-01, CC-BY-SA-4.0)"
SNAPSHOT = "2026-07-01"
USAGE_KEYS = ("stars", "contributors", "downloads", "forks")


def usage(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, column in (("stars", "star_count"), ("contributors", "contributor_count"), ("forks", "fork_count")):
        if count(row.get(column)) is not None:
            out[key] = count(row.get(column))
    downloads = count(row.get("monthly_downloads")) or count(row.get("pypi_monthly_downloads"))
    if downloads:
        out["downloads"] = downloads
        out["downloads_source"] = f"best-of-mcp-servers (monthly package downloads, {SNAPSHOT})"
    return out


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    out = []
    path = src / "2026-07-01_projects.csv"
    for line, row in enumerate(csv.DictReader(path.open(encoding="utf-8")), start=2):
        report.rows += 1
        where = f"{path.name}:{line}"
        repo = github_repo(row.get("github_url", "")) or (row.get("github_id") or "").lower()
        name = clean(row.get("name"))
        if not repo or not name:
            report.skip(where, "no GitHub repository or name")
            continue
        desc = clean(row.get("description")).rstrip(".")
        category = clean(row.get("category")).replace("-", " ")
        lic = (row.get("license") or "").strip() or "unknown"
        signals = {"source": f"{SOURCE}: {where}", "github": repo, "license": lic, "integrations": ["mcp"],
                   "usage_source": SOURCE, **usage(row)}
        numbers = [f"{signals[k]:,} {w}" for k, w in (("stars", "GitHub stars"), ("contributors", "contributors"),
                                                       ("downloads", "package downloads a month")) if k in signals]
        text = (f"{desc}." if desc else f"{name} is an MCP server.") + f" Repository {repo}, licence {lic}"
        text += f"; {', '.join(numbers)} ({SNAPSHOT})." if numbers else "."
        caps = [capability(f"MCP server: {name}", text)]
        homepage = row.get("homepage") or ""
        out.append({
            "id": make_id("mcp", repo.replace("/", "-")), "name": name, "type": "tool",
            "pricing": "open-source" if is_osi(lic) else "free", "description": f"{desc}." if desc else "",
            "url": homepage if homepage.startswith("http") else f"https://github.com/{repo}",
            "tags": tags(["mcp", "mcp-server", category]), "signals": signals, "capabilities": caps,
            "updated_at": date(row.get("updated_at")) or SNAPSHOT, "_where": where,
        })
    return out


def join_usage(servers: list[dict[str, Any]], others: list[dict[str, Any]], report: Report) -> list[dict[str, Any]]:
    """Numbers onto `others` with the same GitHub repository; returns the servers no other record has."""
    by_repo = {r["signals"]["github"].lower(): r for r in others if r.get("signals", {}).get("github")}
    kept, joined = [], 0
    for s in servers:
        other = by_repo.get(s["signals"]["github"])
        if other is None:
            kept.append(s)
            continue
        joined += 1
        for key in (*USAGE_KEYS, "downloads_source"):
            if key in s["signals"] and key not in other["signals"]:
                other["signals"][key] = s["signals"][key]
        other["signals"]["usage_source"] = SOURCE
    report.notes.append(f"joined stars / contributors / downloads onto {joined} MCP servers by GitHub repository; "
                        f"{len(kept)} servers no other source has became artifacts")
    return kept
