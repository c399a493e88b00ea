"""Issue 24: datasets as artifacts, the `facts` object, quality from named sources and adoption from usage.

Converters run on the samples in tests/fixtures/shared/ (real rows cut from ../shared/data, each with its
SOURCE.md and licence); the API tests serve the seed records, one record of every artifact type and the
datasets converted from the samples.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import small_records

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "shared"
sys.path.insert(0, str(ROOT / "data"))

import convert_common  # noqa: E402
import convert_lm_eval  # noqa: E402
import convert_mteb_tasks  # noqa: E402
import convert_tfds  # noqa: E402

TYPES = ("model", "fine-tune", "dataset", "tool", "api", "library", "prompt", "benchmark", "agent", "other")


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("convert_all")
    proc = subprocess.run([sys.executable, str(ROOT / "data" / "convert_all.py"), "--src", str(FIXTURES), "--out",
                           str(out / "catalog"), "--notice", str(out / "NOTICE.md")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    files = {p.name: _jsonl(p) for p in (out / "catalog").glob("*.jsonl")}
    files["NOTICE.md"] = (out / "NOTICE.md").read_text(encoding="utf-8")  # type: ignore[assignment]
    files["licences"] = sorted(p.name for p in (out / "catalog").glob("LICENSE.*"))  # type: ignore[assignment]
    return files


def test_datasets_carry_their_own_licence_never_the_packages() -> None:
    mteb = {r["name"]: r for r in convert_mteb_tasks.convert(FIXTURES / "mteb-tasks", convert_common.Report("m"))}
    assert mteb["yjoonjang/squad_kor_v1"]["signals"]["license"] == "cc-by-sa-4.0"
    tfds = {r["name"]: r for r in convert_tfds.convert(FIXTURES / "tfds-catalog", convert_common.Report("t"))}
    squad = tfds["squad"]
    assert squad["signals"]["license"] == "unknown", "TFDS does not state SQuAD's licence: not Apache-2.0"
    assert squad["url"].startswith("https://rajpurkar.github.io/")
    assert "reading comprehension" in squad["signals"]["tasks"] and squad["signals"]["languages"] == ["en"]
    lm = convert_lm_eval.convert(FIXTURES / "lm-eval", convert_common.Report("l"))
    assert lm and all(r["signals"]["license"] == "unknown" for r in lm), "the harness's MIT is not theirs"
    assert {r["type"] for r in lm} <= {"dataset", "benchmark"}
    for r in [*mteb.values(), *tfds.values()]:
        assert r["type"] == "dataset" and r["url"].startswith("http") and r["signals"]["license"]
    assert all(r["signals"]["license"] == "unknown" for r in tfds.values()), "no sample's text states one"


def test_convert_all_writes_datasets_quality_and_usage(converted) -> None:
    datasets = converted["datasets.jsonl"]
    assert len(datasets) >= 10 and all(r["type"] == "dataset" for r in datasets)
    assert all(r["url"] and r["signals"]["license"] for r in datasets)
    models = converted["models.jsonl"] + converted["mteb-results.jsonl"]
    rated = [r for r in models if r["signals"].get("benchmarks")]
    assert rated, "benchmark results joined onto models"
    for r in rated:
        for b in r["signals"]["benchmarks"]:
            assert b["source"] and b["date"] and isinstance(b["measured"], bool) and 0 <= b["score"] <= 100
    mteb_models = converted["mteb-results.jsonl"]
    assert mteb_models and all(r["type"] == "model" and "CC0" in r["signals"]["source"] for r in mteb_models)
    linked = [r for r in mteb_models if (r.get("facts") or {}).get("evaluated_on")]
    assert linked, "MTEB task names resolve to the MTEB datasets they run on"
    ids = {r["id"] for r in datasets}
    assert all(d in ids for r in linked for d in r["facts"]["evaluated_on"])
    servers = converted["best-of-mcp-servers.jsonl"]
    assert servers and all("CC-BY-SA-4.0" in r["signals"]["source"] for r in servers)
    assert {"LICENSE.best-of-mcp-servers", "LICENSE.epoch-benchmarks"} <= set(converted["licences"])
    notice = converted["NOTICE.md"]
    assert "Epoch AI, 'AI Benchmarking'" in notice and "`best-of-mcp-servers.jsonl`" in notice


def test_model_keys_tolerate_prefixes_snapshots_effort_and_latest() -> None:
    from join_quality import model_key

    assert model_key("gpt-5-mini-2025-08-07_high") == model_key("openai/gpt-5-mini") == "gpt5mini"
    assert model_key("anthropic/claude-sonnet-4-20250514") == model_key("Claude Sonnet 4")
    assert model_key("Claude-Opus-4-5-20251101 (FC)") == model_key("claude-opus-4-5")
    assert model_key("gemini-2.5-pro-latest") == model_key("google/gemini-2.5-pro")


def test_audit_counts_datasets_quality_and_usage(converted) -> None:
    from audit_datasets import report

    records = [r for name, rows in converted.items() if name.endswith(".jsonl") for r in rows]
    out = report(records)
    assert out["datasets"] == sum(1 for r in records if r["type"] == "dataset")
    assert out["datasets_with_licence_share"] >= 0.95 and out["datasets_with_url_share"] >= 0.95
    assert out["min_comparable"] == 30
    assert out["quality_named_dated_source"] <= out["quality_known"]


# --- API: facts on every type, both directions of evaluated-on, a dataset search ------------------------
def _one_of_each() -> list[dict]:
    out = []
    for t in TYPES:
        signals = {"license": "mit"} if t != "model" else {
            "price_input_per_mtok": 0.5, "price_output_per_mtok": 1.5, "context_window": 128000,
            "modalities": {"input": ["text", "image"], "output": ["text"]}, "open_weights": False,
            "benchmarks": [{"name": "SciFact", "score": 70.1, "metric": "ndcg_at_10", "value": 0.701,
                            "source": "MTEB results (CC0-1.0)", "date": "2026-08-20", "measured": True}]}
        out.append({"id": f"facts-test/{t}", "name": f"Facts test {t}", "type": t, "updated_at": "2025-03-04",
                    "signals": signals, "capabilities": [{"title": f"A {t} for the facts test"}]})
    out[0]["facts"] = {"max_output_tokens": 16384, "released": "2024-05-13"}
    return out


@pytest.fixture(scope="module")
def client(embedder, tmp_path_factory):
    from api.app import create_app
    from graph.settings import Settings
    from search.engine import Engine

    root = tmp_path_factory.mktemp("datasets_api")
    datasets = convert_tfds.convert(FIXTURES / "tfds-catalog", convert_common.Report("t"))
    datasets += convert_mteb_tasks.convert(FIXTURES / "mteb-tasks", convert_common.Report("m"))
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in datasets]
    catalog = root / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in [*small_records(), *_one_of_each(), *clean]))
    eng = Engine(Settings.load(data_dir=root / "var", store_url=""), embedder=embedder)
    eng.ingest([catalog])
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MATCHGRAPH_API_KEY", raising=False)
        yield create_app(engine=eng, RATELIMIT_ENABLED=False, CORS_ORIGINS="*").test_client()
    eng.close()


@pytest.mark.parametrize("kind", TYPES)
def test_artifact_returns_facts_for_every_type(client, kind) -> None:
    from graph.facts import FACT_KEYS

    body = client.get(f"/v1/artifacts/facts-test/{kind}").get_json()
    facts = body["facts"]
    assert set(facts) == set(FACT_KEYS)
    assert facts["updated"] == "2025-03-04"
    if kind == "model":
        assert facts["input_usd_per_mtok"] == 0.5 and facts["output_usd_per_mtok"] == 1.5
        assert facts["context_tokens"] == 128000 and facts["modalities_in"] == ["text", "image"]
        assert facts["max_output_tokens"] == 16384 and facts["released"] == "2024-05-13", "explicit facts win"
        assert facts["open_weights"] is False and facts["license"] is None
        assert body["datasets"] == ["dataset/mteb--scifact"], "its SciFact result links it to the dataset"
    else:
        assert facts["license"] == "mit" and facts["input_usd_per_mtok"] is None and facts["context_tokens"] is None


def test_a_dataset_lists_the_models_evaluated_on_it(client) -> None:
    body = client.get("/v1/artifacts/dataset/mteb--scifact").get_json()
    assert body["evaluated_models"] == ["facts-test/model"] and body["facts"]["license"] == "cc-by-nc-4.0"
    assert body["facts"]["tasks"] and body["facts"]["languages"] == ["eng"]


def test_the_stack_v2_carries_its_real_licence_and_homepage(client) -> None:
    body = client.get("/v1/artifacts/bigcode/the-stack-v2").get_json()
    assert body["facts"]["license"].startswith("other: The Stack v2 terms of use")
    assert body["signals"]["homepage"] == "https://www.bigcode-project.org/"


def test_search_for_reading_comprehension_datasets(client) -> None:
    resp = client.get("/v1/search", query_string={"q": "reading comprehension", "type": "dataset", "k": 10})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    results = resp.get_json()["results"]
    assert len(results) >= 5 and all(r["type"] == "dataset" for r in results)


def test_put_with_signals_only_gets_facts_and_bad_facts_are_422(client, monkeypatch) -> None:
    app = client.application
    monkeypatch.setitem(app.extensions, "matchgraph.settings",
                        app.extensions["matchgraph.settings"].replace(api_key="", local_writes=True))
    record = {"id": "facts-test/put", "name": "Put test", "type": "model",
              "signals": {"context_window": 200000, "license": "apache-2.0"},
              "capabilities": [{"title": "A model put for the facts test"}]}
    assert client.put("/v1/artifacts/facts-test/put", json=record).status_code == 200
    facts = client.get("/v1/artifacts/facts-test/put").get_json()["facts"]
    assert facts["context_tokens"] == 200000 and facts["license"] == "apache-2.0" and facts["released"] is None
    bad = dict(record, facts={"context_tokens": "lots"})
    resp = client.put("/v1/artifacts/facts-test/put", json=bad)
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "facts.context_tokens"
    good = dict(record, facts={"released": "2025-01-02", "size": None})
    assert client.put("/v1/artifacts/facts-test/put", json=good).status_code == 200
    assert client.get("/v1/artifacts/facts-test/put").get_json()["facts"]["released"] == "2025-01-02"


def test_the_bundled_catalog_meets_the_issue_24_numbers() -> None:
    """On the shipped data: at least 1,000 datasets, 95% with a licence field and a URL, Quality from a named,
    dated source for at least 500 artifacts and Adoption from usage for at least 1,200."""
    from audit_datasets import report

    records = [r for folder in (ROOT / "data", ROOT / "data" / "catalog") for p in sorted(folder.glob("*.jsonl"))
               for r in _jsonl(p)]
    out = report(records)
    assert out["datasets"] >= 1000
    assert out["datasets_with_licence_share"] >= 0.95 and out["datasets_with_url_share"] >= 0.95
    assert out["quality_named_dated_source"] >= 500 and out["adoption_from_usage"] >= 1200


def test_one_record_per_dataset_across_sources() -> None:
    from convert_extra import merge_datasets, merge_lm_eval

    def rec(aid: str, name: str, key: str, **signals) -> dict:
        return {"id": aid, "name": name, "type": "dataset", "_key": key, "url": "https://huggingface.co/x",
                "tags": [], "signals": {"source": aid, "license": "unknown", **signals},
                "capabilities": [{"title": aid}]}

    report = convert_common.Report("x")
    mteb = [rec("dataset/mteb--scifact", "mteb/scifact", "scifact", license="cc-by-nc-4.0"),
            rec("dataset/if-ir--fiqa", "if-ir/fiqa", "fiqa"), rec("dataset/mteb--fiqa", "mteb/fiqa", "fiqa")]
    tfds = [rec("dataset/tfds.race", "race", "race", tfds_name="race"),
            rec("dataset/tfds.arc", "arc", "arc", tfds_name="arc")]
    ir = [rec("dataset/ir.beir.scifact", "beir/scifact", "scifact"), rec("dataset/ir.beir.fiqa", "beir/fiqa", "fiqa")]
    merged = {r["id"]: r for r in merge_datasets([mteb, tfds, ir], report)}
    assert "dataset/ir.beir.scifact" not in merged and merged["dataset/mteb--scifact"]["signals"]["aliases"] == [
        "dataset/ir.beir.scifact"]
    assert "dataset/if-ir--fiqa" in merged, "one source's different paths stay different datasets"
    assert merged["dataset/mteb--fiqa"]["signals"]["aliases"] == ["dataset/ir.beir.fiqa"], "MTEB's own copy first"
    families = [dict(rec("bench/race", "race", "race"), _key=None), dict(rec("bench/arc", "arc", "arc"), _key=None)]
    kept = merge_lm_eval(list(merged.values()), families, report)
    assert [f["id"] for f in kept] == ["bench/arc"], "lm-eval's arc is AI2's, TFDS's arc is Chollet's"
    assert merged["dataset/tfds.race"]["signals"]["aliases"] == ["bench/race"]
