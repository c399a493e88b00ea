#!/usr/bin/env python3
"""Convert every source in ../shared/data into the bundled catalog (data/catalog/*.jsonl) and its NOTICE.

Usage: python data/convert_all.py [--src ../shared/data] [--out data/catalog] [--notice data/NOTICE.md]

Runs one converter per source (data/convert_<source>.py), then the steps that need several sources or the
whole catalog:
- joins: genai-prices offers onto models.dev models (same model key), top-pypi 30-day downloads onto
  libraries and MCP servers that name a PyPI project;
- dedupe: an awesome-generative-ai entry whose GitHub repository is a best-of-ml-python library or an MCP
  server is that artifact (its section becomes a tag there), not a second one;
- comparisons: `unique` / `vs_alternatives` sentences that state only what this catalog shows (price,
  context and star ranks within a group), computed here over the converted records;
- validation: every record is checked against graph/artifact.schema.json; a record that fails is reported
  and skipped, and an id that clashes with an earlier one (including the Gorilla and seed files) too.
Malformed source rows are reported with file and reason (in the log and in NOTICE.md) and skipped.
Output is sorted by id with stable text, so re-running gives byte-identical files.

The Gorilla APIBench files (data/*.jsonl) have their own converter (data/convert_gorilla.py).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
for p in (str(HERE), str(REPO_ROOT)):
    if p not in sys.path:
        sys.path.insert(0, p)

import convert_awesome_generative_ai  # noqa: E402
import convert_best_of_ml_python  # noqa: E402
import convert_common  # noqa: E402
import convert_extra  # noqa: E402
import convert_genai_prices  # noqa: E402
import convert_gorilla_agent_arena  # noqa: E402
import convert_gorilla_apizoo  # noqa: E402
import convert_link  # noqa: E402
import convert_lm_eval  # noqa: E402
import convert_mcp_registry  # noqa: E402
import convert_models_dev  # noqa: E402
import convert_prices  # noqa: E402
import convert_prompts  # noqa: E402
import convert_public_apis  # noqa: E402
import convert_resolve  # noqa: E402
import convert_top_pypi  # noqa: E402
from convert_common import Report, capability, dedupe_capabilities, money, ordinal, slug, tags, write_jsonl  # noqa: E402,E501
from convert_models_dev import merge_offers  # noqa: E402

from graph.catalog import OLD_PRICING, Artifact, CatalogError  # noqa: E402

DEFAULT_SRC = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data" / "catalog"
DEFAULT_NOTICE = REPO_ROOT / "data" / "NOTICE.md"
NOTICE_MARK = "<!-- convert_all.py writes everything below this line -->"

# folder, converter, output file, license, commit, what it gives
SOURCES = (
    ("models-dev", convert_models_dev, "models.jsonl", "MIT", "f3fc692299671838c7c65fd8126bf84d81a2e817",
     "anomalyco/models.dev `providers/`"),
    ("genai-prices", convert_genai_prices, "models.jsonl", "MIT", "47df840a5ab10bbcffb8e5ac01b9899032245d1b",
     "pydantic/genai-prices `prices/data.json`"),
    ("best-of-ml-python", convert_best_of_ml_python, "best-of-ml-python.jsonl", "CC-BY-SA-4.0",
     "edd2a131e1dad5bdfc0b05081fe3d366a6967db4", "ml-tooling/best-of-ml-python `history/2025-06-26_projects.csv`, "
     "`projects.yaml`"),
    ("top-pypi", convert_top_pypi, "best-of-ml-python.jsonl, mcp-registry.jsonl", "facts (no license; credited)",
     "5501c5c934df26d6f01fb1ca810845db02111c7d", "hugovk/top-pypi-packages `top-pypi-packages.csv`"),
    ("public-apis", convert_public_apis, "public-apis.jsonl", "MIT", "c045a2eb505f0f8b7992bb4af53cc020f25003fd",
     "public-apis/public-apis `README.md`"),
    ("gorilla-apizoo", convert_gorilla_apizoo, "gorilla-apizoo.jsonl", "Apache-2.0",
     "6ea57973c7a6097fd7c5915698c54c17c5b1b6c8", "ShishirPatil/gorilla `data/apizoo/*.json`"),
    ("mcp-registry", convert_mcp_registry, "mcp-registry.jsonl", "MIT", "81e5174a593a7488715b0bf0ae77a4dc466b4d35",
     "modelcontextprotocol/registry `data/seed_2025_05_16.json`"),
    ("awesome-generative-ai", convert_awesome_generative_ai, "awesome-generative-ai.jsonl", "CC0-1.0",
     "63d863418c0a6db3db92cacf150a72f76933e15c", "steven2358/awesome-generative-ai `README.md`, `DISCOVERIES.md`"),
    ("prompts", convert_prompts, "prompts.jsonl", "CC0-1.0", "50a97c07", "f/awesome-chatgpt-prompts `prompts.csv`"),
    ("lm-eval", convert_lm_eval, "lm-eval.jsonl", "MIT", "4e7e0d47f33bc71070c1d38394bafbb52b117163",
     "EleutherAI/lm-evaluation-harness `lm_eval/tasks/README.md`"),
    ("gorilla-agent-arena", convert_gorilla_agent_arena, "gorilla-agent-arena.jsonl", "Apache-2.0",
     "6ea57973c7a6097fd7c5915698c54c17c5b1b6c8", "ShishirPatil/gorilla `agent-arena/`"),
)
LICENSE_FILES = {"best-of-ml-python": "LICENSE.best-of-ml-python"}
ALL_SOURCES = SOURCES + convert_extra.SOURCES

# Model-name prefixes -> the maker, for readable ids of models that models.dev lists without an org folder.
MAKERS = (
    ("claude", "anthropic"), ("gpt", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"),
    ("chatgpt", "openai"), ("dall-e", "openai"), ("whisper", "openai"), ("text-embedding", "openai"),
    ("tts", "openai"), ("codex", "openai"), ("gemini", "google"), ("gemma", "google"), ("imagen", "google"),
    ("veo", "google"), ("llama", "meta-llama"), ("mistral", "mistralai"), ("ministral", "mistralai"),
    ("codestral", "mistralai"), ("pixtral", "mistralai"), ("magistral", "mistralai"), ("devstral", "mistralai"),
    ("voxtral", "mistralai"), ("deepseek", "deepseek-ai"), ("qwen", "qwen"), ("qwq", "qwen"), ("grok", "xai"),
    ("glm", "zai"), ("kimi", "moonshotai"), ("command", "cohere"), ("embed-", "cohere"), ("minimax", "minimax"),
    ("nova", "amazon"), ("titan", "amazon"), ("phi", "microsoft"), ("sonar", "perplexity"), ("jamba", "ai21"),
    ("mimo", "xiaomi"), ("ernie", "baidu"), ("hunyuan", "tencent"), ("doubao", "bytedance"), ("seed", "bytedance"),
    ("voyage", "voyageai"), ("nemotron", "nvidia"), ("granite", "ibm"), ("olmo", "allenai"),
)
# --------------------------------------------------------------------------- models


# Families whose maker the ids of earlier catalogs did not name (`model/davinci`): used for new ids only,
# so the old ids computed with MAKERS (the aliases) stay what they were.
MORE_MAKERS = (("ada", "openai"), ("babbage", "openai"), ("curie", "openai"), ("davinci", "openai"),
               ("cohere", "cohere"), ("arcee", "arcee-ai"), ("qvq", "qwen"), ("wan", "wan-ai"), ("v0-", "vercel"))


def _maker(facts: dict[str, Any]) -> str:
    org = re.sub(r"[^a-z0-9-]+", "-", facts.get("org", "").lower()).strip("-")
    if org:
        return org
    name = facts["model_path"].lower()
    return next((maker for prefix, maker in MAKERS if name.startswith(prefix)), "model")


def _listing(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def _min_price(offers: list[dict[str, Any]], key: str) -> float | None:
    prices = [o[key] for o in offers if isinstance(o.get(key), (int, float)) and o[key] > 0]
    return min(prices) if prices else None


def resolved_offers(facts: dict[str, Any], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model's offers from both sources, one per provider, the maker's marked, implausible ones flagged
    (data/convert_prices.py)."""
    offers = [{"provider": o["provider"], "provider_name": o["provider_name"], "input_per_mtok": o["input"],
               "output_per_mtok": o["output"], "context": o["context"], "source": "models.dev", "where": o["where"],
               "clean": o.get("clean"), "region": o.get("region"), "path": o["path"]}
              for o in facts.get("md_offers", [])]
    for o in extra:
        offers.append({"provider": o["provider"], "provider_name": o["provider_name"],
                       "input_per_mtok": o["input_per_mtok"], "output_per_mtok": o["output_per_mtok"],
                       "context": o["context"], "source": "genai-prices", "where": o["where"],
                       "clean": o.get("clean"), "region": o.get("region"), "path": o["path"]})
    offers = convert_prices.one_per_provider(offers, facts["entity"]["clean"])
    convert_prices.flag_offers(offers, facts["entity"]["maker"], bool(facts.get("open_weights")))
    return offers


def model_record(facts: dict[str, Any], extra: list[dict[str, Any]]) -> dict[str, Any]:
    """A `model` artifact from merged models.dev facts (may be empty) and genai-prices offers."""
    ent = facts["entity"]
    name, path, maker = ent["name"], ent["clean"], ent["maker"]
    offers = resolved_offers(facts, extra)
    providers = sorted({o["provider_name"] or o["provider"] for o in offers})
    fair = [o for o in offers if not convert_prices.price_flagged(o)]
    paid = [o for o in fair if (o["input_per_mtok"] or 0) > 0 or (o["output_per_mtok"] or 0) > 0]
    zero = [o for o in fair if o["input_per_mtok"] == 0 and o["output_per_mtok"] in (0, None)]
    free_tier = any("free tier" in (o.get("price_comments") or "").lower() for o in extra)
    pricing = convert_prices.pricing(offers, bool(facts.get("open_weights")), free_tier)
    inputs, outputs = facts.get("inputs") or [], facts.get("outputs") or []
    context = convert_prices.context_headline(offers)
    descriptions = [o["description"] for o in extra if o.get("description")]
    described = descriptions[0] if descriptions else ""
    summary = f"{name}: a model served by {len(providers)} provider{'s' if len(providers) != 1 else ''} here"
    if inputs and outputs:
        summary += f", {_listing(inputs)} in, {_listing(outputs)} out"
    if context:
        summary += f", context window {int(context):,} tokens"
    summary += "."
    caps = convert_models_dev.model_capabilities(name, path, facts, described, context)
    cheapest = sorted(paid, key=lambda o: (o["input_per_mtok"] or 0) + (o["output_per_mtok"] or 0))[:3]
    offer_text = f"Served by {len(providers)} provider{'s' if len(providers) != 1 else ''}: {_listing(providers[:8])}"
    offer_text += f" and {len(providers) - 8} more" if len(providers) > 8 else ""
    if cheapest:
        offer_text += ". Lowest listed prices per million input / output tokens: " + "; ".join(
            f"{o['provider_name'] or o['provider']} {money(o['input_per_mtok'] or 0)} / "
            f"{money(o['output_per_mtok'] or 0)}" for o in cheapest)
    if zero:
        free_at = sorted({o["provider_name"] or o["provider"] for o in zero})[:4]
        offer_text += f". Free (zero price) at {_listing(free_at)}"
    caps.append(capability("Hosted API offers", offer_text + "."))
    caps[-1]["_flag"] = "offers"
    signals: dict[str, Any] = {
        "source": "models.dev (anomalyco/models.dev, MIT)" + (" and genai-prices (pydantic/genai-prices, MIT)"
                                                             if extra else "") if facts.get("offers") else
        "genai-prices (pydantic/genai-prices, MIT)",
        "providers": len(providers),
        "offers": convert_prices.offer_records(offers),
    }
    low_in, low_out, _basis = convert_prices.headline(offers)
    if low_in is not None:
        signals["price_input_per_mtok"] = low_in
    if low_out is not None:
        signals["price_output_per_mtok"] = low_out
    if context:
        signals["context_window"] = int(context)
    if facts.get("open_weights") is not None:
        signals["open_weights"] = bool(facts["open_weights"])
    if inputs or outputs:
        # models.dev lists embedding models as "text out"; what they put out is an embedding (a filter on
        # modality_out, or a search for a model that writes text, must not take them for text generators)
        kind = convert_models_dev.model_kind(name, path, described, inputs, outputs)
        signals["modalities"] = {"input": inputs, "output": ["embedding"] if kind == "embedding" else outputs}
    record: dict[str, Any] = {
        "id": f"{maker}/{slug(path) or slug(facts['key'].replace('|', '-'))}",
        "name": name, "type": "model", "pricing": pricing,
        "description": described or summary,
        "tags": tags([*inputs, *("to-" + o for o in outputs), facts.get("family", ""), maker,
                      "tool-calling" if facts.get("tool_call") else "", "reasoning" if facts.get("reasoning") else "",
                      "open-weights" if facts.get("open_weights") else "", "llm" if "text" in outputs else ""]),
        "signals": signals,
        "capabilities": caps,
        "_flags": {f: bool(facts.get(f)) for f in ("tool_call", "reasoning", "structured_output")},
        "_inputs": inputs, "_price": low_in, "_context": context, "_where": facts.get("key"),
    }
    doc = next(iter(facts.get("docs") or []), "")
    url = doc or next((o["pricing_url"] for o in extra if o.get("pricing_url")), "")
    if url.startswith("http"):
        record["url"] = url
    if facts.get("last_updated"):
        record["updated_at"] = facts["last_updated"]
    return record


def build_models(md_offers: list[dict[str, Any]], offers: list[dict[str, Any]], report: Report,
                 fixed: frozenset[str] = frozenset()) -> list[dict]:
    """Resolve the offers of both sources into models (data/convert_resolve.py), then build one record
    each; the ids earlier catalogs gave to the spellings merged into a record become its `aliases`."""
    for o in md_offers:
        o.update(source="models.dev", path=o["model_path"])
    for o in offers:
        o.update(source="genai-prices", path=o["id"])
    legacy = legacy_ids(md_offers, offers)
    out, used = [], set()
    groups = convert_resolve.group_offers(md_offers + offers)
    for members in groups:
        md = [o for o in members if o["source"] == "models.dev"]
        extra = [o for o in members if o["source"] == "genai-prices"]
        facts = merge_offers(members[0]["identity"], md) if md else {"key": members[0]["identity"]}
        facts["entity"] = convert_resolve.entity(members, MAKERS + MORE_MAKERS)
        facts["md_offers"] = md
        record = model_record(facts, extra)
        olds = sorted({legacy[("md", o["legacy_key"])] for o in md} | {legacy[("gp", o["key"])] for o in extra
                                                                       if ("gp", o["key"]) in legacy})
        if record["id"] in fixed:  # a Hugging Face model of the Gorilla files, served here: linked to it
            record["_same_as"] = [record["id"]]
        if record["id"] in used or record["id"] in fixed:  # readable names collide: keep an old id
            record["id"] = next((i for i in olds if i not in used and i not in fixed),
                                record["id"] + "-" + slug(facts["key"].replace("|", "-")))
        used.add(record["id"])
        record["_aliases"] = [i for i in olds if i != record["id"]]
        out.append(record)
    merged = sum(1 for g in groups if len({o.get("legacy_key") or o["key"] for o in g}) > 1)
    report.notes.append(f"entity resolution: {len(md_offers) + len(offers)} offers are {len(out)} models; "
                        f"{merged} models merge spellings that were separate records "
                        f"({sum(len(r['_aliases']) for r in out)} old ids kept as aliases)")
    flagged = [(r["id"], o["provider"], o["flagged"]) for r in out for o in r["signals"]["offers"] if o.get("flagged")]
    report.notes.append(f"flagged offers: {len(flagged)} (never a headline price, never decide pricing)")
    report.notes += [f"  flagged {aid} @ {provider}: {why}" for aid, provider, why in flagged[:400]]
    return out


def legacy_ids(md_offers: list[dict[str, Any]], offers: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """The id each model got before entity resolution (one record per `convert_models_dev.model_key`):
    kept as aliases so links and recorded history under them keep working."""
    out: dict[tuple[str, str], str] = {}
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in md_offers:
        by_key[o["legacy_key"]].append(o)
    for key, members in by_key.items():
        facts = merge_offers(key, members)
        path = facts["model_path"]
        out[("md", key)] = f"{_maker({'org': facts['org'], 'model_path': path})}/{slug(path) or slug(key)}"
    genai: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in offers:
        genai[o["key"]].append(o)
    for key, members in genai.items():
        if key in by_key:
            out[("gp", key)] = out[("md", key)]
            continue
        path = members[0]["id"].split("/")[-1]
        out[("gp", key)] = f"{_maker({'org': '', 'model_path': path})}/{slug(path) or slug(key)}"
    return out


# --------------------------------------------------------------------------- comparisons


def _rank_sentence(value: float, values: list[float], group: str, what: str, best_word: str,
                   low_is_best: bool, shown: str) -> str:
    ordered = sorted(values) if low_is_best else sorted(values, reverse=True)
    place = ordered.index(value) + 1
    if place == 1:
        return f"{best_word} of the {len(values)} {group} here ({shown})."
    median = statistics.median(values)
    return (f"{ordinal(place)} {'lowest' if low_is_best else 'highest'} {what} of the {len(values)} {group} here "
            f"({shown}; median {money(median) if low_is_best else f'{median:,.0f}'}).")


def compare_models(models: list[dict[str, Any]]) -> None:
    """Price and context-window ranks within the groups a capability names (computed over this catalog)."""
    groups: dict[str, list[dict[str, Any]]] = {
        "tool_call": [m for m in models if m["_flags"]["tool_call"]],
        "reasoning": [m for m in models if m["_flags"]["reasoning"]],
        "structured_output": [m for m in models if m["_flags"]["structured_output"]],
    }
    labels = {"tool_call": "models with tool calling", "reasoning": "models with a reasoning mode",
              "structured_output": "models with structured output"}
    for flag, members in groups.items():
        priced = [m["_price"] for m in members if m["_price"] is not None]
        for m in members:
            if m["_price"] is None:
                continue
            for cap in m["capabilities"]:
                if cap.get("_flag") == flag:
                    cap["vs_alternatives"] = _rank_sentence(
                        m["_price"], priced, f"{labels[flag]} and a listed price", "input price", "Cheapest",
                        True, f"from {money(m['_price'])} per million input tokens")
    image = [m for m in models if "image" in m["_inputs"]]
    contexts = [m["_context"] for m in models if m["_context"]]
    image_contexts = [m["_context"] for m in image if m["_context"]]
    for m in models:
        for cap in m["capabilities"]:
            if cap.get("_flag") == "context" and m["_context"]:
                shown = f"{int(m['_context']):,} tokens"
                cap["vs_alternatives"] = _rank_sentence(m["_context"], contexts, "models with a known context window",
                                                        "context window", "Largest context window", False, shown)
                if m in image and image_contexts and sorted(image_contexts, reverse=True).index(m["_context"]) < 3:
                    cap["unique"] = _rank_sentence(m["_context"], image_contexts, "models with image input",
                                                   "context window", "Largest context window", False, shown)
            if cap.get("_flag") == "offers":
                counts = [x["signals"]["providers"] for x in models]
                fewer = sum(1 for c in counts if c < m["signals"]["providers"])
                if m["signals"]["providers"] > 1:
                    cap["vs_alternatives"] = (f"Served by {m['signals']['providers']} providers: more than {fewer} "
                                              f"of the {len(counts)} models here.")


def compare_by_stars(records: list[dict[str, Any]], noun: str) -> None:
    groups = defaultdict(list)
    for r in records:
        if r["signals"].get("stars") is not None:
            groups[r.get("_category", "")].append(r)
    for category, members in groups.items():
        stars = [r["signals"]["stars"] for r in members]
        if len(members) < 2:
            continue
        for r in members:
            sentence = _rank_sentence(r["signals"]["stars"], stars, f"{noun} in {category}", "GitHub star count",
                                      "Most GitHub stars", False, f"{r['signals']['stars']:,} stars")
            r["capabilities"][0]["vs_alternatives"] = sentence


def compare_public_apis(records: list[dict[str, Any]]) -> None:
    groups = defaultdict(list)
    for r in records:
        groups[r["_category"]].append(r)
    for category, members in groups.items():
        open_ = sum(1 for r in members if r["signals"]["auth"] == "no")
        cors = sum(1 for r in members if r["signals"]["cors"] == "yes")
        for r in members:
            needs = "needs no authentication" if r["signals"]["auth"] == "no" else f"needs {r['signals']['auth']}"
            r["capabilities"][-1]["vs_alternatives"] = (
                f"It {needs}; {open_} of the {len(members)} free {category} APIs here need none, and {cors} allow "
                "CORS (browser calls).")


# --------------------------------------------------------------------------- joins and dedupe


def join_downloads(records: list[dict[str, Any]], downloads: dict[str, int], report: Report) -> None:
    joined = 0
    for r in records:
        name = r["signals"].get("pypi")
        if name and name in downloads:
            r["signals"]["downloads"] = downloads[name]
            r["signals"]["downloads_source"] = "top-pypi-packages (30-day PyPI downloads, 2026-04)"
            joined += 1
        elif "downloads" in r["signals"]:
            r["signals"]["downloads_source"] = "best-of-ml-python (PyPI monthly downloads, 2025-06)"
    report.notes.append(f"joined 30-day downloads onto {joined} artifacts by PyPI project name")


def dedupe_by_repo(primary: list[dict[str, Any]], secondary: list[dict[str, Any]], report: Report) -> list[dict]:
    """Drop `secondary` records whose GitHub repo is a `primary` record's; their section becomes its tag."""
    by_repo = {r["signals"]["github"]: r for r in primary if r["signals"].get("github")}
    kept = []
    for r in secondary:
        other = by_repo.get(r["signals"].get("github", ""))
        if other is None:
            kept.append(r)
            continue
        other["tags"] = tags([*other["tags"], *r["tags"]], limit=20)
        report.notes.append(f"{r['_where']}: {r['name']} is {other['id']} (same GitHub repository); merged")
    return kept


# --------------------------------------------------------------------------- validation and output


def finish(records: list[dict[str, Any]], taken: dict[str, str], file: str, report: Report) -> list[dict[str, Any]]:
    """Strip private keys, validate, skip clashing ids; sorted by id."""
    out = []
    for r in records:
        where = r.get("_where", r.get("id"))
        clean_record = {k: v for k, v in r.items() if not k.startswith("_")}
        clean_record["pricing"] = OLD_PRICING.get(clean_record.get("pricing", ""), clean_record.get("pricing"))
        clean_record["capabilities"] = dedupe_capabilities(
            [{k: v for k, v in c.items() if not k.startswith("_")} for c in r["capabilities"]], limit=40)
        if not clean_record.get("description"):
            clean_record.pop("description", None)
        if not clean_record.get("tags"):
            clean_record.pop("tags", None)
        for key in ("aliases", "same_as"):
            if r.get(f"_{key}"):
                clean_record[key] = sorted(set(r[f"_{key}"]))
        if clean_record["id"] in taken:
            report.skip(str(where), f"id clash: {clean_record['id']} is already in {taken[clean_record['id']]}")
            continue
        try:
            Artifact.from_record(clean_record)
        except CatalogError as exc:
            report.skip(str(where), f"invalid record: {exc}")
            continue
        taken[clean_record["id"]] = file
        out.append(clean_record)
    return sorted(out, key=lambda r: r["id"])


def resolve_across_sources(models: list[dict], libraries: list[dict], mcp: list[dict], awesome: list[dict],
                           results: dict[str, Any], reports: dict[str, Report],
                           other_ids: Path) -> tuple[list[dict], list[dict]]:
    """Cross-source entity resolution (data/convert_link.py): merge the same thing, link things that belong
    together, tell apart different things with one name. Returns the public-apis and awesome records left."""
    awesome_left = convert_link.merge_models(models, awesome, reports["awesome-generative-ai"])
    public = convert_link.merge_same_api(results["gorilla-apizoo"], results["public-apis"], reports["public-apis"])
    convert_link.link_same_as([libraries, mcp, awesome_left], reports["mcp-registry"])
    fixed = [json.loads(line) for path in sorted(other_ids.glob("*.jsonl"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    mine = [*models, *libraries, *mcp, *awesome_left, *public, *results["gorilla-apizoo"], *results["prompts"],
            *results["lm-eval"], *results["gorilla-agent-arena"]]
    convert_link.tell_apart(mine, fixed, reports["models-dev"])
    return public, awesome_left


def settle_aliases(files: dict[str, tuple[list[dict], Report]], taken: dict[str, str]) -> None:
    """Each old id resolves to one record: never a live id, and when two records claim one (the old slug
    rule gave `prompt/x` to every name in another script) the first in source order keeps it."""
    live = set(taken) | {r["id"] for records, _ in files.values() for r in records}
    claimed: set[str] = set()
    for records, _report in files.values():
        for r in records:
            olds = [*r.get("_aliases", []), *convert_common.LEGACY_IDS.get(r["id"], [])]
            r["_aliases"] = [a for a in dict.fromkeys(olds) if a not in live and a not in claimed]
            claimed.update(r["_aliases"])


def existing_ids(data_dir: Path) -> dict[str, str]:
    taken = {}
    for path in sorted(data_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                taken[json.loads(line)["id"]] = path.name
    return taken


def convert_all(src: Path, out: Path, log=print, other_ids: Path = REPO_ROOT / "data") -> tuple[dict, dict]:
    """Run every converter, join, dedupe, compare, validate and write; ids must not clash with the
    catalog files already in `other_ids` (the Gorilla and seed files)."""
    reports = {name: Report(name) for name, *_ in SOURCES}
    results: dict[str, Any] = {}
    for name, module, *_ in SOURCES:
        folder = src / name
        if not folder.is_dir():
            reports[name].skip(name, "source folder missing")
            results[name] = {} if name == "top-pypi" else []
            continue
        results[name] = module.convert(folder, reports[name])
    models = build_models(results["models-dev"], results["genai-prices"], reports["genai-prices"],
                          frozenset(existing_ids(other_ids)))
    compare_models(models)
    libraries = results["best-of-ml-python"]
    mcp = results["mcp-registry"]
    join_downloads(libraries + mcp, results["top-pypi"], reports["top-pypi"])
    compare_by_stars(libraries, "libraries")
    compare_public_apis(results["public-apis"])
    awesome = dedupe_by_repo(libraries + mcp, results["awesome-generative-ai"], reports["awesome-generative-ai"])
    public, awesome = resolve_across_sources(models, libraries, mcp, awesome, results, reports, other_ids)
    files = {
        "models.jsonl": (models, reports["models-dev"]),
        "best-of-ml-python.jsonl": (libraries, reports["best-of-ml-python"]),
        "public-apis.jsonl": (public, reports["public-apis"]),
        "gorilla-apizoo.jsonl": (results["gorilla-apizoo"], reports["gorilla-apizoo"]),
        "mcp-registry.jsonl": (mcp, reports["mcp-registry"]),
        "awesome-generative-ai.jsonl": (awesome, reports["awesome-generative-ai"]),
        "prompts.jsonl": (results["prompts"], reports["prompts"]),
        "lm-eval.jsonl": (results["lm-eval"], reports["lm-eval"]),
        "gorilla-agent-arena.jsonl": (results["gorilla-agent-arena"], reports["gorilla-agent-arena"]),
    }
    files.update(convert_extra.run(src, files, reports, other_ids))  # datasets, quality, usage (issue 24)
    taken = existing_ids(other_ids)
    settle_aliases(files, taken)
    written: dict[str, list[dict]] = {}
    for file, (records, report) in files.items():
        written[file] = finish(records, taken, file, report)
        write_jsonl(out / file, written[file])
    for name, report in reports.items():
        kept = {"models-dev": len(written["models.jsonl"]), "top-pypi": len(results["top-pypi"]),
                "genai-prices": len(results["genai-prices"])}.get(name)
        if kept is None:
            kept = len(written.get(next(f for n, _m, f, *_ in ALL_SOURCES if n == name), []))
        for line in report.lines(kept):
            log(line)
    return written, reports


def write_notice(path: Path, written: dict[str, list[dict]], reports: dict[str, Report], src: Path) -> None:
    head = path.read_text(encoding="utf-8").split(NOTICE_MARK)[0].rstrip() if path.is_file() else "# Data notice"
    lines = [head, "", NOTICE_MARK, "", "## Sources converted by `convert_all.py` (data/catalog/)", "",
             "| source folder | upstream (commit) | license | converted to | rows read | rows skipped |",
             "|---|---|---|---|---|---|"]
    for name, _module, file, lic, commit, upstream in ALL_SOURCES:
        r = reports[name]
        lines.append(f"| `{name}` | {upstream} (`{commit}`) | {lic} | `{file}` | {r.rows:,} | {len(r.skipped):,} |")
    lines += ["", "| file | artifacts | types | pricing |", "|---|---|---|---|"]
    total = 0
    for file, records in written.items():
        total += len(records)
        t = Counter(r["type"] for r in records)
        p = Counter(r["pricing"] for r in records)
        lines.append(f"| `{file}` | {len(records):,} | " + ", ".join(f"{k} {v}" for k, v in sorted(t.items()))
                     + " | " + ", ".join(f"{k} {v}" for k, v in sorted(p.items())) + " |")
    lines += ["", f"{total:,} artifacts in data/catalog/.", ""]
    lines += [
        "**Share-alike.** `best-of-ml-python.jsonl` is derived from best-of-ml-python by ml-tooling, licensed",
        "CC-BY-SA-4.0 ([`catalog/LICENSE.best-of-ml-python`](catalog/LICENSE.best-of-ml-python)); the derived file",
        "is distributed under the same license, each record names the list in `signals.source`. Changes: rows",
        "converted to catalog records, 30-day downloads from top-pypi-packages joined by PyPI name, comparison",
        "sentences computed over the catalog.",
        "",
        "**Share-alike.** `best-of-mcp-servers.jsonl` is derived from best-of-mcp-servers by tolkonepiu, licensed",
        "CC-BY-SA-4.0 ([`catalog/LICENSE.best-of-mcp-servers`](catalog/LICENSE.best-of-mcp-servers)); the derived",
        "file is distributed under the same license. Changes: rows converted to catalog records. Only numbers",
        "(stars, contributors, monthly downloads, with `signals.usage_source`) were added to MCP servers of",
        "other files that have the same GitHub repository.",
        "",
        "**Credit.** Benchmark results: Epoch AI, 'AI Benchmarking'. Published online at epoch.ai. Retrieved from",
        "'https://epoch.ai/benchmarks' (CC-BY-4.0; `catalog/LICENSE.epoch-benchmarks`). LLM Stats open data",
        "(llm-stats.com, JonathanChavezTamales/LLMStats, (c) 2024 jc, CC-BY-4.0; `catalog/LICENSE.llmstats`).",
        "Berkeley Function-Calling Leaderboard (Apache-2.0). MTEB results (CC0-1.0). Each result names its source",
        "in `signals.benchmarks[].source`; changes: scores rescaled to 0..100 in `score` (`value` as published).",
        "Datasets: MTEB task metadata, TensorFlow Datasets and ir_datasets (Apache-2.0 packages); each dataset's",
        "own licence is in its record (`signals.license`, \"unknown\" where the package does not state it).",
        "",
        "**Credit.** Download counts: top-pypi-packages by Hugo van Kemenade (hugovk/top-pypi-packages).",
        "Every other source's license file is copied beside the data as `catalog/LICENSE.<source>`.",
        "",
        "### Malformed rows skipped",
        "",
    ]
    for name, r in reports.items():
        if r.skipped:
            reasons = Counter(reason.split(":")[0] for _, reason in r.skipped)
            lines.append(f"- `{name}`: {len(r.skipped)} ("
                         + "; ".join(f"{why} x{n}" for why, n in sorted(reasons.items())) + ")")
            for where, reason in r.skipped[:12]:
                lines.append(f"  - `{where}`: {reason}")
            if len(r.skipped) > 12:
                lines.append(f"  - ... {len(r.skipped) - 12} more (run `python data/convert_all.py` to list all)")
    notes = [f"- `{name}`: {n}" for name, r in reports.items() for n in r.notes
             if "merged" not in n and not n.startswith("  ")]  # indented notes: details for the log only
    merged = sum(1 for r in reports.values() for n in r.notes if n.endswith("merged"))
    if notes or merged:
        lines += ["", "### Joins and merges", ""] + notes
        if merged:
            lines.append(f"- `awesome-generative-ai`: {merged} entries are a library or MCP server of another "
                         "source (same GitHub repository) and were merged into it")
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


def copy_licenses(src: Path, out: Path) -> None:
    for name, *_ in ALL_SOURCES:
        for candidate in ("LICENSE", "LICENSE.md", *convert_extra.LICENSE_FILES.get(name, "").split()):
            lic = src / name / candidate
            if lic.is_file():
                (out / f"LICENSE.{name}").write_bytes(lic.read_bytes())
                break


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="folder of the sources (../shared/data)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (data/catalog)")
    parser.add_argument("--notice", type=Path, default=DEFAULT_NOTICE, help="NOTICE file to update")
    args = parser.parse_args(argv)
    if not args.src.is_dir():
        print(f"error: source folder {args.src} not found; pass --src", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    written, reports = convert_all(args.src, args.out)
    copy_licenses(args.src, args.out)
    write_notice(args.notice, written, reports, args.src)
    print(f"total: {sum(len(v) for v in written.values())} artifacts in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
