#!/usr/bin/env python3
"""awesome-chatgpt-prompts (CC0-1.0): one `prompt` artifact per row (act = name, prompt = body).

Pricing `free` (CC0 text). One capability: what the prompt is for (title: the act; its type TEXT /
STRUCTURED / IMAGE and audience from the `type` and `for_devs` columns) followed by the prompt itself in
whole sentences (up to 3,000 characters; "The prompt begins:" when only its start is quoted).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_clean import has_email, scrub_emails, template_note, template_parameters  # noqa: E402
from convert_common import TITLE_MAX, Report, clean, make_id, shorten, tags, whole_sentences  # noqa: E402

NAME = "prompts"
ATTRIBUTION = "awesome-chatgpt-prompts / prompts.chat (f/awesome-chatgpt-prompts, prompts.csv), CC0-1.0"
KIND = {"TEXT": "text prompt", "STRUCTURED": "structured prompt", "IMAGE": "image-generation prompt"}


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    csv.field_size_limit(10_000_000)
    with open(src / "prompts.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        line = 2  # the file line a row starts on (a prompt spans several lines)
        for row in reader:
            where, line = f"prompts.csv:{line}", reader.line_num + 1
            report.rows += 1
            act, body = clean(row.get("act")), scrub_emails(clean(row.get("prompt")))
            if not act or not body:
                report.skip(where, "no act or prompt text")
                continue
            kind = (row.get("type") or "TEXT").strip().upper()
            aid = make_id("prompt", act)
            if aid in records:
                report.skip(where, f"duplicate act: {act!r}")
                continue
            caps = [prompt_capability(act, body, kind, (row.get("for_devs") or "").upper() == "TRUE")]
            params = template_parameters(body)
            records[aid] = {
                "id": aid, "name": act, "type": "prompt", "pricing": "free",
                "description": shorten((template_note(params) + " " if params else "") + body, 2000),
                "url": "https://prompts.chat/",
                "tags": tags(["prompt", KIND.get(kind, "prompt"), "developers" if (row.get("for_devs") or "").upper()
                              == "TRUE" else "", "template" if params else ""]),
                "signals": _signals(row, where, params),
                "capabilities": caps, "_where": where,
            }
    return list(records.values())


def _signals(row: dict[str, str], where: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    """Attribution; the contributor's handle unless it is an e-mail address (personal data: left out);
    a template's parameters (its `${name}` placeholders are parameters, not content)."""
    signals: dict[str, Any] = {"source": f"{ATTRIBUTION}: {where}"}
    contributor = clean(row.get("contributor"))[:100]
    handles = [c.strip() for c in contributor.split(",") if c.strip() and not has_email(c)]
    if handles:
        signals["contributor"] = ", ".join(handles)
    if params:
        signals["parameters"] = [name for name, _default in params]
    return signals


PROMPT_TEXT_MAX = 3000  # characters of the prompt quoted in its capability (whole sentences)


def prompt_capability(act: str, body: str, kind: str, for_devs: bool) -> dict[str, str]:
    """What the prompt is for (the role or output it sets up, its type, its audience) followed by the prompt
    itself in whole sentences: never cut mid-sentence, and marked when only its beginning is quoted."""
    noun = KIND.get(kind, "prompt")
    purpose = f"{'An' if noun[0] in 'aeiou' else 'A'} {noun} for: {act}"
    purpose += " (written for developers)." if for_devs else "."
    text = whole_sentences(body, PROMPT_TEXT_MAX)
    if len(text) > PROMPT_TEXT_MAX:  # one "sentence" longer than that (a JSON prompt): end at its last item
        head = text[:PROMPT_TEXT_MAX]
        text = head[:max(head.rfind(", "), head.rfind("} "), head.rfind("] "), PROMPT_TEXT_MAX // 2) + 1].rstrip(" ,")
    label = "The prompt" if len(text) >= len(body) else "The prompt begins"
    return {"title": shorten(act, TITLE_MAX), "description": f"{purpose} {label}: {text}"}
