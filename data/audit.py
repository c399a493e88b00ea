"""An audit of the bundled catalog anyone can run: `python -m data.audit [--sample N --seed S] [--json]`.

Why: the catalog is converted from a dozen licensed sources; whether each real thing is one record, what
personal data or placeholders slipped through, which values are implausible and what was dropped must be
checkable by anyone, on a fresh clone, without the sources. The thresholds below are tests
(tests/test_audit.py); `--sample N --seed S` prints N records beside their source rows (when ../shared is
there) for a person to check by hand. Rules in docs/catalog.md.

Duplicates: records of one type whose names normalise to the same key (lowercase; a trailing
`(qualifier)` removed; provider prefixes such as `us.`/`global.` and version suffixes such as `-v1-0`
removed; letters and digits only) form a group. A group is *linked* when its records name each other in
`same_as`, *told apart* when their full names (qualifier included) differ; otherwise it is *left*.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SHARED = ROOT.parent / "shared" / "data"

# Thresholds (tests/test_audit.py holds the catalog to them).
MAX_DUPLICATE_GROUPS_LEFT = 25
MIN_INPUT_PRICES = 1300
MAX_CONTEXT = 10_000_000

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PLACEHOLDER = re.compile(r"\$\{([^}.()\[\]=]{1,80})\}")  # `${response.status}` in code is not one
REGION = re.compile(r"^(?:us|eu|global|regional|apac|ap|jp|au|ca|uk|in|sa|us-gov|il)\.")
QUALIFIER = re.compile(r"\s*\([^)]*\)\s*$")
HF_URL = re.compile(r"^https://huggingface\.co/([^/]+)(?:/([^/]+))?/?$")
# Models the hub kept at its root before owners were required (their links resolve).
HF_ROOT = re.compile(r"(?:albert|bert|camembert|ctrl|distilbert|distilgpt2|distilroberta|gpt2|openai-gpt|roberta|"
                     r"t5|xlm|xlnet)(?:-|$)", re.I)
FINE_TUNED = re.compile(r"(?<!\bbe )(?<!\bbeen )\bfine-?tuned (?:on|for|from|version|checkpoint)\b", re.I)


def name_key(name: str, *, keep_qualifier: bool = False) -> str:
    """The normalised name duplicates are grouped by (see the module docstring)."""
    name = name.strip().lower()
    if not keep_qualifier:
        name = QUALIFIER.sub("", name)
    name = name.replace("+", " plus ")  # `Command R+` is not `Command R`
    name = REGION.sub("", name)
    name = re.sub(r"[-_:.]v\d+[-_:.]\d+$", "", name)
    return re.sub(r"[^a-z0-9]+", "", name)


def load(data_dir: Path = DATA) -> list[dict[str, Any]]:
    """Every record of the bundled catalog with the file it is in (`_file`)."""
    out = []
    for path in sorted(data_dir.glob("*.jsonl")) + sorted((data_dir / "catalog").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                record["_file"] = path.relative_to(data_dir).as_posix()
                out.append(record)
    return out


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def duplicates(records: list[dict[str, Any]]) -> dict[str, list[list[dict[str, Any]]]]:
    """Same-type groups sharing a normalised name: {'linked': [...], 'told_apart': [...], 'left': [...]}."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        key = name_key(r["name"])
        if key:
            groups[(r["type"], key)].append(r)
    out: dict[str, list[list[dict[str, Any]]]] = {"linked": [], "told_apart": [], "left": []}
    for _key, members in sorted(groups.items()):
        if len(members) < 2:
            continue
        full = [name_key(m["name"], keep_qualifier=True) for m in members]
        ids = {m["id"] for m in members}
        linked = all(ids - {m["id"]} <= set(m.get("same_as", ())) for m in members)
        if linked:
            out["linked"].append(members)
        elif len(set(full)) == len(full):
            out["told_apart"].append(members)
        else:
            out["left"].append(members)
    return out


def _headline_flagged(r: dict[str, Any]) -> bool:
    """A headline price that only a flagged offer has (the maker's price or a median of unflagged ones
    would match an unflagged offer or lie between them)."""
    s = r.get("signals", {})
    price = s.get("price_input_per_mtok")
    offers = s.get("offers") or []
    if price is None or not offers:
        return False
    flagged = {o.get("input_per_mtok") for o in offers if o.get("flagged")}
    clean = [o.get("input_per_mtok") for o in offers if not o.get("flagged") and o.get("input_per_mtok") is not None]
    if price in clean:
        return False
    if price in flagged:
        return True
    return bool(clean) and not min(clean) <= price <= max(clean)


def checks(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Every count the audit reports (the thresholds are applied by `failures`)."""
    emails = [r["id"] for r in records if any(EMAIL.search(s) for s in _strings(
        {k: v for k, v in r.items() if not k.startswith("_")}))]
    placeholders = []
    for r in records:
        params = set((r.get("signals") or {}).get("parameters") or ())
        texts = [r.get("description", "")] + [c.get(k, "") for c in r["capabilities"] for k in ("title", "description")]
        found = {m.partition(":")[0].strip() for t in texts for m in PLACEHOLDER.findall(t)}
        if found - params:
            placeholders.append(r["id"])
    offers = [(r["id"], o) for r in records for o in (r.get("signals") or {}).get("offers") or []]
    big_context = [r["id"] for r in records if ((r.get("signals") or {}).get("context_window") or 0) > MAX_CONTEXT]
    dup = duplicates(records)
    hf_no_owner = [r["id"] for r in records if (m := HF_URL.match(r.get("url", ""))) and not m.group(2)
                   and not HF_ROOT.match(m.group(1)) and m.group(1).lower() == r["id"].split("/")[-1]]  # not an org
    by_file = Counter(r["_file"] for r in records)
    aliases = Counter()
    for r in records:
        aliases[r["_file"]] += len(r.get("aliases", ()))
    return {
        "records": len(records),
        "by_file": dict(sorted(by_file.items())),
        "aliases_by_file": {f: n for f, n in sorted(aliases.items()) if n},
        "same_as_links": sum(len(r.get("same_as", ())) for r in records),
        "types": dict(sorted(Counter(r["type"] for r in records).items())),
        "pricing": dict(sorted(Counter(r.get("pricing", "free") for r in records).items())),
        "email_addresses": emails,
        "unfilled_placeholders": placeholders,
        "duplicate_groups": {k: len(v) for k, v in dup.items()},
        "duplicate_groups_left": [[m["id"] for m in g] for g in dup["left"]],
        "input_prices": sum(1 for r in records if (r.get("signals") or {}).get("price_input_per_mtok") is not None),
        "flagged_offers": sum(1 for _, o in offers if o.get("flagged")),
        "provider_listed_twice": [r["id"] for r in records if len(ps := [o.get("provider") for o in
                                  (r.get("signals") or {}).get("offers") or []]) != len(set(ps))],
        "headline_is_flagged": [r["id"] for r in records if _headline_flagged(r)],
        "context_over_10m": big_context,
        "placeholder_ids": [r["id"] for r in records if re.fullmatch(r"[a-z-]+/x", r["id"])],
        "placeholder_maker_ids": [r["id"] for r in records if r["id"].startswith("model/")],
        "january_first_dates": [r["id"] for r in records if str(r.get("updated_at", "")).endswith("-01-01")],
        "hf_links_without_owner": hf_no_owner,
        "unknown_licence": dict(sorted(Counter(r["type"] for r in records
                                               if (r.get("signals") or {}).get("license") == "unknown").items())),
        "model_typed_but_fine_tuned": [r["id"] for r in records if r["type"] == "model"
                                       and FINE_TUNED.search(r.get("description", ""))],
    }


def failures(result: dict[str, Any]) -> list[str]:
    """The thresholds this catalog must meet (each one a test)."""
    out = []
    if result["email_addresses"]:
        out.append(f"{len(result['email_addresses'])} records carry e-mail addresses")
    if len(result["duplicate_groups_left"]) > MAX_DUPLICATE_GROUPS_LEFT:
        out.append(f"{len(result['duplicate_groups_left'])} duplicate groups left (max {MAX_DUPLICATE_GROUPS_LEFT})")
    if result["input_prices"] < MIN_INPUT_PRICES:
        out.append(f"{result['input_prices']} records with an input price (min {MIN_INPUT_PRICES})")
    if result["headline_is_flagged"]:
        out.append(f"{len(result['headline_is_flagged'])} headline prices are flagged offers")
    if result["provider_listed_twice"]:
        out.append(f"{len(result['provider_listed_twice'])} records list one provider twice among their offers")
    if result["context_over_10m"]:
        out.append(f"{len(result['context_over_10m'])} headline context windows over {MAX_CONTEXT:,} tokens")
    if result["unfilled_placeholders"]:
        out.append(f"{len(result['unfilled_placeholders'])} records show unfilled ${{var}} placeholders")
    if result["placeholder_ids"]:
        out.append(f"{len(result['placeholder_ids'])} placeholder ids (prefix/x)")
    return out


def dropped_rows(notice: Path = DATA / "NOTICE.md") -> list[str]:
    """The converters' count of dropped rows and their reasons, as written to NOTICE.md."""
    text = notice.read_text(encoding="utf-8") if notice.is_file() else ""
    section = text.split("### Malformed rows skipped", 1)[1] if "### Malformed rows skipped" in text else ""
    return [line for line in section.split("\n### ")[0].splitlines() if line.startswith("- `")]


def report(result: dict[str, Any], dropped: list[str]) -> str:
    lines = [f"records: {result['records']:,}"]
    lines += [f"  {f}: {n:,} records, {result['aliases_by_file'].get(f, 0):,} old ids kept as aliases"
              for f, n in result["by_file"].items()]
    lines.append("types: " + ", ".join(f"{k} {v}" for k, v in result["types"].items()))
    lines.append("pricing: " + ", ".join(f"{k} {v}" for k, v in result["pricing"].items()))
    d = result["duplicate_groups"]
    lines.append(f"same-type groups sharing a normalised name: {sum(d.values())} (linked by same_as {d['linked']}, "
                 f"told apart by name {d['told_apart']}, left {d['left']}; max {MAX_DUPLICATE_GROUPS_LEFT})")
    lines += [f"  left: {', '.join(g)}" for g in result["duplicate_groups_left"]]
    lines.append(f"same_as links: {result['same_as_links']}")
    lines.append(f"e-mail addresses: {len(result['email_addresses'])} records")
    lines.append(f"unfilled ${{var}} placeholders shown as content: {len(result['unfilled_placeholders'])} records")
    lines.append(f"input price per million tokens: {result['input_prices']:,} records (min {MIN_INPUT_PRICES:,})")
    lines.append(f"flagged offers: {result['flagged_offers']}; headline prices that are a flagged offer: "
                 f"{len(result['headline_is_flagged'])}")
    lines.append(f"records listing one provider twice among their offers: {len(result['provider_listed_twice'])}")
    lines.append(f"headline context windows over 10M tokens: {len(result['context_over_10m'])}")
    lines.append(f"placeholder ids (prefix/x): {len(result['placeholder_ids'])}; ids with the placeholder maker "
                 f"model/: {len(result['placeholder_maker_ids'])}")
    lines.append(f"dates on 1 January (placeholder dates?): {len(result['january_first_dates'])}")
    lines.append(f"Hugging Face links without an owner (not a root model of the hub): "
                 f"{len(result['hf_links_without_owner'])}")
    lines.append("unknown licences (by type): " + (", ".join(f"{k} {v}" for k, v in result["unknown_licence"].items())
                                                   or "none"))
    lines.append(f"typed model but described as fine-tuned: {len(result['model_typed_but_fine_tuned'])}")
    lines.append("dropped rows (NOTICE.md):")
    lines += [f"  {line[2:]}" for line in dropped] or ["  none reported"]
    fails = failures(result)
    lines.append("thresholds: " + ("all met" if not fails else "FAILED: " + "; ".join(fails)))
    return "\n".join(lines)


# --------------------------------------------------------------------------- sample for a person to check


def _source_row(record: dict[str, Any], shared: Path) -> str:
    """The upstream row a record names in `signals.source` (file:line, file[index], toml path), or why not."""
    source = str((record.get("signals") or {}).get("source", ""))
    if not shared.is_dir():
        return f"(source folder {shared} absent; the record names: {source})"
    where = source.rsplit(": ", 1)[-1]
    where = re.sub(r"^(\S+\.jsonl) lines? (\d+).*", r"\1:\2", where)  # Gorilla: `huggingface_api.jsonl line 27`
    if record["id"].startswith("lib/") and "best-of-ml-python" in source:
        return _library_row(record, shared)
    folders = [d for d in sorted(shared.iterdir()) if d.is_dir() and d.name in source] or [shared]
    found = re.match(r"(?P<file>[\w./-]+\.(?:csv|md|txt|jsonl)):(?P<line>\d+)", where)
    if found:
        for path in (p for folder in folders for p in folder.rglob(found["file"].split("/")[-1])):
            return f"{path.relative_to(shared)}:{found['line']}: {_row_at(path, int(found['line']))[:1500]}"
    found = re.match(r"(?P<file>[\w./-]+\.json)\[(?P<index>\d+)\]", where)
    if found:
        for path in (p for folder in folders for p in folder.rglob(found["file"].split("/")[-1])):
            rows = json.loads(path.read_text(encoding="utf-8"))
            index = int(found["index"])
            if isinstance(rows, list) and index < len(rows):
                return f"{path.relative_to(shared)}[{index}]: {json.dumps(rows[index], ensure_ascii=False)[:1500]}"
    if "models.dev" in source or "genai-prices" in source:
        return _model_files(record, shared)
    return f"(the record names: {source[:300]})"


def _row_at(path: Path, line: int) -> str:
    """The row that starts on file line `line` (a CSV row may span lines: the whole row, parsed)."""
    if path.suffix == ".csv":
        import csv

        csv.field_size_limit(10_000_000)
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            start = 1
            for row in reader:
                if start == line:
                    return json.dumps(row, ensure_ascii=False)
                start = reader.line_num + 1
        return "(no row starts there)"
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    return lines[line - 1] if line <= len(lines) else "(past the end of the file)"


def _library_row(record: dict[str, Any], shared: Path) -> str:
    """best-of-ml-python's projects.csv row of a library (by its GitHub repository, else its name)."""
    import csv

    path = shared / "best-of-ml-python" / "projects.csv"
    repo = str((record.get("signals") or {}).get("github", "")).lower()
    with open(path, encoding="utf-8", newline="") as fh:
        for number, row in enumerate(csv.DictReader(fh), start=2):
            url = (row.get("github_url") or "").lower().rstrip("/")
            if (repo and url.endswith("/" + repo)) or (not repo and row.get("name") == record["name"]):
                return f"best-of-ml-python/projects.csv row {number}: " + json.dumps(row, ensure_ascii=False)[:1500]
    return f"(no projects.csv row for {repo or record['name']})"


_MODEL_FILES: dict[str, list[Path]] = {}


def _model_files(record: dict[str, Any], shared: Path) -> str:
    """The models.dev files of a resolved model (same identity as its id or an alias), with their prices."""
    sys.path.insert(0, str(DATA))
    from convert_resolve import identity

    providers = shared / "models-dev" / "providers"
    if not _MODEL_FILES and providers.is_dir():
        for path in sorted(providers.rglob("*.toml")):
            if path.name != "provider.toml":
                key = identity(path.relative_to(providers).with_suffix("").as_posix())
                _MODEL_FILES.setdefault(key, []).append(path)
    wanted = {identity(i.split("/", 1)[-1]) for i in [record["id"], *record.get("aliases", ())]}
    files = [p for key in sorted(wanted) for p in _MODEL_FILES.get(key, [])]
    prices = shared / "genai-prices" / "data.json"
    rows = []
    if prices.is_file():
        for provider in json.loads(prices.read_text(encoding="utf-8")):
            for i, model in enumerate(provider.get("models") or []):
                if isinstance(model, dict) and identity(str(model.get("id", ""))) in wanted:
                    shown = {k: model.get(k) for k in ("id", "name", "prices", "context_window")}
                    rows.append(f"  genai-prices/data.json {provider.get('id')}/models[{i}]: {json.dumps(shown)[:300]}")
    lines = [f"{len(files)} models.dev files, {len(rows)} genai-prices rows:", *rows[:6]]
    for path in files[:8]:
        text = path.read_text(encoding="utf-8", errors="replace")
        facts = [ln.strip() for ln in text.splitlines() if re.match(r"\s*(name|input|output|context) =", ln)]
        lines.append(f"  {path.relative_to(shared)}: " + "; ".join(facts)[:300])
    return "\n".join(lines)


def sample(records: list[dict[str, Any]], n: int, seed: int, shared: Path = SHARED) -> str:
    """N records chosen with `seed`, each beside the source row it came from."""
    chosen = random.Random(seed).sample(records, min(n, len(records)))
    out = []
    for i, r in enumerate(chosen, 1):
        shown = {k: v for k, v in r.items() if not k.startswith("_")}
        out.append(f"--- {i}/{len(chosen)} {r['id']} ({r['_file']})")
        out.append(json.dumps(shown, ensure_ascii=False)[:3000])
        out.append("source: " + _source_row(r, shared))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the catalog folder (data/)")
    parser.add_argument("--sample", type=int, default=0, help="print N records beside their source rows")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    parser.add_argument("--shared", type=Path, default=SHARED, help="raw sources for --sample (../shared/data)")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args(argv)
    records = load(args.data)
    if args.sample:
        print(sample(records, args.sample, args.seed, args.shared))
        return 0
    result = checks(records)
    extra = sections(records)
    result.update(extra)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(report(result, dropped_rows(args.data / "NOTICE.md")))
        for name, counts in extra.items():
            print(f"{name}:")
            print("\n".join(f"  {k}: {v}" for k, v in counts.items()))
        fails = section_failures(extra)
        print("section thresholds: " + ("all met" if not fails else "FAILED: " + "; ".join(fails)))
    return 1 if failures(result) or section_failures(extra) else 0


# The companion audits (issue 24): each module's report(records) is one section of this audit.
SECTIONS = {"datasets": "audit_datasets", "capabilities": "audit_capabilities"}
# section, key, comparison, bound: the section thresholds (each a test)
SECTION_THRESHOLDS = (
    ("datasets", "datasets", ">=", 1000), ("datasets", "datasets_with_licence_share", ">=", 0.95),
    ("datasets", "datasets_with_url_share", ">=", 0.95), ("datasets", "quality_named_dated_source", ">=", 500),
    ("datasets", "adoption_from_usage", ">=", 1200),
)


def sections(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The companion audits' counts, by section (a module missing from data/ is skipped)."""
    import importlib

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    out = {}
    for name, module in SECTIONS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        out[name] = mod.report([{k: v for k, v in r.items() if not k.startswith("_")} for r in records])
    return out


def section_failures(extra: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for section, key, op, bound in SECTION_THRESHOLDS:
        value = extra.get(section, {}).get(key)
        if value is None:
            continue
        if (op == ">=" and value < bound) or (op == "<=" and value > bound):
            out.append(f"{section}.{key} = {value} (must be {op} {bound})")
    return out


if __name__ == "__main__":
    sys.exit(main())
