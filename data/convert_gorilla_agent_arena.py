#!/usr/bin/env python3
"""Gorilla Agent Arena (Apache-2.0): one `agent` artifact per agent, with its Elo ratings by category.

`agents_desc.txt` gives name, description and example prompts; `elo_ratings_by_category.txt` rates each
(agent, base model) pair per category. An agent's quality signal is its best Elo per category
(`signals.elo`: {category: {"elo", "base_model"}}); its rank among the agents rated in that category is
stated in `vs_alternatives`, computed here from the same file. Pricing is `unknown`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, capability, clean, make_id, ordinal, sentences, tags  # noqa: E402

NAME = "gorilla-agent-arena"
ATTRIBUTION = "Gorilla Agent Arena (ShishirPatil/gorilla, agent-arena), Apache-2.0"
_RATING = re.compile(r"^(.*?)\s*\(([^()]*)\):\s*(-?\d+(?:\.\d+)?)\s*$")


def read_elo(path: Path, report: Report) -> dict[str, dict[str, tuple[float, str]]]:
    """agent name (lowercase) -> category -> (best Elo, base model)."""
    out: dict[str, dict[str, tuple[float, str]]] = {}
    category = ""
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        head = re.match(r"ELO Ratings for (.+?) category:", line.strip())
        if head:
            category = head.group(1)
            continue
        if not line.strip():
            continue
        found = _RATING.match(line.strip())
        if not found or not category:
            report.skip(f"{path.name}:{line_no}", "not a rating line under a category")
            continue
        agent, model, elo = found.group(1).strip().lower(), found.group(2).strip(), float(found.group(3))
        best = out.setdefault(agent, {}).get(category)
        if best is None or elo > best[0]:
            out[agent][category] = (elo, model)
    return out


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    elo = read_elo(src / "elo_ratings_by_category.txt", report)
    text = (src / "agents_desc.txt").read_text(encoding="utf-8")
    rated_in: dict[str, list[tuple[float, str]]] = {}
    for agent, cats in elo.items():
        for cat, (value, _) in cats.items():
            rated_in.setdefault(cat, []).append((value, agent))
    records: dict[str, dict[str, Any]] = {}
    for block in text.split("-----"):
        name_m = re.search(r"^Name:\s*(.+?)\s*$", block, re.M)
        if not name_m:
            continue
        report.rows += 1
        name = clean(name_m.group(1))
        desc_m = re.search(r"^Description:\s*(.+?)\s*$", block, re.M)
        desc = clean(desc_m.group(1)) if desc_m else ""
        prompts = [clean(p).strip('"') for p in re.findall(r"^Prompt \d+:\s*(.+?)\s*$", block, re.M)]
        if not desc:
            report.skip(f"agents_desc.txt ({name})", "agent without a description")
            continue
        ratings = elo.get(name.lower(), {})
        caps = [agent_capability(name, desc, prompts)]
        for cat, (value, model) in sorted(ratings.items()):
            ranked = sorted(rated_in[cat], reverse=True)
            place = [a for _, a in ranked].index(name.lower()) + 1
            caps.append(capability(
                f"{cat} tasks", f"{name} is rated in the Agent Arena's {cat} category: best Elo {value:.0f} "
                f"(with {model}).",
                vs=f"{ordinal(place)} of {len(ranked)} agents rated in {cat} in the Agent Arena (by best Elo)."))
        signals: dict[str, Any] = {"source": f"{ATTRIBUTION}: agents_desc.txt, elo_ratings_by_category.txt"}
        if ratings:
            signals["elo"] = {cat: {"elo": round(v, 1), "base_model": m} for cat, (v, m) in sorted(ratings.items())}
        framework = name.split()[0].lower()
        if framework in ("langchain", "llamaindex", "crewai", "openai", "anthropic", "composio"):
            signals["frameworks"] = [framework]
        aid = make_id("agent", name)
        if aid in records:
            report.skip(f"agents_desc.txt ({name})", "duplicate agent")
            continue
        records[aid] = {
            "id": aid, "name": name, "type": "agent", "pricing": "unknown", "description": desc,
            "url": "https://gorilla.cs.berkeley.edu/leaderboard.html",
            "tags": tags(["agent", framework, *sorted(ratings)]), "signals": signals,
            "capabilities": caps, "_where": f"agents_desc.txt ({name})",
        }
    unrated = [r["name"] for r in records.values() if "elo" not in r["signals"]]
    if unrated:
        report.notes.append(f"{len(unrated)} agents have no Elo rating in the ratings file")
    return list(records.values())


def agent_capability(name: str, desc: str, prompts: list[str]) -> dict[str, str]:
    """What the agent does (the arena's first two sentences about it) with the example requests the arena
    lists for it: the sentences alone would only repeat the record's description."""
    what = " ".join(sentences(desc)[:2])
    if prompts:
        what += " Example requests: " + " ".join(p.rstrip() for p in prompts[:2])
    return capability(f"Agent: {name}", what)
