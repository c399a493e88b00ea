#!/usr/bin/env python3
"""Gorilla API Zoo (Apache-2.0): one `api` artifact per product file, its calls rolled up into capabilities.

Files that are not valid JSON are reported and skipped. A product's calls become capabilities (title: the
call's name, description: what it does and the call itself), distinct by text, at most 40 per product (the
Oracle Primavera file alone documents 1,413 calls; the first 40 distinct ones are kept and the count of
all calls is in `signals.calls`).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import (  # noqa: E402
    CAP_DESCRIPTION_MAX,
    CAP_TEXT_MAX,
    TITLE_MAX,
    Report,
    clean,
    dedupe_capabilities,
    make_id,
    shorten,
    tags,
    whole_sentences,
)

NAME = "gorilla-apizoo"
ATTRIBUTION = "Gorilla API Zoo (ShishirPatil/gorilla, data/apizoo), Apache-2.0"
MAX_CALLS = 40
PRODUCT = {
    "Datadog_API": "Datadog API", "Gmail_API": "Gmail API", "GoogleFormsAPI": "Google Forms API",
    "REST_API_for_Documents": "Oracle Content Management REST API for Documents",
    "servicenow": "ServiceNow REST API", "yfinance": "yfinance",
}
# A file named after its contributor (`danielgeorge.json` documents Stripe): the product is named from its
# calls instead (a contributor's name is personal data, not an API's name).
_USER_FILE = re.compile(r"[a-z]+\d*")


def _product(stem: str) -> str:
    if stem in PRODUCT:
        return PRODUCT[stem]
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem.replace("_", " ")).replace(" API", " API").strip()


def read_lenient(path: Path, report: Report) -> Any | None:
    """A source file's JSON; a file with the two slips contributors made by hand (a comma after the last
    item, none between two objects) is read after that repair, and the repair is reported; anything else
    that does not parse is reported and skipped."""
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        report.skip(path.name, f"not readable: {exc}")
        return None
    except ValueError as exc:
        first = exc
    repaired = re.sub(r",\s*([}\]])", r"\1", text)
    repaired = re.sub(r"\}\s*\n(\s*)\{", r"},\n\1{", repaired)
    try:
        rows = json.loads(repaired, strict=False)
    except ValueError:
        report.skip(path.name, f"not valid JSON: {first}")
        return None
    report.notes.append(f"{path.name}: not valid JSON ({first}); read after adding missing commas between "
                        "objects and removing trailing ones")
    return rows


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return clean(json.dumps(value, ensure_ascii=False))
    return clean(value)


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    records = []
    for path in sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() == ".json"):
        rows = read_lenient(path, report)
        if rows is None:
            report.rows += 1
            continue
        if not isinstance(rows, list):
            rows = [rows]
        report.rows += len(rows)
        usable = []
        for index, row in enumerate(rows):
            if not isinstance(row, dict) or not (row.get("api_name") or row.get("functionality")):
                report.skip(f"{path.name}[{index}]", "call without api_name or functionality")
                continue
            usable.append(row)
        parts = split_products(path.stem, usable)
        for product, part in parts:
            record = _record(path, product, part, report)
            if record is None:
                continue
            if record["id"] != make_id("apizoo", path.stem) and part is parts[0][1]:
                record["_aliases"] = [make_id("apizoo", path.stem)]  # the file's old id: its largest product
            records.append(record)
    return records


def split_products(stem: str, rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """A product file is one product; a file named after its contributor may document several
    (`danielgeorge.json`: DocuSign and Stripe): one (product, rows) each, the largest first."""
    if stem in PRODUCT or not _USER_FILE.fullmatch(stem):
        return [(_product(stem), rows)]
    by_product: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, str] = {}
    for row in rows:
        head = _text(row.get("api_name")).split(" - ")[0].strip() or _product(stem)
        key = re.sub(r"\s+api$", "", head.lower())
        names.setdefault(key, head)
        by_product.setdefault(key, []).append(row)
    if len(by_product) == 1 and len(rows) == 1:
        return [(_text(rows[0].get("api_name")) or _product(stem), rows)]
    ordered = sorted(by_product.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [(names[key], part) for key, part in ordered]


def _record(path: Path, product: str, rows: list[dict[str, Any]], report: Report) -> dict[str, Any] | None:
    caps, links = [], []
    for row in rows:
        name = _text(row.get("api_name")) or _text(row.get("functionality"))[:80]
        func = _text(row.get("functionality")) or _text(row.get("description"))
        call = _text(row.get("api_call"))
        caps.append(call_capability(name, func, call))
        meta = row.get("metadata") or row.get("meta_data") or {}
        link = meta.get("documentation_link") or meta.get("documentation") if isinstance(meta, dict) else ""
        if isinstance(link, str) and link.strip().startswith("http"):
            links.append(link.strip())
    distinct = dedupe_capabilities(caps, limit=MAX_CALLS)
    if not distinct:
        report.skip(path.name, "no usable calls")
        return None
    own = product == _product(path.stem)
    record: dict[str, Any] = {
        "id": make_id("apizoo", path.stem if own else product), "name": product,
        "type": "api", "pricing": "unknown",
        "description": f"{product}: {len(caps)} documented calls in the Gorilla API Zoo.",
        "tags": tags(["api", "rest-api", *product.lower().replace(" api", "").split()[:3]]),
        "signals": {"source": f"{ATTRIBUTION}: {path.name}", "calls": len(caps)},
        "capabilities": distinct, "_where": path.name,
    }
    if links:
        record["url"] = links[0]
    return record


def call_capability(name: str, func: str, call: str) -> dict[str, str]:
    """One API call: what it does (whole sentences) and its endpoint, which is never cut off."""
    what = whole_sentences(func, max(200, CAP_DESCRIPTION_MAX - len(call) - 7)) if call else func
    return {"title": shorten(name, TITLE_MAX),
            "description": whole_sentences(what + (f" Call: {call}" if call else ""), CAP_TEXT_MAX)}
