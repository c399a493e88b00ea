"""What the artifact page shows of a record's facts: the facts panel, offers (sorted), benchmarks, links.

Why a module: api/pages.py stays a router; this turns the artifact response (facts, signals, datasets,
credits) into rows a template prints, with "no data" where the record says nothing, never 0.
"""

from __future__ import annotations

import math
from typing import Any

NO_DATA = "no data"
OFFER_SORTS = {"provider": lambda o: (o["provider"].lower(),),
               "input": lambda o: (o.get("input_per_mtok") is None, o.get("input_per_mtok") or 0),
               "output": lambda o: (o.get("output_per_mtok") is None, o.get("output_per_mtok") or 0),
               "context": lambda o: (o.get("context") is None, -(o.get("context") or 0))}
USAGE = (("downloads", "Downloads"), ("stars", "GitHub stars"), ("forks", "Forks"), ("likes", "Likes"),
         ("dependents", "Dependents"), ("contributors", "Contributors"))


def money(value: float | None) -> str:
    if value is None:
        return NO_DATA
    return "free" if value == 0 else f"${value:,.2f}" if value >= 0.01 else f"${value:.2g}"


def tokens(value: int | None) -> str:
    return NO_DATA if value is None else f"{value:,} tokens"


def _listed(value: list | None) -> str:
    return ", ".join(str(v) for v in value) if value else NO_DATA


def _yes_no(value: bool | None) -> str:
    return NO_DATA if value is None else ("yes" if value else "no")


def maker(signals: dict) -> str | None:
    """The provider marked as the maker among the offers, else the record's contributor."""
    for offer in signals.get("offers") or ():
        if isinstance(offer, dict) and offer.get("maker"):
            return str(offer.get("provider"))
    return str(signals["contributor"]) if signals.get("contributor") else None


def facts_panel(a: dict) -> list[tuple[str, str]]:
    """(label, display) rows of the facts panel, in the order people compare on."""
    f, s = a["facts"], a["signals"]
    rows = [("Type", a["type"]), ("Maker", maker(s) or NO_DATA), ("Licence", f["license"] or NO_DATA),
            ("Open weights", _yes_no(f["open_weights"]))]
    if a["type"] in ("model", "fine-tune") or f["input_usd_per_mtok"] is not None:
        rows += [("Input price", money(f["input_usd_per_mtok"]) + (" per million tokens"
                                                                  if f["input_usd_per_mtok"] else "")),
                 ("Output price", money(f["output_usd_per_mtok"]) + (" per million tokens"
                                                                    if f["output_usd_per_mtok"] else "")),
                 ("Input modalities", _listed(f["modalities_in"])), ("Output modalities", _listed(f["modalities_out"])),
                 ("Context window", tokens(f["context_tokens"])), ("Longest output", tokens(f["max_output_tokens"]))]
    if a["type"] == "dataset":
        rows += [("Languages", _listed(f["languages"])), ("Tasks", _listed(f["tasks"])), ("Size", f["size"] or NO_DATA)]
    rows += [("Released", f["released"] or NO_DATA), ("Updated", f["updated"] or NO_DATA)]
    return rows


def usage(signals: dict) -> list[tuple[str, str, str]]:
    """(measure, number, where it comes from) for each usage count the record has."""
    out = []
    for key, label in USAGE:
        value = signals.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            where = signals.get(f"{key}_source") or signals.get("usage_source") or signals.get("source", "")
            out.append((label, f"{int(value):,}", str(where).split(":")[0]))
    return out


def offers(signals: dict, sort: str) -> list[dict]:
    """Every provider's offer with displays, sorted by `sort` (provider, input, output or context)."""
    rows = [o for o in signals.get("offers") or () if isinstance(o, dict) and o.get("provider")]
    rows = sorted(rows, key=OFFER_SORTS.get(sort, OFFER_SORTS["input"]))
    return [{**o, "input": money(o.get("input_per_mtok")), "output": money(o.get("output_per_mtok")),
             "context_display": NO_DATA if o.get("context") is None else f"{o['context']:,}"} for o in rows]


def benchmarks(signals: dict) -> list[dict[str, Any]]:
    """Benchmark results as published, measured ones first, then by name."""
    items = [b for b in signals.get("benchmarks") or () if isinstance(b, dict) and b.get("name")]
    return sorted(items, key=lambda b: (not b.get("measured"), str(b["name"]).lower()))


def links(a: dict) -> list[tuple[str, str]]:
    """(label, url) of the homepage, repository, paper and model or dataset card the record names."""
    s, out = a["signals"], []
    if a.get("url"):
        out.append(("Homepage", a["url"]))
    if s.get("homepage") and s["homepage"] != a.get("url"):
        out.append(("Homepage" if not a.get("url") else "Source page", s["homepage"]))
    if s.get("github"):
        repo = str(s["github"])
        out.append(("Repository", repo if repo.startswith("http") else f"https://github.com/{repo}"))
    if s.get("paper"):
        out.append(("Paper", str(s["paper"])))
    if s.get("hf_dataset"):
        out.append(("Dataset card", f"https://huggingface.co/datasets/{s['hf_dataset']}"))
    if s.get("pypi"):
        out.append(("PyPI", f"https://pypi.org/project/{s['pypi']}/"))
    return [(label, url) for label, url in out if str(url).startswith(("https://", "http://"))]
