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

from convert_common import Report, capability, clean, dedupe_capabilities, make_id, tags  # noqa: E402

NAME = "gorilla-apizoo"
ATTRIBUTION = "Gorilla API Zoo (ShishirPatil/gorilla, data/apizoo), Apache-2.0"
MAX_CALLS = 40
PRODUCT = {
    "Datadog_API": "Datadog API", "Gmail_API": "Gmail API", "GoogleFormsAPI": "Google Forms API",
    "REST_API_for_Documents": "Oracle Content Management REST API for Documents",
    "servicenow": "ServiceNow REST API", "yfinance": "yfinance", "aryanvichare": "Aryan Vichare's APIs",
}


def _product(stem: str) -> str:
    if stem in PRODUCT:
        return PRODUCT[stem]
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem.replace("_", " ")).replace(" API", " API").strip()


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return clean(json.dumps(value, ensure_ascii=False))
    return clean(value)


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    records = []
    for path in sorted(src.glob("*.json")):
        rows = report.read_json(path)
        if rows is None:
            report.rows += 1
            continue
        if not isinstance(rows, list):
            rows = [rows]
        caps, links, users = [], [], set()
        for index, row in enumerate(rows):
            report.rows += 1
            if not isinstance(row, dict) or not (row.get("api_name") or row.get("functionality")):
                report.skip(f"{path.name}[{index}]", "call without api_name or functionality")
                continue
            name = _text(row.get("api_name")) or _text(row.get("functionality"))[:80]
            func = _text(row.get("functionality")) or _text(row.get("description"))
            call = _text(row.get("api_call"))
            desc = func + (f" Call: {call}" if call else "")
            caps.append(capability(name, desc))
            meta = row.get("metadata") or row.get("meta_data") or {}
            link = meta.get("documentation_link") or meta.get("documentation") if isinstance(meta, dict) else ""
            if isinstance(link, str) and link.startswith("http"):
                links.append(link)
            if row.get("user_name"):
                users.add(str(row["user_name"]))
        distinct = dedupe_capabilities(caps, limit=MAX_CALLS)
        if not distinct:
            report.skip(path.name, "no usable calls")
            continue
        product = _product(path.stem)
        record: dict[str, Any] = {
            "id": make_id("apizoo", path.stem), "name": product, "type": "api", "pricing": "unknown",
            "description": f"{product}: {len(caps)} documented calls in the Gorilla API Zoo.",
            "tags": tags(["api", "rest-api", *product.lower().replace(" api", "").split()[:3]]),
            "signals": {"source": f"{ATTRIBUTION}: {path.name}", "calls": len(caps)},
            "capabilities": distinct, "_where": path.name,
        }
        if links:
            record["url"] = links[0]
        records.append(record)
    return records
