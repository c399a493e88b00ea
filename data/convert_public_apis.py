#!/usr/bin/env python3
"""public-apis (MIT): one `api` artifact per row of the category tables (name, description, auth, HTTPS, CORS).

The list is of free public APIs, so pricing is `free`. The sponsored table at the top (no Auth column) is
skipped. The same API listed twice (same name and URL) is one artifact carrying both categories.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, capability, clean, make_id, tags  # noqa: E402

NAME = "public-apis"
ATTRIBUTION = "public-apis (github.com/public-apis/public-apis), MIT"
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\s*\)")
AUTH = {"no": "no authentication", "apikey": "an API key", "oauth": "OAuth", "x-mashape-key": "a Mashape key",
        "user-agent": "a User-Agent header"}


def _site(url: str) -> str:
    return re.sub(r"^https?://(www[.])?", "", url).split("/")[0]


def _host(url: str) -> str:
    """The site of a URL; on a code host, the owner's part of it (two projects on GitHub are two sites)."""
    parts = re.sub(r"^https?://(www[.])?", "", url).lower().split("/")
    return "/".join(parts[:2]) if parts[0] in ("github.com", "gitlab.com", "bitbucket.org") else parts[0]


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    text = (src / "README.md").read_text(encoding="utf-8")
    category, has_auth = "", False
    records: dict[str, dict[str, Any]] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.startswith("### "):
            category, has_auth = clean(line[4:]), False
            continue
        if not line.startswith("|") and not line.startswith("API |"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].lower() in ("api",) and any(c.lower() == "auth" for c in cells):
            has_auth = True
            continue
        if not has_auth or not category or set(cells[0]) <= set(":- "):
            continue
        report.rows += 1
        where = f"README.md:{line_no}"
        link = _LINK.search(cells[0])
        if len(cells) < 5 or not link:
            report.skip(where, "not a 5-column row with a linked API name")
            continue
        name, url = clean(link.group(1)), link.group(2).strip()
        desc = clean(cells[1])
        auth = cells[2].strip("` ").lower()
        https, cors = cells[3].strip().lower(), cells[4].strip().lower()
        if not url.startswith("http") or not desc:
            report.skip(where, "no http(s) URL or no description")
            continue
        aid = make_id("api", name)
        if aid in records:
            if records[aid]["url"] == url or _host(records[aid]["url"]) == _host(url):  # one API, two pages
                if records[aid]["url"] != url:
                    records[aid]["_aliases"] = [make_id("api", f"{name}-{_site(url)}")]
                records[aid]["tags"] = tags([*records[aid]["tags"], category])
                records[aid]["_categories"].append(category)
                continue
            aid = make_id("api", f"{name}-{_site(url)}")
            if aid in records:
                report.skip(where, f"duplicate API: {name}")
                continue
        access = f"Access needs {AUTH.get(auth, auth or 'nothing stated')}"
        access += "; served over HTTPS" if https == "yes" else "; no HTTPS"
        access += "; CORS enabled" if cors == "yes" else ("; no CORS" if cors == "no" else "; CORS unknown")
        caps = [api_capability(name, desc, category, access)]
        records[aid] = {
            "id": aid, "name": name, "type": "api", "pricing": "free", "description": desc, "url": url,
            "tags": tags([category, "public-api", "no-auth" if auth == "no" else auth]),
            "signals": {"source": f"{ATTRIBUTION}: {where}", "auth": auth or "unknown", "https": https == "yes",
                        "cors": cors},
            "capabilities": caps, "_category": category, "_categories": [category], "_where": where,
        }
    return list(records.values())


def api_capability(name: str, desc: str, category: str, access: str) -> dict[str, str]:
    """What the API gives (the list's own words) and how it is reached (auth, HTTPS, CORS), in one
    capability: the description alone would only repeat the record's, the access line alone is the same
    on hundreds of APIs."""
    what = desc.rstrip(". ") + "." if desc else f"A free public {category} API."
    return capability(f"{category} API" if desc else f"{name} API", f"{what} {access} (public-apis, {category}).")
