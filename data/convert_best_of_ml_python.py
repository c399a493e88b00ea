#!/usr/bin/env python3
"""best-of-ml-python (CC-BY-SA-4.0): one `library` artifact per project, with its GitHub and PyPI signals.

The derived file (`data/catalog/best-of-ml-python.jsonl`) is share-alike: it carries the same license
(`data/catalog/LICENSE.best-of-ml-python`) and every record names the list in `signals.source`.
Category titles and subtitles come from `projects.yaml`. Projects marked `show: False` are kept (they are
real, listed projects the README hides only for length).
"""

from __future__ import annotations

import ast
import csv
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import (  # noqa: E402,E501
    Report,
    capability,
    clean,
    count,
    date,
    github_repo,
    is_osi,
    make_id,
    pypi_name,
    tags,
)

NAME = "best-of-ml-python"
ATTRIBUTION = ("best-of-ml-python by ml-tooling (github.com/ml-tooling/best-of-ml-python), CC-BY-SA-4.0; "
               "changed: converted to catalog records")


def categories(src: Path) -> dict[str, tuple[str, str]]:
    """category id -> (title, subtitle) from projects.yaml (a flat read: no YAML dependency needed)."""
    out: dict[str, tuple[str, str]] = {}
    text = (src / "projects.yaml").read_text(encoding="utf-8") if (src / "projects.yaml").is_file() else ""
    for block in re.finditer(r'-\s*category:\s*"([^"]+)"\s*\n\s*title:\s*"([^"]*)"(?:\s*\n\s*subtitle:\s*"([^"]*)")?',
                             text):
        out[block.group(1)] = (block.group(2), block.group(3) or "")
    return out


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    cats = categories(src)
    records: dict[str, dict[str, Any]] = {}
    with open(src / "projects.csv", encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            report.rows += 1
            where = f"projects.csv:{line}"
            name = clean(row.get("name"))
            url = (row.get("github_url") or row.get("homepage") or "").strip()
            if not name or not url.startswith("http"):
                report.skip(where, "no name or URL")
                continue
            repo = github_repo(url)
            category = (row.get("category") or "").strip()
            title, subtitle = cats.get(category, (category.replace("-", " ").title(), ""))
            desc = clean(row.get("description"))
            lic = (row.get("license") or "").strip()
            try:
                labels = [str(x) for x in ast.literal_eval(row.get("labels") or "[]")]
            except (ValueError, SyntaxError):
                labels = []
            signals: dict[str, Any] = {"source": ATTRIBUTION, "license": lic or "unknown"}
            for key, col in (("stars", "star_count"), ("forks", "fork_count"), ("contributors", "contributor_count"),
                             ("dependents", "dependent_project_count"), ("downloads", "pypi_monthly_downloads")):
                value = count(row.get(col))
                if value is not None:
                    signals[key] = value
            if "downloads" not in signals and count(row.get("monthly_downloads")) is not None:
                signals["downloads"] = count(row.get("monthly_downloads"))
            if row.get("pypi_id"):
                signals["pypi"] = pypi_name(row["pypi_id"])
            if repo:
                signals["github"] = repo
            caps = [library_capability(name, desc, title, lic, signals.get("pypi", ""), labels)]
            record = {
                "id": make_id("lib", repo.replace("/", "-") if repo else name), "name": name, "type": "library",
                "pricing": "open-weights" if is_osi(lic) else ("unknown" if not lic else "free"),
                "description": desc, "url": url, "tags": tags([title, category, *labels, "python"]),
                "signals": signals,
                "updated_at": date(row.get("last_commit_pushed_at")) or date(row.get("updated_at")),
                "capabilities": caps,
                "_category": title, "_where": where,
            }
            if not record["updated_at"]:
                del record["updated_at"]
            if record["id"] in records:
                report.skip(where, f"duplicate project: {record['id']}")
                continue
            records[record["id"]] = record
    return list(records.values())


def library_capability(name: str, desc: str, category: str, lic: str, pypi: str, labels: list[str]) -> dict[str, str]:
    """What the library does (the list's description) with the facts that place it: its category in the
    list, the frameworks it is labelled with, its license and PyPI package. The category's own blurb is the
    same on every library of the category, so it is not repeated here."""
    what = desc.rstrip(". ") + "." if desc else f"{name}: a Python library."
    facts = f"A Python library in best-of-ml-python's {category} category" if category else "A Python library"
    shown = [label for label in labels if label and label.lower() != "python"][:4]
    if shown:
        facts += " (labels: " + ", ".join(shown) + ")"
    if lic:
        facts += f", {lic} license"
    if pypi:
        facts += f", on PyPI as {pypi}"
    return capability(category or name, f"{what} {facts}.")
