#!/usr/bin/env python3
"""TensorFlow Datasets catalog (tensorflow-datasets 4.9.10, Apache-2.0 package): one `dataset` artifact per
dataset builder.

Read as text and with `ast` (TensorFlow is not a dependency; nothing is imported):
- `datasets/<name>/`: README.md (description), TAGS.txt (`ml.task.*`, `content.language.*`), the builder's
  `homepage=`;
- `<category>/**/*.py`: builder classes with `tfds.core.DatasetInfo(description=..., homepage=...)`, module
  constants resolved; the category folder (question_answering, translate...) is the TFDS category.
The dataset's own licence only where its description or `license=` states it; otherwise "unknown" (never
the package's Apache-2.0).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, capability, clean, first_sentences, literal_constants, sentences, tags  # noqa: E402

NAME = "tfds-catalog"
ATTRIBUTION = "TensorFlow Datasets catalog (tensorflow/datasets 4.9.10, Apache-2.0)"
CATALOG_URL = "https://www.tensorflow.org/datasets/catalog/"
LICENCES = (  # (pattern in the dataset's own text, SPDX-like id)
    (r"\bCC[- ]BY[- ]NC[- ]SA[- ]?4\.0|Attribution[- ]NonCommercial[- ]ShareAlike 4\.0", "cc-by-nc-sa-4.0"),
    (r"\bCC[- ]BY[- ]NC[- ]?4\.0|Attribution[- ]NonCommercial 4\.0", "cc-by-nc-4.0"),
    (r"\bCC[- ]BY[- ]SA[- ]?4\.0|Attribution[- ]ShareAlike 4\.0", "cc-by-sa-4.0"),
    (r"\bCC[- ]BY[- ]SA[- ]?3\.0|Attribution[- ]ShareAlike 3\.0", "cc-by-sa-3.0"),
    (r"\bCC[- ]BY[- ]?4\.0|Creative Commons Attribution 4\.0", "cc-by-4.0"),
    (r"\bCC[- ]BY[- ]?3\.0|Creative Commons Attribution 3\.0", "cc-by-3.0"),
    (r"\bCC0\b|public domain dedication", "cc0-1.0"),
    (r"Apache License,? (?:Version )?2\.0|\bApache[- ]2\.0", "apache-2.0"),
    (r"\bMIT License\b|under the MIT license", "mit"),
    (r"Open Data Commons Attribution|\bODC[- ]BY\b", "odc-by"),
)
TASK_TAG = re.compile(r"ml\.task\.([a-z0-9-]+)")
LANG_TAG = re.compile(r"content\.language\.([a-z]{2,3}(?:-[a-z]+)?)\b")
BUILDER_BASE = re.compile(r"Builder|BuilderConfig$")


def licence_in(text: str) -> str:
    for pattern, spdx in LICENCES:
        if re.search(pattern, text, re.I):
            return spdx
    return "unknown"


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _value(node: ast.AST, consts: dict[str, Any]) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return consts.get(node.id) if isinstance(node, ast.Name) else None


def builders(path: Path) -> list[dict[str, Any]]:
    """Each dataset builder class of a file: name, description, homepage, license (literal values only)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return []
    consts = literal_constants(tree)
    out = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        bases = [ast.unparse(b) for b in cls.bases]
        if not any(BUILDER_BASE.search(b) and "Config" not in b for b in bases):
            continue
        info: dict[str, Any] = {"name": snake(cls.name), "line": cls.lineno}
        for node in cls.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "name" for t in node.targets):
                named = _value(node.value, consts)
                if isinstance(named, str):
                    info["name"] = named
        for node in ast.walk(cls):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("DatasetInfo"):
                for kw in node.keywords:
                    if kw.arg in ("description", "homepage", "license"):
                        value = _value(kw.value, consts)
                        if isinstance(value, str):
                            info[kw.arg] = value
        if "description" not in info and isinstance(consts.get("_DESCRIPTION"), str):
            info["description"] = consts["_DESCRIPTION"]
        if "homepage" not in info:
            info["homepage"] = next((consts[k] for k in ("_HOMEPAGE", "_URL", "_HOMEPAGE_URL")
                                     if isinstance(consts.get(k), str) and consts[k].startswith("http")), "")
        out.append(info)
    return out


def record(name: str, where: str, description: str, homepage: str, lic_text: str, task_list: list[str],
           languages: list[str], category: str) -> dict[str, Any]:
    description = clean(description)
    lic = licence_in(lic_text + " " + description)
    url = homepage if homepage.startswith("http") else CATALOG_URL + name
    what = task_list[:6] or ([f"the TFDS category {category}"] if category else [])
    facts = (f"TFDS tags it for {', '.join(what)}" if task_list else f"TensorFlow Datasets lists it under {category}"
             if category else "")
    if languages:
        facts += ("; " if facts else "") + f"languages: {', '.join(languages[:30])}"
    if not (task_list or languages):  # a bare category would be the same sentence on dozens of records
        facts = ""
    tail = " ".join(x for x in (f"{facts}." if facts else "", f"Loads as tfds.load('{name}').") if x)
    first = first_sentences(description, max(0, 560 - len(tail)))
    body = f"{first} {tail}".strip()
    caps = [capability(f"{name}: {', '.join((task_list or [category])[:3]) or 'dataset'}", body)]
    return {
        "id": f"dataset/tfds.{re.sub(r'[^a-z0-9._-]+', '-', name.lower())}"[:200], "name": name, "type": "dataset",
        "pricing": "open-source" if lic != "unknown" and "nc" not in lic else "free",
        "description": description or f"The {name} dataset of TensorFlow Datasets ({category}).", "url": url,
        "tags": tags(["dataset", "tfds", *task_list[:6], *([category] if category else []), *languages[:4]]),
        "signals": {"source": f"{ATTRIBUTION}: {where}", "license": lic, "languages": languages,
                    "tasks": task_list or ([category] if category else []), "homepage": url,
                    "tfds_name": name, "frameworks": ["tensorflow-datasets"]},
        "capabilities": caps, "_where": where, "_key": name,
    }


def _new_layout(root: Path, report: Report) -> list[dict[str, Any]]:
    out = []
    for folder in sorted(p for p in (root / "datasets").iterdir() if p.is_dir()):
        report.rows += 1
        where = f"tensorflow_datasets/datasets/{folder.name}"
        readme = folder / "README.md"
        tag_text = (folder / "TAGS.txt").read_text(encoding="utf-8") if (folder / "TAGS.txt").is_file() else ""
        found = [b for f in sorted(folder.glob("*_builder.py")) for b in builders(f)]
        if not readme.is_file() and not found:
            report.skip(where, "no README.md and no builder")
            continue
        b = found[0] if found else {}
        task_list = [t.replace("-", " ") for t in dict.fromkeys(TASK_TAG.findall(tag_text))]
        langs = list(dict.fromkeys(LANG_TAG.findall(tag_text)))
        desc = readme.read_text(encoding="utf-8") if readme.is_file() else b.get("description", "")
        out.append(record(folder.name, where, desc, b.get("homepage", ""), b.get("license", ""), task_list, langs, ""))
    return out


def _old_layout(root: Path, report: Report) -> list[dict[str, Any]]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "datasets" or len(rel.parts) < 2 or path.name.endswith("_test.py"):
            continue
        category = rel.parts[0].replace("_", " ")
        for b in builders(path):
            report.rows += 1
            where = f"tensorflow_datasets/{rel}:{b['line']}"
            if not b.get("description") and not b.get("homepage"):
                report.skip(where, "builder without a literal description or homepage")
                continue
            out.append(record(b["name"], where, b.get("description", ""), b.get("homepage", ""),
                              b.get("license", ""), [], [], category))
    return out


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    root = src / "tensorflow_datasets"
    out, seen = [], set()
    for rec in _new_layout(root, report) + _old_layout(root, report):
        if rec["id"] in seen:
            report.skip(rec["_where"], f"duplicate dataset name {rec['name']}")
            continue
        seen.add(rec["id"])
        out.append(rec)
    return out


__all__ = ["convert", "sentences"]
