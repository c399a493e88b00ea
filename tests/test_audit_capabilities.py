"""Capabilities are facts (issue 24): the audit's measures, the converters on real sample rows, the catalog.

The audit (data/audit_capabilities.py) is checked on records built to be each kind; the converters are run
on the samples in tests/fixtures/shared/ (real rows, including an embedding, a rerank, a speech, an image and
a guard model from models.dev and prompts longer than a capability once held) and must give no false claim,
no cut sentence and no capability without a title; the shipped catalog (data/) must meet the issue's bounds.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "shared"
sys.path.insert(0, str(ROOT / "data"))

import audit_capabilities as audit  # noqa: E402
from convert_common import clean  # noqa: E402


def _record(rid: str, caps: list[dict], **extra) -> dict:
    return {"id": rid, "name": rid.split("/")[-1], "type": "model", "capabilities": caps, **extra}


def test_kinds_template_copy_truncated_fact() -> None:
    records = [_record(f"org/model-{i}", [{"title": "Long context", "description": f"model-{i} reads up to "
                                           f"{100 + i},000 tokens of context."}]) for i in range(15)]
    records.append(_record("org/solo", [{"title": "What", "description": "Detects tumours in chest X-rays."},
                                        {"title": "Copy", "description": "A model that does many things well."},
                                        {"title": "Cut", "description": "It does this and then..."}],
                           description="A model that does many things well. It has two sentences."))
    records.append(_record("org/only-14", [{"title": "x", "description": "Same words here."}]))
    got = audit.report(records)
    assert got["kinds"] == {"template": 15, "fact": 2, "copy": 1, "truncated": 1}
    assert got["done"]["template_at_most_25pct"] is False
    # 14 records with the same text are not a template: the issue's measure is 15 or more
    fourteen = [_record(f"o/m{i}", [{"title": "t", "description": "Same words here."}]) for i in range(14)]
    assert audit.report(fourteen)["kinds"] == {"fact": 14}


def test_a_source_text_that_itself_ends_in_dots_is_not_a_cut() -> None:
    whole = "Instructions - Step 1: ... - Step 2: ..."
    rec = _record("prompt/nurse", [{"title": "Nurse", "description": f"A text prompt for: Nurse. The prompt: {whole}"}],
                  description=whole)
    assert audit.report([rec])["kinds"] == {"fact": 1}


def test_false_claims_by_modality() -> None:
    records = [
        _record("openai/text-embedding-3-large", [{"title": "Text generation (chat and completion)",
                                                   "description": "generates text from text input."}]),
        _record("cohere/rerank-v3.5", [{"title": "Long context window", "description": "reads up to 4,096 tokens."}],
                signals={"context_window": 4096}),
        _record("openai/dall-e-3", [{"title": "Function calling (tool use)", "description": "calls tools."}],
                signals={"modalities": {"input": ["text"], "output": ["image"]}}),
        _record("openai/gpt-4o", [{"title": "Chat and text generation with function calling", "description": "x"},
                                  {"title": "Long context: 128,000 tokens", "description": "reads 128,000 tokens."}],
                signals={"modalities": {"input": ["text", "image"], "output": ["text"]}, "context_window": 128000}),
    ]
    got = audit.report(records)
    assert got["false_claims"] == {"chat or text generation": 1, "function calling": 1, "long context": 1}
    assert audit.model_kinds(records[3]) == set()


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("capfacts")
    for cmd in ([sys.executable, str(ROOT / "data" / "convert_all.py"), "--src", str(FIXTURES), "--out",
                 str(out / "catalog"), "--notice", str(out / "NOTICE.md")],
                [sys.executable, str(ROOT / "data" / "convert_gorilla.py"), "--src", str(FIXTURES / "gorilla"),
                 "--out", str(out / "data"), "--devsets", str(out / "devsets")]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    return audit.load(sorted((out / "catalog").glob("*.jsonl")) + sorted((out / "data").glob("*.jsonl")))


def test_converted_samples_make_no_false_claim_cut_or_untitled_capability(converted: list[dict]) -> None:
    got = audit.report(converted)
    assert got["false_claims"] == {}, got["examples"]
    assert got["kinds"].get("truncated", 0) == 0, got["examples"].get("truncated")
    assert got["untitled"] == 0
    assert got["kinds"].get("copy", 0) <= 0.10 * got["capabilities"], got["examples"].get("copy")


def test_models_get_what_they_do_never_chat_unless_they_converse(converted: list[dict]) -> None:
    by_id = {r["id"]: r for r in converted}
    expected = {
        "openai/text-embedding-3-large": "Embeddings for semantic search and retrieval",
        "voyageai/voyage-code-3": "Embeddings for semantic search and retrieval",
        "cohere/rerank-v3.5": "Reranking for search and retrieval",
        "openai/whisper-1": "Speech recognition (transcription)",
        "openai/dall-e-3": "Image generation",
        "black-forest-labs/flux_1-schnell": "Image generation",
        "meta-llama/llama-prompt-guard-2-86m": "Safety classification of prompts and responses",
    }
    for rid, title in expected.items():
        titles = [c["title"] for c in by_id[rid]["capabilities"]]
        assert titles[0] == title, (rid, titles)
        assert not any("chat" in t.lower() or "function calling" in t.lower() or t.startswith("Long context")
                       for t in titles), (rid, titles)
    for r in converted:
        for cap in r["capabilities"]:
            if cap["title"].startswith("Long context"):
                tokens = int(cap["title"].split(": ")[1].split()[0].replace(",", ""))
                assert tokens >= 100_000 and tokens == r["signals"]["context_window"], (r["id"], cap)


def test_prompts_are_whole_sentences_and_say_what_they_are_for(converted: list[dict]) -> None:
    with open(FIXTURES / "prompts" / "prompts.csv", encoding="utf-8", newline="") as fh:
        bodies = {row["act"]: clean(row["prompt"]) for row in csv.DictReader(fh)}
    prompts = {r["name"]: r for r in converted if r["type"] == "prompt"}
    review = prompts["Code Review Assistant"]["capabilities"][0]["description"]  # 1,233 characters: whole
    assert review.startswith("A text prompt for: Code Review Assistant") and "The prompt: " in review
    assert review.split("The prompt: ", 1)[1] == bodies["Code Review Assistant"]
    big = prompts["Comprehensive repository analysis"]["capabilities"][0]["description"]  # 21,118: its start
    assert "The prompt begins: " in big and len(big) <= 3200 and not big.endswith("...")
    for record in prompts.values():
        assert len(record["capabilities"]) == 1 and record["capabilities"][0]["title"] == record["name"]


def test_the_shipped_catalog_meets_the_issue_bounds() -> None:
    """Issue 24's done-when on data/ (no ../shared needed): templates <= 25%, copies <= 10%, nothing cut,
    no capability without a title, no chat / text generation on a model that does not converse."""
    got = audit.report(audit.load(audit.default_files(ROOT / "data")))
    assert got["kinds_percent"].get("template", 0) <= 25, got["top_templates"]
    assert got["kinds_percent"].get("copy", 0) <= 10, got["examples"].get("copy")
    assert got["kinds"].get("truncated", 0) == 0, got["examples"].get("truncated")
    assert got["untitled"] == 0
    assert got["false_claims"] == {}, got["examples"]


def test_main_prints_the_report(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(_record("o/m", [{"title": "t", "description": "Reads X-rays."}])) + "\n")
    proc = subprocess.run([sys.executable, str(ROOT / "data" / "audit_capabilities.py"), str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kinds"] == {"fact": 1}
