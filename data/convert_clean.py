"""Cleaning rules every converter applies: no personal data, no unfilled placeholders shown as content,
no placeholder dates. Why: every sentence a record carries is shown to users (docs/catalog.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
EMAIL_SHOWN = "[e-mail address removed]"
# `${topic}`, `${language:English}` (a default after the colon); `${response.status}` in code is not one.
PLACEHOLDER = re.compile(r"\$\{([^}.()\[\]=]{1,80})\}")


def has_email(text: str) -> bool:
    return bool(EMAIL.search(text or ""))


def scrub_emails(text: str) -> str:
    """The text with every e-mail address replaced by a note that one was removed."""
    return EMAIL.sub(EMAIL_SHOWN, text or "")


def template_parameters(text: str) -> list[tuple[str, str]]:
    """The `${name}` / `${name:default}` parameters of a prompt template, in order of first use."""
    out: dict[str, str] = {}
    for raw in PLACEHOLDER.findall(text or ""):
        name, _, default = raw.partition(":")
        name = name.strip()
        if name and name not in out:
            out[name] = default.strip()
    return list(out.items())


def template_note(params: list[tuple[str, str]]) -> str:
    """`Template with parameters: topic; language (default: English).`"""
    shown = [f"{n} (default: {d})" if d else n for n, d in params]
    return "Template with parameters: " + "; ".join(shown) + "."


def placeholder_date(value: str) -> bool:
    """A date that is a placeholder, not a fact: 1 January (`YYYY-01-01`, what tools write for 'a year')."""
    return bool(re.fullmatch(r"\d{4}-01-01", value or ""))


def import_day(dates: Iterable[str], share: float = 0.5) -> str:
    """The day most records of one source share when it is over `share` of them: the day they were
    imported, not updated ('' when no day dominates)."""
    dates = [d for d in dates if d]
    if not dates:
        return ""
    day, n = Counter(dates).most_common(1)[0]
    return day if n > share * len(dates) else ""
