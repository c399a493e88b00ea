"""The /docs page's content: every operation of the OpenAPI document, its parameters, request and response
schemas as field tables, and the real request/response recorded for it in docs/api.md.

Why here and not a Swagger bundle: the page keeps the site's style, nav and CSP (no inline scripts, no CDN),
and the examples are the ones `python -m bench.api_examples` recorded from the running app, so the page never
shows an invented payload.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "api.md"
METHODS = ("get", "post", "put", "patch", "delete")
MAX_DEPTH = 4
_PARAM = re.compile(r"\{[^}]*\}")


def _route_key(method: str, path: str) -> str:
    """`GET /v1/artifacts/{}` for both the document's `{artifact_id}` and docs/api.md's `{id}`."""
    return method.upper() + " " + _PARAM.sub("{}", path)


@lru_cache(maxsize=4)
def _examples(path: Path = EXAMPLES, mtime: float = 0.0) -> dict[str, dict]:
    """Section title → its first request (sh) and first response (http), plus the section's intro."""
    del mtime  # part of the cache key only: a regenerated docs/api.md is read again
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    out: dict[str, dict] = {}
    for section in text.split("\n## ")[1:]:
        title = section.splitlines()[0].strip()
        if " /" not in title:
            continue
        blocks = section.split("```")
        fenced = blocks[1::2]
        request = next((b.split("\n", 1)[1].strip() for b in fenced if b.startswith("sh\n")), "")
        response = next((b.split("\n", 1)[1].strip() for b in fenced if b.startswith(("http\n", "text\n", "json\n"))),
                        "")
        intro = blocks[0].split("\n", 1)[1].strip() if "\n" in blocks[0] else ""
        out[_route_key(*title.split(" ", 1))] = {"title": title, "request": request, "response": response,
                                                 "intro": intro}
    return out


def examples() -> dict[str, dict]:
    try:
        mtime = EXAMPLES.stat().st_mtime
    except OSError:
        mtime = 0.0
    return _examples(EXAMPLES, mtime)


def _resolve(doc: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = doc
    for part in ref.lstrip("#/").split("/"):
        node = node.get(part, {})
    return node


def type_name(doc: dict, schema: dict) -> str:
    """A short human type: `string`, `integer 1..100`, `one of model, dataset`, `list of Result`."""
    schema = _resolve(doc, schema)
    if "anyOf" in schema or "oneOf" in schema:
        options = [type_name(doc, s) for s in schema.get("anyOf", schema.get("oneOf", []))
                   if s.get("type") != "null"]
        nullable = any(s.get("type") == "null" for s in schema.get("anyOf", schema.get("oneOf", [])))
        return " or ".join(options) + (" (or null)" if nullable else "")
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    kind = schema.get("type", "object" if "properties" in schema else "any")
    if kind == "array":
        return "list of " + type_name(doc, schema.get("items", {}))
    if kind == "object" and schema.get("title") and "properties" in schema:
        return f"object ({schema['title']})"
    low, high = schema.get("minimum", schema.get("minLength")), schema.get("maximum", schema.get("maxLength"))
    if low is not None or high is not None:
        unit = " characters" if "minLength" in schema or "maxLength" in schema else ""
        kind += f" {'' if low is None else low}..{'' if high is None else high}{unit}"
    return kind


def fields(doc: dict, schema: dict, prefix: str = "", depth: int = 0) -> list[dict]:
    """Flatten an object schema into rows `{name, type, required, description}`; nested objects and lists of
    objects continue as `results[].name`."""
    schema = _resolve(doc, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            objects = [s for s in schema[key] if _resolve(doc, s).get("properties")]
            if objects:
                schema = _resolve(doc, objects[0])
    rows: list[dict] = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        full = f"{prefix}{name}"
        resolved = _resolve(doc, prop)
        rows.append({"name": full, "type": type_name(doc, prop), "required": name in required,
                     "description": resolved.get("description") or prop.get("description") or "",
                     "default": resolved.get("default")})
        if depth >= MAX_DEPTH:
            continue
        if resolved.get("type") == "array" and _resolve(doc, resolved.get("items", {})).get("properties"):
            rows += fields(doc, resolved["items"], f"{full}[].", depth + 1)
        elif resolved.get("properties"):
            rows += fields(doc, resolved, f"{full}.", depth + 1)
    return rows


def _body_schema(content: dict | None) -> dict | None:
    if not content:
        return None
    media = content.get("application/json") or next(iter(content.values()), {})
    return media.get("schema")


def build(doc: dict) -> list[dict]:
    """One entry per operation, in the document's order, each ready for the template."""
    recorded = examples()
    ops = []
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            params = [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                       "type": type_name(doc, p.get("schema", {})), "description": p.get("description", ""),
                       "default": p.get("schema", {}).get("default")} for p in op.get("parameters", [])]
            body = _body_schema(op.get("requestBody", {}).get("content"))
            responses = []
            for code, resp in op.get("responses", {}).items():
                schema = _body_schema(resp.get("content"))
                responses.append({"code": code, "ok": code.startswith("2"), "description": resp.get("description", ""),
                                  "fields": fields(doc, schema) if schema else []})
            key = _route_key(method, path)
            ops.append({"method": method.upper(), "path": path, "anchor": _anchor(key),
                        "summary": op.get("summary", ""), "description": op.get("description", ""),
                        "tags": op.get("tags", []), "auth": bool(op.get("security")), "parameters": params,
                        "body": fields(doc, body) if body else None, "responses": responses,
                        "example": recorded.get(key)})
    return ops


def others(doc: dict) -> list[dict]:
    """Endpoints recorded in docs/api.md that the OpenAPI document does not describe (health, metrics…)."""
    known = {_route_key(m, p) for p, item in doc.get("paths", {}).items() for m in item if m in METHODS}
    return [dict(ex, anchor=_anchor(key)) for key, ex in examples().items() if key not in known]


def _anchor(key: str) -> str:
    return "op-" + re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")
