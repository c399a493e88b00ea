"""One settings table (graph/settings.py): read once, validated, shown by `python -m api config`, and the
only place of api/, search/ and graph/ that reads the environment."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph.settings import SETTINGS, Settings, SettingsError, markdown_table

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("api", "graph", "search")
SETTINGS_MODULE = ROOT / "graph" / "settings.py"


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MATCHGRAPH_", "PROMETHEUS_"))}
    base.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "api", *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=120)


def _product_files() -> list[Path]:
    return sorted(p for pkg in PRODUCT for p in (ROOT / pkg).rglob("*.py"))


def test_only_the_settings_module_reads_the_environment() -> None:
    """No os.environ / os.getenv / os.putenv (read or write) in api/, search/, graph/ but graph/settings.py."""
    hits = []
    for path in _product_files():
        if path == SETTINGS_MODULE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                    and node.attr in ("environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"):
                hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: os.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "os" \
                    and any(a.name in ("environ", "getenv", "putenv") for a in node.names):
                hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: from os import ...")
    assert not hits, "read settings from graph/settings.py, not the environment:\n" + "\n".join(hits)


def test_importing_the_embedder_leaves_the_environment_alone() -> None:
    code = ("import os; before = dict(os.environ); import search.embedder, search.engine, api.app; "
            "print(sorted(set(os.environ.items()) ^ set(before.items())))")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"


def test_every_setting_has_a_variable_type_default_and_help() -> None:
    names = [s.name for s in SETTINGS]
    envs = [e for s in SETTINGS for e in s.env]
    assert len(names) == len(set(names)) and len(envs) == len(set(envs))
    for s in SETTINGS:
        assert s.env and s.help and s.kind
        assert s.check(s.default, s.name) == s.default, s.name  # every default passes its own checks
    assert Settings.load({}) == Settings()


def test_environment_then_flags_with_their_sources() -> None:
    env = {"MATCHGRAPH_MATCH_K": "7", "REDIS_URL": "redis://u:pw@h:6379/2", "MATCHGRAPH_LAYERS": "-1,-2",
           "MATCHGRAPH_SPOOL": "0", "MATCHGRAPH_DATA_DIR": "/tmp/envdir", "MATCHGRAPH_MODEL": ""}
    s = Settings.load(env, data_dir="/tmp/flagdir")
    assert (s.match_k, s.store_url, s.layers, s.spool) == (7, "redis://u:pw@h:6379/2", (-1, -2), False)
    assert s.data_dir == Path("/tmp/flagdir") and s.source("data_dir") == "flag"
    assert s.source("match_k") == "environment" and s.source("lexical_weight") == "default"
    assert s.model is None and s.source("model") == "default", "an empty variable counts as unset"
    assert Settings.load({"MATCHGRAPH_STORE": "sqlite:///x.db", "REDIS_URL": "redis://h"}).store_url == "sqlite:///x.db"
    shown = {row["name"]: row for row in s.describe()}
    assert shown["store_url"]["value"] == "redis://u:********@h:6379/2"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.match_k = 3  # type: ignore[misc]  # frozen: passed down, never changed in place


@pytest.mark.parametrize("var, raw, says", [
    ("MATCHGRAPH_MATCH_K", "ten", "an integer"),
    ("MATCHGRAPH_MATCH_K", "0", ">= 1"),
    ("MATCHGRAPH_ENCODER", "tensorflow", "one of onnx"),
    ("MATCHGRAPH_WEIGHTS", "{not json", "a JSON object"),
    ("MATCHGRAPH_WEIGHTS", '{"dataset": 3}', "component"),
    ("MATCHGRAPH_BOOTSTRAP", "maybe", "1 or 0"),
    ("MATCHGRAPH_LAYERS", "last", "comma-separated integers"),
])
def test_a_bad_value_is_an_error_naming_the_variable(var: str, raw: str, says: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.load({var: raw})
    assert str(err.value).startswith(f"{var}: ") and says in str(err.value)


def test_create_app_refuses_a_bad_setting(monkeypatch, tmp_path) -> None:
    from api.app import create_app

    monkeypatch.setenv("MATCHGRAPH_MAX_BODY", "lots")
    with pytest.raises(SettingsError, match="MATCHGRAPH_MAX_BODY"):
        create_app(data_dir=str(tmp_path), bootstrap=False)


def test_cli_config_json_lists_every_setting_with_source_and_masks_secrets(tmp_path) -> None:
    out = _cli("config", "--json", "--data-dir", str(tmp_path),
               env={"MATCHGRAPH_API_KEY": "topsecret-value", "MATCHGRAPH_MATCH_K": "5"})
    assert out.returncode == 0, out.stderr
    rows = {r["env"]: r for r in json.loads(out.stdout)["settings"]}
    assert set(rows) == {s.env[0] for s in SETTINGS}
    assert rows["MATCHGRAPH_MATCH_K"] == {**rows["MATCHGRAPH_MATCH_K"], "value": 5, "source": "environment"}
    assert rows["MATCHGRAPH_DATA_DIR"]["value"] == str(tmp_path) and rows["MATCHGRAPH_DATA_DIR"]["source"] == "flag"
    assert rows["MATCHGRAPH_ANN_THRESHOLD"]["source"] == "default"
    assert rows["MATCHGRAPH_API_KEY"]["value"] == "********" and "topsecret" not in out.stdout
    text = _cli("config", env={"MATCHGRAPH_MATCH_K": "5"})
    assert "MATCHGRAPH_MATCH_K" in text.stdout and "(environment)" in text.stdout


def test_cli_stops_on_a_bad_setting_naming_the_variable(tmp_path) -> None:
    out = _cli("search", "anything", "--data-dir", str(tmp_path), env={"MATCHGRAPH_MATCH_K": "ten"})
    assert out.returncode == 2
    assert "MATCHGRAPH_MATCH_K" in out.stderr and "Traceback" not in out.stderr


def test_the_configuration_doc_is_generated_from_the_table() -> None:
    from api.cli import CONFIGURATION_DOC, configuration_doc

    text = CONFIGURATION_DOC.read_text(encoding="utf-8")
    assert markdown_table() in text
    assert text == configuration_doc(), "run `python -m api config --markdown --write`"


def test_config_markdown_write_writes_the_configuration_doc(tmp_path, monkeypatch) -> None:
    import api.cli as cli

    target = tmp_path / "configuration.md"
    monkeypatch.setattr(cli, "CONFIGURATION_DOC", target)
    assert cli.main(["config", "--markdown", "--write"]) == 0
    assert target.read_text(encoding="utf-8") == cli.configuration_doc()


def test_environ_round_trips_through_load() -> None:
    """`Settings.environ()` is what a child process needs to load the same settings: every kind survives
    the trip, and a value set to the table's default is kept (`serve` has defaults of its own)."""
    settings = Settings.load({}, data_dir="/tmp/x", layers=(1, 2), weights={"model": {"adoption": 0.5}},
                             bootstrap=False, api_key="k", redis_shards=4, recompute_every=0.0, pooling="max")
    env = settings.environ()
    assert env["MATCHGRAPH_RECOMPUTE_EVERY"] == "0.0" and env["MATCHGRAPH_BOOTSTRAP"] == "0"
    assert "MATCHGRAPH_MATCH_K" not in env  # never set, at its default
    again = Settings.load(env)
    assert again == settings
    assert again.source("recompute_every") == "environment"
