"""`python -m data.audit`: its thresholds hold on the bundled catalog, its rules on small examples.

The thresholds are issue 23's: no e-mail address, at most 25 groups of same-type records sharing a
normalised name that are neither merged, linked nor told apart by name, at least 1,300 records with an
input price, no headline price that is a flagged offer, no headline context over 10M tokens.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from data import audit

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "shared"


def test_bundled_catalog_meets_the_audit_thresholds() -> None:
    result = audit.checks(audit.load(ROOT / "data"))
    assert result["email_addresses"] == []
    assert len(result["duplicate_groups_left"]) <= audit.MAX_DUPLICATE_GROUPS_LEFT == 25
    assert result["input_prices"] >= audit.MIN_INPUT_PRICES == 1300
    assert result["headline_is_flagged"] == [] and result["context_over_10m"] == []
    assert result["provider_listed_twice"] == [], "one offer per provider"
    assert result["unfilled_placeholders"] == [] and result["placeholder_ids"] == []
    assert result["january_first_dates"] == [] and result["hf_links_without_owner"] == []
    assert set(result["pricing"]) <= {"free", "open-weights", "freemium", "paid", "unknown"}
    assert audit.failures(result) == []


def test_bundled_catalog_meets_the_companion_sections_thresholds() -> None:
    """Issue 24's counts (datasets, licences, URLs, quality, adoption) are sections of the one audit."""
    extra = audit.sections(audit.load(ROOT / "data"))
    d = extra["datasets"]
    assert d["datasets"] >= 1000 and d["datasets_with_licence_share"] >= 0.95 and d["datasets_with_url_share"] >= 0.95
    assert d["quality_named_dated_source"] >= 500 and d["adoption_from_usage"] >= 1200
    assert audit.section_failures(extra) == []
    failing = {"datasets": {**d, "datasets": 999}}
    assert audit.section_failures(failing) == ["datasets.datasets = 999 (must be >= 1000)"]


def test_cli_reports_and_exits_zero_when_thresholds_hold() -> None:
    proc = subprocess.run([sys.executable, "-m", "data.audit"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "thresholds: all met" in proc.stdout and "e-mail addresses: 0 records" in proc.stdout
    assert "dropped rows (NOTICE.md):" in proc.stdout and "server without a description" in proc.stdout


def _rec(aid: str, name: str, kind: str = "model", **extra) -> dict:
    return {"id": aid, "name": name, "type": kind, "capabilities": [{"title": name}], "_file": "x.jsonl", **extra}


def test_duplicate_groups_are_merged_linked_told_apart_or_left() -> None:
    records = [
        _rec("a/claude-opus-4-7", "Claude Opus 4.7"), _rec("model/us.claude", "us.Claude-Opus-4.7-v1-0"),  # left
        _rec("lib/opik", "opik", "tool", same_as=["mcp/opik"]), _rec("mcp/opik", "Opik", "tool", same_as=["lib/opik"]),
        _rec("api/dog-facts", "Dog Facts (dukengn.github.io)", "api"),
        _rec("api/dog-facts-2", "Dog Facts (kinduff.github.io)", "api"),
        _rec("b/command-r", "Command R"), _rec("b/command-r-plus", "Command R+"),  # `+` is not nothing
    ]
    groups = audit.duplicates(records)
    assert [[m["id"] for m in g] for g in groups["left"]] == [["a/claude-opus-4-7", "model/us.claude"]]
    assert len(groups["linked"]) == 1 and len(groups["told_apart"]) == 1


def test_emails_placeholders_and_flagged_headlines_are_found() -> None:
    offers = [{"provider": "Maker", "input_per_mtok": 3.0, "maker": True},
              {"provider": "Reseller", "input_per_mtok": 0.4, "flagged": "under a quarter"}]
    records = [
        _rec("prompt/a", "A", "prompt", description="Mail me at someone@example.com"),
        _rec("prompt/b", "B", "prompt", description="Write about ${topic}"),
        _rec("prompt/c", "C", "prompt", description="Write about ${topic}", signals={"parameters": ["topic"]}),
        _rec("prompt/d", "D", "prompt", description="console.log(`${response.status}`)"),
        _rec("m/x", "X", signals={"price_input_per_mtok": 0.4, "offers": offers}),
        _rec("m/y", "Y", signals={"price_input_per_mtok": 3.0, "offers": offers}),
    ]
    result = audit.checks(records)
    assert result["email_addresses"] == ["prompt/a"]
    assert result["unfilled_placeholders"] == ["prompt/b"], "a template's parameters and code are not placeholders"
    assert result["headline_is_flagged"] == ["m/x"]


def test_sample_prints_records_beside_their_source_rows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "catalog").mkdir(parents=True)
    row = _rec("prompt/ethereum-developer", "Ethereum Developer", "prompt",
               signals={"source": "awesome-chatgpt-prompts: prompts.csv:2"})
    row.pop("_file")
    (data / "catalog" / "prompts.jsonl").write_text(json.dumps(row) + "\n")
    proc = subprocess.run([sys.executable, "-m", "data.audit", "--data", str(data), "--sample", "1", "--seed", "7",
                           "--shared", str(FIXTURES)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--- 1/1 prompt/ethereum-developer" in proc.stdout
    assert "source: prompts/prompts.csv:2: [\"Ethereum Developer\"," in proc.stdout
