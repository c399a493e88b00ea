#!/usr/bin/env python3
"""ir_datasets documentation (ir-datasets 0.6.3, `ir_datasets/docs/*.yaml`, Apache-2.0 package): one
`dataset` artifact per retrieval collection family, and one per first-level subset of the benchmark suites
(BEIR's arguana, scifact, ...), which are datasets of their own.

Descriptions are HTML: stripped to text; their links give the homepage (a "website" / "homepage" link
first, else the first link). The licence only where the description states one, else "unknown" (never
the package's Apache-2.0). The YAML is read as data (yaml.safe_load), nothing is imported.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, capability, clean, first_sentences, tags  # noqa: E402
from convert_tfds import licence_in  # noqa: E402

NAME = "ir-datasets"
ATTRIBUTION = "ir_datasets documentation (allenai/ir_datasets 0.6.3, ir_datasets/docs/, Apache-2.0)"
DOCS_URL = "https://ir-datasets.com/"
SUITES = ("beir", "nano-beir", "lotte", "bright")
_LINK = re.compile(r'<a\s+href="([^"]+)"[^>]*>(.*?)</a>', re.I | re.S)


def text_of(desc: str) -> str:
    return clean(html.unescape(re.sub(r"<li>.*?</li>", " ", desc or "", flags=re.S)))


def homepage(desc: str) -> str:
    links = [(url, clean(label).lower()) for url, label in _LINK.findall(desc or "") if url.startswith("http")]
    for url, label in links:
        if any(w in label for w in ("website", "homepage", "home page", "dataset")) and "paper" not in label:
            return url
    return links[0][0] if links else ""


def record(family: str, sub: str, entry: dict[str, Any], pretty: str, where: str) -> dict[str, Any]:
    desc = entry.get("desc") or ""
    text = text_of(desc)
    name = pretty or (f"{family}/{sub}" if sub else family)
    url = homepage(desc) or f"{DOCS_URL}{family}.html"
    first = first_sentences(text, 400)
    subsets = entry.get("_subsets", [])
    ident = f"{family}/{sub}" if sub else family
    extra = (f"ir_datasets provides {len(subsets)} subsets of it, e.g. {', '.join(subsets[:6])}." if subsets
             else f"Loads as ir_datasets.load('{ident}').")
    caps = [capability(f"Retrieval collection: {name}", f"{first} {extra}".strip())]
    aid = "dataset/ir." + re.sub(r"[^a-z0-9._-]+", "-", (f"{family}.{sub}" if sub else family).lower()).strip("-.")
    return {
        "id": aid[:200], "name": name, "type": "dataset", "pricing": "free",
        "description": text or f"The {name} collection of ir_datasets.", "url": url,
        "tags": tags(["dataset", "information-retrieval", "ir-datasets", family, *([sub] if sub else [])]),
        "signals": {"source": f"{ATTRIBUTION}: {where}", "license": licence_in(text), "tasks": ["retrieval"],
                    "homepage": url, "ir_datasets_id": f"{family}/{sub}" if sub else family,
                    "frameworks": ["ir_datasets"]},
        "capabilities": caps,
        "_where": where, "_key": (sub if family == "beir" else f"{family}-{sub}") if sub else family,
    }


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((src / "docs").glob("*.yaml")):
        family = path.stem
        report.rows += 1
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            report.skip(path.name, f"not valid YAML: {exc}")
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("_"), dict):
            report.skip(path.name, "no `_` family entry")
            continue
        top = dict(doc["_"])
        subsets = [str(k) for k in doc if k != "_"]
        top["_subsets"] = subsets
        pretty = clean(top.get("pretty_name") or family)
        out.append(record(family, "", top, pretty, f"docs/{path.name}"))
        if family in SUITES:
            firsts = [k for k in doc if isinstance(k, str) and k != "_" and "/" not in k and isinstance(doc[k], dict)]
            for sub in firsts:
                report.rows += 1
                out.append(record(family, sub, doc[sub], f"{family}/{sub}", f"docs/{path.name}: {sub}"))
    return out
