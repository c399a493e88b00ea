"""The Gorilla converter reproduces the bundled catalog and development sets, and the seed records hold."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graph.catalog import Artifact

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT.parent / "shared" / "data" / "gorilla"
PAGE = ROOT.parent / "shared" / "seed" / "comparison-page.txt"
SCRIPT = ROOT / "data" / "convert_gorilla.py"
CATALOG_FILES = ("huggingface.jsonl", "tensorflowhub.jsonl", "torchhub.jsonl")
DEVSET_FILES = ("huggingface_eval.jsonl", "torchhub_train.jsonl")
BERT = "bert-large-uncased-whole-word-masking-finetuned-squad"
STACK = "bigcode/the-stack-v2"
FIRST_BERT_CAPABILITY = (
    "Identifies and extracts answer spans directly from input passages using a fine-tuned BERT encoder "
    "with two output heads (start and end token logits). The model processes tokenized text through 24 "
    "transformer layers with whole-word masking, then applies softmax over token positions to predict the "
    "most likely answer boundary within the passage. This extractive approach (vs. generative) ensures "
    "answers are grounded in source text and computationally efficient for real-time inference."
)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the converter once into a tmp dir; a missing source folder is a failure, not a skip."""
    if not (SRC / "huggingface_api.jsonl").is_file():
        pytest.fail(f"Gorilla source data not found at {SRC} (expected ../shared/data/gorilla from the repo "
                    "root); the bundled catalog cannot be checked for reproducibility without it")
    out = tmp_path_factory.mktemp("convert")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--src", str(SRC), "--out", str(out / "data"),
         "--devsets", str(out / "devsets"), "--seed", str(ROOT / "data" / "seed.jsonl")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "merged into the seed" in proc.stdout
    return out


@pytest.fixture(scope="module")
def catalog() -> dict[str, list[dict]]:
    files = CATALOG_FILES + ("seed.jsonl",)
    return {name: _read(ROOT / "data" / name) for name in files}


@pytest.mark.parametrize("name", CATALOG_FILES)
def test_catalog_is_reproducible(converted: Path, name: str) -> None:
    assert (converted / "data" / name).read_bytes() == (ROOT / "data" / name).read_bytes(), (
        f"data/{name} differs from a fresh run of data/convert_gorilla.py; re-run the converter")


@pytest.mark.parametrize("name", DEVSET_FILES)
def test_devsets_are_reproducible(converted: Path, name: str) -> None:
    assert (converted / "devsets" / name).read_bytes() == (ROOT / "bench" / "devsets" / name).read_bytes()


def test_missing_source_exits_with_a_message(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--src", str(tmp_path / "nowhere"),
                           "--out", str(tmp_path / "out"), "--devsets", str(tmp_path / "dev")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "nowhere" in proc.stderr and "missing" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_records_validate_and_ids_are_unique(catalog: dict[str, list[dict]]) -> None:
    seen: dict[str, str] = {}
    for name, records in catalog.items():
        assert records, name
        for line, record in enumerate(records, start=1):
            artifact = Artifact.from_record(record, source=name, line=line)
            assert artifact.id not in seen, f"{artifact.id} in {name} and {seen[artifact.id]}"
            seen[artifact.id] = name
    for name in CATALOG_FILES:
        ids = [r["id"] for r in catalog[name]]
        assert ids == sorted(ids), f"{name} is not sorted by id"
    assert all(i.startswith("tfhub/") for i in (r["id"] for r in catalog["tensorflowhub.jsonl"]))
    assert all(i.startswith("torchhub/") for i in (r["id"] for r in catalog["torchhub.jsonl"]))
    assert not any(r["id"].startswith(("tfhub/", "torchhub/")) for r in catalog["huggingface.jsonl"])


def test_converted_records_are_attributed_and_invent_no_adoption(catalog: dict[str, list[dict]]) -> None:
    for name in CATALOG_FILES:
        for record in catalog[name]:
            signals = record["signals"]
            assert signals["source"].startswith("Gorilla APIBench (ShishirPatil/gorilla, Apache-2.0): ")
            assert "downloads" not in signals and "likes" not in signals
            assert record["type"] in ("model", "fine-tune") and record["pricing"] == "free"


def test_merges(catalog: dict[str, list[dict]]) -> None:
    hf = catalog["huggingface.jsonl"]
    rows = [json.loads(line) for line in (SRC / "huggingface_api.jsonl").read_text().splitlines()]
    joblib_names = {r["api_name"].lower() for r in rows if r["api_call"] == "joblib.load('model.joblib')"}
    assert len(joblib_names) == 29, "29 distinct models share the api_call joblib.load('model.joblib')"
    hf_ids = {r["id"] for r in hf}
    assert joblib_names <= hf_ids, "rows sharing an api_call must stay distinct artifacts"
    # 936 rows, 27 api_names used twice or more, one row replaced by the seed record
    assert len(hf) == 906
    tf = catalog["tensorflowhub.jsonl"]
    assert len(tf) == 58  # 696 rows, one per tfhub.dev URL
    use = next(r for r in tf if r["id"] == "tfhub/google-universal-sentence-encoder-4")
    assert "and 211 more" in use["signals"]["source"]
    assert len(catalog["torchhub.jsonl"]) == 94
    assert BERT not in hf_ids


def test_capabilities_are_bounded_and_distinct(catalog: dict[str, list[dict]]) -> None:
    for name in CATALOG_FILES:
        for record in catalog[name]:
            caps = record["capabilities"]
            assert 1 <= len(caps) <= 8, record["id"]
            texts = [_norm(f"{c.get('title', '')} {c.get('description', '')}") for c in caps]
            assert len(texts) == len(set(texts)), record["id"]
            for cap in caps:
                assert len(cap.get("title", "")) < 80, cap
                assert "unique" not in cap and "vs_alternatives" not in cap


def test_seed_records(catalog: dict[str, list[dict]]) -> None:
    seed = {r["id"]: r for r in catalog["seed.jsonl"]}
    assert set(seed) == {BERT, STACK}
    assert seed[BERT]["type"] == "fine-tune" and seed[STACK]["type"] == "dataset"
    assert seed[STACK]["name"] == "The Stack v2"
    assert len(seed[BERT]["capabilities"]) == 6
    assert len(seed[STACK]["capabilities"]) == 11
    for record in seed.values():
        for cap in record["capabilities"]:
            assert cap["title"] and len(cap["title"]) < 80
            assert cap["description"] and cap["unique"] and cap["vs_alternatives"]
    assert seed[BERT]["capabilities"][0]["description"] == FIRST_BERT_CAPABILITY


def test_seed_texts_are_verbatim_from_the_page(catalog: dict[str, list[dict]]) -> None:
    if not PAGE.is_file():
        pytest.fail(f"seed page not found at {PAGE}")
    lines = set(PAGE.read_text(encoding="utf-8").splitlines())
    assert FIRST_BERT_CAPABILITY in lines
    seed = {r["id"]: r for r in catalog["seed.jsonl"]}
    page_caps = seed[BERT]["capabilities"] + seed[STACK]["capabilities"][:8]
    for cap in page_caps:
        assert cap["description"] in lines
        assert "Unique: " + cap["unique"] in lines
        assert "vs alternatives: " + cap["vs_alternatives"] in lines


def test_devset_golds_exist(catalog: dict[str, list[dict]]) -> None:
    ids = {r["id"] for records in catalog.values() for r in records}
    for name, expected in (("huggingface_eval.jsonl", 911), ("torchhub_train.jsonl", 837)):
        rows = _read(ROOT / "bench" / "devsets" / name)
        assert len(rows) == expected, name
        for row in rows:
            assert set(row) == {"query", "gold"}
            assert row["query"] and "###" not in row["query"] and "'Output'" not in row["query"]
            assert row["gold"] in ids, f"{name}: gold {row['gold']!r} is not in the catalog"
