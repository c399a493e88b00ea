#!/usr/bin/env python3
"""awesome-chatgpt-prompts (CC0-1.0): one `prompt` artifact per row (act = name, prompt = body).

Pricing `free` (CC0 text). Capabilities: the role the prompt sets up (title: the act) described by the
prompt's first sentences, and what the output is (TEXT / STRUCTURED / IMAGE) from the `type` column.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, capability, clean, make_id, sentences, shorten, tags  # noqa: E402

NAME = "prompts"
ATTRIBUTION = "awesome-chatgpt-prompts / prompts.chat (f/awesome-chatgpt-prompts, prompts.csv), CC0-1.0"
KIND = {"TEXT": "text prompt", "STRUCTURED": "structured prompt", "IMAGE": "image-generation prompt"}


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    csv.field_size_limit(10_000_000)
    with open(src / "prompts.csv", encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            report.rows += 1
            where = f"prompts.csv:{line}"
            act, body = clean(row.get("act")), clean(row.get("prompt"))
            if not act or not body:
                report.skip(where, "no act or prompt text")
                continue
            kind = (row.get("type") or "TEXT").strip().upper()
            aid = make_id("prompt", act)
            if aid in records:
                report.skip(where, f"duplicate act: {act!r}")
                continue
            first = sentences(body)
            caps = [capability(act, " ".join(first[:3]))]
            if len(first) > 3:
                caps.append(capability(f"{act}: instructions", " ".join(first[3:7])))
            caps.append(capability(f"{KIND.get(kind, 'prompt').capitalize()} for chat assistants",
                                   f"A {KIND.get(kind, 'prompt')} that sets up an assistant as: {act}."
                                   + (" Written for developers." if (row.get("for_devs") or "").upper() == "TRUE"
                                      else "")))
            records[aid] = {
                "id": aid, "name": act, "type": "prompt", "pricing": "free",
                "description": shorten(body, 2000),
                "url": "https://prompts.chat/",
                "tags": tags(["prompt", KIND.get(kind, "prompt"), "developers" if (row.get("for_devs") or "").upper()
                              == "TRUE" else ""]),
                "signals": {"source": f"{ATTRIBUTION}: {where}",
                            "contributor": clean(row.get("contributor"))[:100]},
                "capabilities": caps, "_where": where,
            }
    return list(records.values())
