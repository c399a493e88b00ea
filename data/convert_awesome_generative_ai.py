#!/usr/bin/env python3
"""awesome-generative-ai (CC0-1.0): generative-AI products, tools and agents listed by section.

Entries are `- [Name](url) - description.` lines under `##` / `###` headings of README.md and
DISCOVERIES.md; the reading, learning and "more lists" sections are skipped. Type by section: Other ->
`other` (the list's own word), Agents -> `agent`, Models -> `model` (`api` when the name says API),
libraries -> `library`, the rest -> `tool`.
Pricing: `open-weights` (source published) when marked `#opensource`, `free` when the description says the
product is free (not "error-free" or "royalty-free"), else `unknown` (the list says nothing about price).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, capability, clean, github_repo, make_id, tags  # noqa: E402

NAME = "awesome-generative-ai"
ATTRIBUTION = "awesome-generative-ai (steven2358/awesome-generative-ai), CC0-1.0"
SKIP = {"recommended reading", "milestones", "learning resources", "more lists", "lists on chatgpt", "contents"}
_ENTRY = re.compile(r"^\s*-\s*\[([^\]]+)\]\(([^)\s]+)\)\s*[-–—:]?\s*(.*)$")
_OPEN = re.compile(r"\[?#opensource\]?(\([^)]*\))?", re.I)
_FREE = re.compile(r"(?<![-\w])free(?![-\w])(?! (?:and|&) open)|free-to-use|for free", re.I)


def _kind(section: str, sub: str, name: str) -> str:
    s, t = section.lower(), sub.lower()
    if s == "other" and not t:
        return "other"
    if s == "agents" or "agent" in t:
        return "agent"
    if t == "models":
        return "api" if re.search(r"\bAPI\b", name) else "model"
    if "libraries" in t:
        return "library"
    if t == "leaderboards":
        return "benchmark"
    return "tool"


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for file in ("README.md", "DISCOVERIES.md"):
        path = src / file
        if not path.is_file():
            report.skip(file, "missing")
            continue
        section = sub = ""
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.startswith("## "):
                section, sub = clean(line[3:]), ""
                continue
            if line.startswith("### "):
                sub = clean(line[4:])
                continue
            found = _ENTRY.match(line)
            if not found or section.lower() in SKIP or sub.lower() in SKIP or not section:
                continue
            report.rows += 1
            where = f"{file}:{line_no}"
            name, url, rest = clean(found.group(1)), found.group(2).strip(), found.group(3)
            open_source = bool(_OPEN.search(rest))
            repo_link = re.search(r"#opensource\]\((https://github\.com/[^)]+)\)", rest)
            desc = clean(_OPEN.sub("", rest)).strip(" .") + "."
            if not url.startswith("http") or len(desc) < 5:
                report.skip(where, "no http(s) URL or no description")
                continue
            kind = _kind(section, sub, name)
            pricing = "open-weights" if open_source else ("free" if _FREE.search(desc) else "unknown")
            label = sub or section
            caps = [entry_capability(name, desc, kind, section, label, open_source)]
            aid = make_id("genai", name)
            if aid in records:
                records[aid]["tags"] = tags([*records[aid]["tags"], section, sub])
                continue
            signals: dict[str, Any] = {"source": f"{ATTRIBUTION}: {where}"}
            repo = github_repo(repo_link.group(1) if repo_link else url)
            if repo:
                signals["github"] = repo
            records[aid] = {
                "id": aid, "name": name, "type": kind, "pricing": pricing, "description": desc, "url": url,
                "tags": tags([section, sub, "generative-ai", "open-source" if open_source else ""]),
                "signals": signals, "capabilities": caps, "_category": label, "_where": where,
            }
    return list(records.values())


def entry_capability(name: str, desc: str, kind: str, section: str, label: str, open_source: bool) -> dict[str, str]:
    """The entry's one line (what it does) with where the list files it and whether it is marked open source:
    the line alone would only repeat the record's description."""
    what = desc.rstrip(". ") + "." if desc else f"{name}."
    where = f"Listed under {label}" + (f" ({section})" if section and section != label else "")
    where += " and marked open source" if open_source else ""
    title = f"{label}: {name}" if kind != "model" else f"{section} model: {name}"
    return capability(title, f"{what} {where} in awesome-generative-ai.")
