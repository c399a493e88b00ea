"""Helpers shared by the per-source converters (`data/convert_<source>.py`) and `data/convert_all.py`.

Every converter is a pure function of its source folder: `convert(src, report) -> list[record]`, where a
record is a catalog record (graph/artifact.schema.json). Rows that cannot be read are reported with their
file and reason (`Report.skip`) and skipped; nothing here raises on a bad row.
"""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anyascii import anyascii

TITLE_MAX = 120
CAP_DESCRIPTION_MAX = 600
DESCRIPTION_MAX = 2000

# SPDX ids of licenses approved by the Open Source Initiative that appear in the sources.
OSI_LICENSES = frozenset(s.lower() for s in (
    "MIT", "Apache-2.0", "BSD-3-Clause", "BSD-2-Clause", "BSD-1-Clause", "0BSD", "GPL-3.0", "GPL-2.0",
    "LGPL-3.0", "LGPL-2.1", "AGPL-3.0", "MPL-2.0", "ISC", "EPL-2.0", "EPL-1.0", "Unlicense", "Zlib",
    "BSL-1.0", "PSF-2.0", "Python-2.0", "Artistic-2.0", "CDDL-1.0", "EUPL-1.2", "MIT-0", "NCSA", "UPL-1.0",
    "OSL-3.0", "CECILL-2.1", "MS-PL", "PostgreSQL", "LGPL-2.0", "GPL-3.0-only", "GPL-3.0-or-later",
    "GPL-2.0-only", "GPL-2.0-or-later", "LGPL-3.0-only", "LGPL-3.0-or-later", "AGPL-3.0-only",
    "AGPL-3.0-or-later", "Apache License 2.0",
))


@dataclass
class Report:
    """What a converter kept and skipped; skipped rows name their file and reason."""

    source: str
    rows: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def skip(self, where: str, reason: str) -> None:
        self.skipped.append((where, reason))

    def read_json(self, path: Path) -> Any | None:
        """A source file's JSON, or None with the file and reason recorded (a bad file never crashes a run)."""
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.skip(path.name, f"not valid JSON: {exc}")
            return None

    def lines(self, kept: int) -> list[str]:
        out = [f"{self.source}: {self.rows} rows read, {kept} artifacts, {len(self.skipped)} rows skipped"]
        reasons = Counter(reason.split(":")[0] for _, reason in self.skipped)
        out += [f"  skipped x{n}: {reason}" for reason, n in sorted(reasons.items())]
        out += [f"  skipped {where}: {reason}" for where, reason in self.skipped[:200]]
        out += [f"  {note}" for note in self.notes]
        return out


def slug(text: str, *, max_len: int = 90) -> str:
    """A lowercase id segment: letters, digits, `.`, `_`, `-`; any script transliterated (`Недвижимость`
    -> `nedvizhimost`, never `x`), the rest becomes `-`."""
    text = anyascii(unicodedata.normalize("NFKC", text)).lower()
    text = re.sub(r"[^a-z0-9._-]+", "-", text)
    text = re.sub(r"-{2,}", "-", text).strip("-._")
    return text[:max_len].rstrip("-._")


def legacy_slug(text: str, *, max_len: int = 90) -> str:
    """The slug earlier catalogs made (accents folded, other scripts dropped): old ids stay aliases."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9._-]+", "-", text)
    text = re.sub(r"-{2,}", "-", text).strip("-._")
    return text[:max_len].rstrip("-._")


def legacy_id(prefix: str, name: str) -> str:
    return f"{prefix}/{legacy_slug(name) or 'x'}"


# new id -> the ids earlier catalogs gave the same name (before transliteration); convert_all makes them
# aliases of the record that has the new id.
LEGACY_IDS: dict[str, list[str]] = {}


def make_id(prefix: str, name: str) -> str:
    """`prefix/slug(name)`; a schema-valid id (one slash) for any non-empty name. When the old slug rule
    gave another id, that id is remembered in LEGACY_IDS."""
    new, old = f"{prefix}/{slug(name) or 'x'}", legacy_id(prefix, name)
    if old != new and old not in LEGACY_IDS.setdefault(new, []):
        LEGACY_IDS[new].append(old)
    return new


def clean(text: Any) -> str:
    """Single-spaced text without Markdown links' syntax or HTML tags."""
    if text is None:
        return ""
    text = str(text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.split())


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def sentences(text: str) -> list[str]:
    """Sentences of a description (a naive split on end punctuation followed by a capital)."""
    return [s.strip() for s in _SENTENCE_END.split(clean(text)) if s.strip()]


def shorten(text: str, limit: int) -> str:
    text = clean(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    cut = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return cut.rstrip(" ,;:/") + "..."


def first_sentences(text: str, limit: int) -> str:
    """Whole sentences of `text` up to `limit` characters; never a sentence cut in the middle ('' when even
    the first sentence is longer than `limit`)."""
    out = ""
    for sentence in sentences(text):
        if len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    return out


def title_case_first(text: str) -> str:
    text = clean(text)
    return text[:1].upper() + text[1:]


def capability(title: str, description: str = "", unique: str = "", vs: str = "") -> dict[str, str]:
    """A schema-valid capability record (empty fields left out, lengths bounded)."""
    cap = {"title": shorten(title, TITLE_MAX), "description": whole_sentences(description, CAP_DESCRIPTION_MAX)}
    if unique:
        cap["unique"] = shorten(unique, 600)
    if vs:
        cap["vs_alternatives"] = shorten(vs, 600)
    return {k: v for k, v in cap.items() if v}


CAP_TEXT_MAX = 10000  # the schema's limit on a capability description


def whole_sentences(text: str, limit: int = CAP_DESCRIPTION_MAX) -> str:
    """The sentences of `text` that fit in `limit` characters, never a sentence cut in two: a text longer
    than `limit` ends at the last sentence end before it; a first sentence longer than `limit` is kept whole
    (up to the schema's limit, where it is cut at a word and marked "...": no source sentence is that long)."""
    text = clean(text)
    if len(text) <= limit:
        return text
    out = ""
    for sentence in sentences(text):
        if out and len(out) + 1 + len(sentence) > limit:
            break
        if out and re.search(r"(\.\.\.|…)[\"')\]]*$", sentence):
            break  # a sentence that trails off ("...") would read as a cut: stop before it
        out = f"{out} {sentence}".strip()
        if len(out) > limit:
            break
    return out if len(out) <= CAP_TEXT_MAX else shorten(out, CAP_TEXT_MAX)


def dedupe_capabilities(caps: Iterable[dict[str, str]], limit: int = 24) -> list[dict[str, str]]:
    """Drop capabilities whose normalised title + description repeats; keep the first `limit`."""
    seen, out = set(), []
    for cap in caps:
        key = (norm(cap.get("title", "")), norm(cap.get("description", "")))
        if key in seen or not (key[0] or key[1]):
            continue
        seen.add(key)
        out.append(cap)
        if len(out) >= limit:
            break
    return out


def norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", clean(text).lower()))


def tag(text: str) -> str:
    return slug(text.replace("&", "and"), max_len=60)


def tags(values: Iterable[str], limit: int = 16) -> list[str]:
    out: list[str] = []
    for value in values:
        t = tag(value) if value else ""
        if t and t not in out:
            out.append(t)
    return out[:limit]


def date(value: Any) -> str:
    """`YYYY-MM-DD` from a date / date-time string, or '' when it is not a real calendar date, only a
    month, or the placeholder 1 January."""
    if value is None:
        return ""
    found = re.match(r"\s*(\d{4})-(\d{2})(?:-(\d{2}))?", str(value))
    if not found:
        return ""
    import datetime as dt

    if not found.group(3):
        return ""  # a month is not a day: never invent the 1st
    y, m, d = int(found.group(1)), int(found.group(2)), int(found.group(3))
    if (m, d) == (1, 1):
        return ""  # 1 January is what tools write for 'some day this year': a placeholder, not a fact
    try:
        return dt.date(y, m, d).isoformat()
    except ValueError:
        return ""


def is_osi(license_id: str) -> bool:
    return license_id.strip().lower() in OSI_LICENSES


def count(value: Any) -> int | None:
    """A non-negative integer count from '1234.0', 1234, '' (None when absent or not a number)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number or number < 0 or number > 1e15:
        return None
    return int(number)


def github_repo(url: str) -> str:
    """`owner/name` of a GitHub URL (lowercase), or ''."""
    found = re.match(r"https?://(?:www\.)?github\.com/([^/\s#?]+)/([^/\s#?]+)", url or "", re.I)
    if not found:
        return ""
    return f"{found.group(1)}/{found.group(2).removesuffix('.git')}".lower()


def pypi_name(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
            n += 1
    return n


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.1 or value == 0 else f"${value:.3g}"


def literal_constants(tree: ast.Module) -> dict[str, Any]:
    """A module's top-level `NAME = <literal>` assignments, read with `ast` (source files are never imported)."""
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                pass
    return out
