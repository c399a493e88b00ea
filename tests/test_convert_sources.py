"""The per-source converters (data/convert_*.py via data/convert_all.py) on compact raw samples.

The samples in tests/fixtures/shared/<source>/ are real rows cut from ../shared/data (with each source's
license beside them) plus the malformed rows the real sources contain (a TOML pointer to a missing file,
a file that is not TOML, a JSON file that does not parse...), so these tests never need ../shared.
The last test checks the bundled catalog itself (data/ and data/catalog/) without ingesting it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import get_args

import pytest

from api.models import ARTIFACT_TYPES, PRICING
from graph.loader import load_artifacts

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "shared"
SCRIPT = ROOT / "data" / "convert_all.py"


def _read(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("convert_all")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--src", str(FIXTURES), "--out", str(out / "catalog"),
                           "--notice", str(out / "NOTICE.md")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_rerun_gives_byte_identical_files(converted, tmp_path: Path) -> None:
    out, _ = converted
    proc = subprocess.run([sys.executable, str(SCRIPT), "--src", str(FIXTURES), "--out", str(tmp_path / "catalog"),
                           "--notice", str(tmp_path / "NOTICE.md")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for path in sorted((out / "catalog").iterdir()):
        assert (tmp_path / "catalog" / path.name).read_bytes() == path.read_bytes(), path.name
    assert (tmp_path / "NOTICE.md").read_text() == (out / "NOTICE.md").read_text()


def test_malformed_rows_are_reported_with_file_and_reason_and_skipped(converted) -> None:
    out, log = converted
    for where, reason in (
        ("providers/xiaomi/models/broken.toml", "not valid TOML"),
        ("providers/xiaomi/models/gone.toml", "points to a missing file"),
        ("Gmail_API.json", "not valid JSON"),
        ("data.json[2]", "provider without a models list"),
        ("top-pypi-packages.csv:7", "no project name or download count"),
        ("seed_2025_05_16.json[2]", "server without a name"),
        ("prompts.csv:9", "no act or prompt text"),  # the file line the row starts on
        ("elo_ratings_by_category.txt:14", "not a rating line"),
    ):
        assert any(where in line and reason in line for line in log.splitlines()), (where, reason)
    notice = (out / "NOTICE.md").read_text()
    assert "`Gmail_API.json`: not valid JSON" in notice
    models = _read(out / "catalog" / "models.jsonl")
    assert "xiaomi/claude-3-haiku-20240307" not in models, "a pointer file is the model it points to"


def test_every_record_fits_the_schema_and_ids_are_unique(converted) -> None:
    out, _ = converted
    artifacts = load_artifacts([out / "catalog"])
    ids = [a.id for a in artifacts]
    assert len(ids) == len(set(ids)) > 50
    assert {a.type for a in artifacts} >= {"model", "library", "api", "tool", "agent", "prompt", "benchmark", "other"}
    for a in artifacts:
        assert a.capabilities and all(c.text for c in a.capabilities)


def test_one_model_served_by_several_providers_is_one_artifact_with_its_offers(converted) -> None:
    models = _read(converted[0] / "catalog" / "models.jsonl")
    # anthropic's own dated file, a provider's pointer to it, OpenRouter's undated one and genai-prices'
    # Anthropic price: one model, one offer per provider
    haiku = models["anthropic/claude-3-haiku"]
    assert "anthropic/claude-3-haiku-20240307" in haiku["aliases"]
    assert haiku["signals"]["providers"] == 3
    assert [o["provider"] for o in haiku["signals"]["offers"]].count("Anthropic") == 1
    assert {o["provider"] for o in haiku["signals"]["offers"]} == {"Anthropic", "OpenRouter", "Xiaomi"}
    assert haiku["pricing"] == "paid" and haiku["signals"]["price_input_per_mtok"] > 0
    assert haiku["description"] and "genai-prices" in haiku["signals"]["source"]
    assert models["anthropic/claude-2"]["signals"]["offers"], "a genai-prices-only model is a model too"
    assert models["meta-llama/llama-3.3-70b-instruct"]["pricing"] == "freemium", "OpenRouter's :free beside paid"
    llama = models["meta-llama/llama-3.3-70b"]  # Groq's `-versatile` is Llama 3.3 70B
    assert llama["pricing"] == "open-weights" and "meta-llama/llama-3.3-70b-versatile" in llama["aliases"]
    titles = {c["title"] for c in haiku["capabilities"]}
    assert {"Chat and text generation with function calling", "Long context: 200,000 tokens"} <= titles
    chat = next(c for c in haiku["capabilities"] if c["title"].startswith("Chat"))
    assert "images" in chat["description"] and "(function calling: " in chat["description"]


def test_capability_comparisons_state_only_what_the_catalog_shows(converted) -> None:
    models = _read(converted[0] / "catalog" / "models.jsonl")
    tool_callers = [m for m in models.values() if "tool-calling" in m.get("tags", [])
                    and "price_input_per_mtok" in m["signals"]]
    cheapest = min(tool_callers, key=lambda m: m["signals"]["price_input_per_mtok"])
    cap = next(c for c in cheapest["capabilities"] if c["title"] == "Chat and text generation with function calling")
    assert cap["vs_alternatives"].startswith(f"Cheapest of the {len(tool_callers)} models with tool calling")
    libs = _read(converted[0] / "catalog" / "best-of-ml-python.jsonl")
    assert any("Most GitHub stars of the" in c.get("vs_alternatives", "") for r in libs.values()
               for c in r["capabilities"])


def test_libraries_join_top_pypi_downloads_and_absorb_the_same_repo_from_other_lists(converted) -> None:
    out, _ = converted
    libs = _read(out / "catalog" / "best-of-ml-python.jsonl")
    torch = libs["lib/pytorch-pytorch"]
    assert torch["signals"]["downloads"] == 87347847 and "top-pypi" in torch["signals"]["downloads_source"]
    assert torch["signals"]["stars"] > 0 and torch["signals"]["dependents"] > 0
    assert torch["pricing"] == "open-weights" and torch["signals"]["license"]
    awesome = _read(out / "catalog" / "awesome-generative-ai.jsonl")
    assert not any(r["name"] == "Ludwig" for r in awesome.values()), "Ludwig is the best-of-ml-python library"
    assert "generative-ai" in libs["lib/ludwig-ai-ludwig"]["tags"]
    assert "CC-BY-SA-4.0" in torch["signals"]["source"]
    assert (out / "catalog" / "LICENSE.best-of-ml-python").read_text().startswith("Attribution-ShareAlike")


def test_notice_names_every_source_with_commit_and_license(converted) -> None:
    sys.path.insert(0, str(ROOT / "data"))
    import convert_all

    notice = (converted[0] / "NOTICE.md").read_text()
    for name, _module, _file, lic, commit, _upstream in convert_all.SOURCES:
        row = next(line for line in notice.splitlines() if line.startswith(f"| `{name}` |"))
        assert commit in row and lic in row


def test_bundled_catalog_is_a_real_directory() -> None:
    """The shipped catalog meets issue 13's numbers (read and validated, not ingested: no embedding)."""
    artifacts = load_artifacts([ROOT / "data"])
    assert len(artifacts) >= 6000
    types = Counter(a.type for a in artifacts)
    assert sum(1 for n in types.values() if n >= 40) >= 8, types
    assert set(get_args(ARTIFACT_TYPES)) <= set(types), "every type filter value returns something"
    pricing = Counter(a.pricing for a in artifacts)
    assert set(get_args(PRICING)) <= set(pricing), "every pricing filter value returns something"
    assert sum(n for p, n in pricing.items() if p != "free") >= 300
    adoption = [a for a in artifacts if any(isinstance(a.signals.get(k), int) and a.signals[k] > 0
                                            for k in ("stars", "downloads", "dependents", "likes", "providers"))]
    assert len(adoption) >= 2000
    by_id = {a.id: a for a in artifacts}
    assert by_id["bert-large-uncased-whole-word-masking-finetuned-squad"].type == "fine-tune"
    assert by_id["bigcode/the-stack-v2"].type == "dataset"
    for path in (ROOT / "data").rglob("*"):
        assert path.stat().st_size <= 8 * 1024 * 1024, f"{path} is over 8 MB"
    # the shipped vector snapshot covers every capability text (else a first start embeds the rest: slow)
    import hashlib

    from search import snapshot

    folder = ROOT / "data" / snapshot.FOLDER
    meta = json.loads((folder / snapshot.META).read_text())
    keys = (folder / snapshot.KEYS).read_bytes()
    have = {keys[i:i + snapshot.KEY_BYTES] for i in range(0, len(keys), snapshot.KEY_BYTES)}
    from search import doctext

    texts = {t for a in artifacts for t in doctext.capability_texts(a, doctext.DEFAULT)}
    missing = [t for t in texts if hashlib.sha256(f"{meta['model_id']}\0{t}".encode()).digest()[:16] not in have]
    assert not missing, f"{len(missing)} capability texts are not in data/vectors: run " \
                        f"`python -m search.snapshot write data` (first: {missing[0]!r})"


# --------------------------------------------------------------------------- issue 23: one record per thing


def test_region_and_snapshot_spellings_are_one_model_whose_old_ids_are_aliases(converted) -> None:
    models = _read(converted[0] / "catalog" / "models.jsonl")
    sonnet = models["anthropic/claude-sonnet-4-5"]
    assert {"anthropic/claude-sonnet-4-5-20250929", "model/us.anthropic.claude-sonnet-4-5-20250929-v1-0",
            "model/global.anthropic.claude-sonnet-4-5-20250929-v1-0"} <= set(sonnet["aliases"])
    assert not set(sonnet["aliases"]) & set(models), "an alias is never a live id"
    providers = [o["provider"] for o in sonnet["signals"]["offers"]]
    assert len(providers) == len(set(providers)), "one offer per provider (Bedrock's regions are one)"
    assert [o["provider"] for o in sonnet["signals"]["offers"] if o.get("maker")] == ["Anthropic"]


def test_headline_price_is_the_makers_and_a_reseller_far_below_is_flagged(converted) -> None:
    models = _read(converted[0] / "catalog" / "models.jsonl")
    sonnet = models["anthropic/claude-sonnet-4-5"]
    assert sonnet["signals"]["price_input_per_mtok"] == 3.0 and sonnet["signals"]["price_output_per_mtok"] == 15.0
    qihang = next(o for o in sonnet["signals"]["offers"] if o["provider"] == "QiHang")
    assert qihang["input_per_mtok"] == 0.43 and "under a quarter" in qihang["flagged"], "kept visible, flagged"
    assert not any(o.get("flagged") for o in sonnet["signals"]["offers"] if o.get("maker"))
    grok = models["xai/grok-4.1-fast-reasoning"]  # no maker offer here: the median of the unflagged offers
    assert grok["signals"]["price_input_per_mtok"] == 0.2
    assert grok["signals"]["context_window"] == 2_000_000, "Qiniu's 20,000,000 is flagged, never the headline"
    assert "over 10,000,000" in next(o for o in grok["signals"]["offers"] if o["provider"] == "Qiniu")["flagged"]
    for m in models.values():
        assert m["pricing"] in ("free", "open-weights", "freemium", "paid", "unknown")


def test_prompts_publish_no_email_and_templates_name_their_parameters(converted) -> None:
    prompts = _read(converted[0] / "catalog" / "prompts.jsonl")
    text = json.dumps(prompts)
    assert "@" not in "".join(p["signals"].get("contributor", "") for p in prompts.values())
    assert "cperalesg@gmail.com" not in text and "anoxina155@gmail.com" not in text
    cyrillic = next(p for p in prompts.values() if p["name"] == "Недвижимость")
    assert cyrillic["id"] == "prompt/nedvizhimost" and cyrillic["aliases"] == ["prompt/x"], "readable, old id kept"
    template = prompts["prompt/encyclopedia-assistant"]
    assert template["signals"]["parameters"] == ["topic", "language"] and "template" in template["tags"]
    assert template["description"].startswith("Template with parameters: topic; language (default: Chinese).")


def test_every_source_file_is_read_or_reported_and_api_zoo_names_products(converted) -> None:
    out, log = converted
    apis = _read(out / "catalog" / "gorilla-apizoo.jsonl")
    assert "apizoo/kubernetesapi" in apis, "an upper-case .JSON extension is read"
    # danielgeorge.json: named after its contributor, it documents DocuSign (12 calls) and Stripe (6)
    assert apis["apizoo/docusign"]["aliases"] == ["apizoo/danielgeorge"]
    assert apis["apizoo/stripe-api"]["name"] == "Stripe API" and apis["apizoo/stripe-api"]["signals"]["calls"] == 6
    assert not any(r["name"].lower().startswith("daniel") for r in apis.values())
    assert "server without a description" in log, "every dropped row is counted with its reason"


def test_mcp_servers_with_one_name_are_told_apart_and_import_day_is_no_date(converted) -> None:
    servers = _read(converted[0] / "catalog" / "mcp-registry.jsonl")
    named_mcp = sorted(s["name"] for s in servers.values() if s["name"].startswith("mcp ("))
    assert named_mcp == ["mcp (edubase)", "mcp (gibsonai)"]
    assert not any("updated_at" in s for s in servers.values()), "the registry's import day is not a date"


def test_old_pricing_value_is_read_as_open_weights() -> None:
    from graph.catalog import Artifact

    record = {"id": "x/y", "name": "Y", "type": "tool", "pricing": "open-source", "capabilities": [{"title": "t"}]}
    assert Artifact.from_record(record).pricing == "open-weights"
