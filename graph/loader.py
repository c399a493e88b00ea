"""Reading catalog files: .jsonl and .json files or folders of them, with line numbers for errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from graph.catalog import Artifact, CatalogError

CATALOG_SUFFIXES = (".jsonl", ".json")


def catalog_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders to the catalog files inside them (sorted); other files in folders are ignored."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in CATALOG_SUFFIXES)
        elif path.is_file():
            if path.suffix not in CATALOG_SUFFIXES:
                raise CatalogError(f"not a .json or .jsonl file: {path}", source=str(path))
            out.append(path)
        else:
            raise CatalogError(f"no such file or folder: {path}", source=str(path))
    return out


def _json_items(text: str) -> Iterator[tuple[int, Any]]:
    """Items of a .json file (one object or an array of them) with the line each starts on."""
    decoder = json.JSONDecoder()
    start = len(text) - len(text.lstrip())
    if not text[start:start + 1] == "[":
        obj, _ = _decode(decoder, text, start)
        yield text.count("\n", 0, start) + 1, obj
        return
    pos = start + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise json.JSONDecodeError("unterminated array", text, pos)
        if text[pos] == "]":
            return
        obj, end = _decode(decoder, text, pos)
        yield text.count("\n", 0, pos) + 1, obj
        pos = end


def _decode(decoder: json.JSONDecoder, text: str, pos: int) -> tuple[Any, int]:
    """raw_decode, tagging errors that carry no position (too deep, too many digits) with their line."""
    try:
        return decoder.raw_decode(text, pos)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        exc.matchgraph_line = text.count("\n", 0, pos) + 1  # type: ignore[attr-defined]
        raise


def _why(exc: BaseException) -> str:
    """A one-line reason for JSON the decoder refused (syntax, nesting depth, 4300+ digit numbers)."""
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]


def _checked(obj: Any) -> Any:
    """JSON may escape lone surrogates (\\ud800) that are not Unicode text: refuse them here, not mid-ingest."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("lone surrogate escape, not valid Unicode text") from exc
    return obj


def read_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, raw record) pairs of one file; malformed JSON raises CatalogError with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"file is not UTF-8: {exc.reason}", source=str(path), line=1) from exc
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = _checked(json.loads(line))
            except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
                raise CatalogError(f"invalid JSON: {_why(exc)}", source=str(path), line=number) from exc
            yield number, record
        return
    items = _json_items(text)
    while True:
        try:
            number, record = next(items)
            record = _checked(record)
        except StopIteration:
            return
        except (ValueError, RecursionError) as exc:
            line = exc.lineno if isinstance(exc, json.JSONDecodeError) else _json_line(text, exc)
            raise CatalogError(f"invalid JSON: {_why(exc)}", source=str(path), line=line) from exc
        yield number, record


def _json_line(text: str, exc: BaseException) -> int:
    """The line an error without a position happened on, as recorded by `_json_items` (else 1)."""
    return getattr(exc, "matchgraph_line", 1)


def load_artifacts(paths: Iterable[str | Path]) -> list[Artifact]:
    """Validate every record of every file; the first bad one stops the load with file, line and field.

    A later record with the same id replaces an earlier one (upsert semantics within one run).
    """
    seen: dict[str, Artifact] = {}
    for path in catalog_files(paths):
        for line, record in read_records(path):
            artifact = Artifact.from_record(record, source=str(path), line=line)
            seen.pop(artifact.id, None)
            seen[artifact.id] = artifact
    return list(seen.values())
