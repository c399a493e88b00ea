"""Bad input and security: the API fuzzed from its own OpenAPI document (schemathesis), property tests of
the catalog validator and the ingest path (hypothesis), hostile values on every endpoint, rate limits,
admin keys, request size limits, security headers, and no unsafe deserialisation anywhere."""

from __future__ import annotations

import ast
import json
import re
import string
import time
from pathlib import Path

import pytest
import redis
import schemathesis
from conftest import ROOT, small_records
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
)

from graph.catalog import Artifact, CatalogError, schema
from graph.loader import load_artifacts

KEY = "fuzz-admin-key"
QA = "bert-large-uncased-whole-word-masking-finetuned-squad"


# --- one app over the small catalog, admin writes behind a key -----------------------------------------
@pytest.fixture(scope="module")
def engine(embedder, tmp_path_factory):
    from graph.settings import Settings
    from search.engine import Engine

    root = tmp_path_factory.mktemp("fuzz")
    catalog = root / "small.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in small_records(10)))
    eng = Engine(Settings.load(data_dir=root / "var", store_url=""), embedder=embedder)
    eng.ingest([catalog])
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def app(engine):
    from api.app import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATCHGRAPH_API_KEY", KEY)
        yield create_app(engine=engine, RATELIMIT_ENABLED=False)


@pytest.fixture
def client(app):
    return app.test_client()


ADMIN = {"Authorization": f"Bearer {KEY}"}


# =====================================================================================================
# schemathesis: every /v1 operation of /openapi.json
# =====================================================================================================
FUZZ_CONFIG = schemathesis.Config.from_dict({
    "seed": 20240611,  # deterministic
    "checks": {"negative_data_rejection": {
        # a schema-violating request must get a 4xx; 413 (too large) and 415 (not JSON) are such answers
        "expected-statuses": [400, 401, 403, 404, 405, 413, 415, 422]}},
    "phases": {"stateful": {"enabled": False}},
})
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, response_headers_conformance,
          negative_data_rejection, missing_required_header, ignored_auth]


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=FUZZ_CONFIG)


fuzzed = schemathesis.pytest.from_fixture("api_schema").include(path_regex="^/v1/")


@fuzzed.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_fuzzed_from_its_openapi_document(case) -> None:
    """No 5xx, every documented response matches its schema, schema-violating requests get a 4xx, and
    the admin operations refuse requests without the bearer key."""
    case.call_and_validate(headers=ADMIN, checks=CHECKS)


def test_405_names_the_allowed_methods(client) -> None:
    """Found by the fuzzer: the JSON 405 must keep werkzeug's Allow header (RFC 9110)."""
    resp = client.open("/v1/search", method="TRACE")
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]
    assert resp.get_json()["error"]["code"] == "method_not_allowed"


# =====================================================================================================
# hostile values: each gets a clear 4xx in the one error shape
# =====================================================================================================
def _sid(client) -> str:
    return client.get("/v1/search", query_string={"q": "question answering"}).get_json()["search_id"]


HOSTILE = [
    # (name, method, path, kwargs, status, field)
    ("control chars in q", "GET", "/v1/search", {"query_string": {"q": "a\x00b\x1bc"}}, 422, "q"),
    ("DEL in q", "GET", "/v1/search", {"query_string": {"q": "a\x7f"}}, 422, "q"),
    ("100k-character q", "GET", "/v1/search", {"query_string": {"q": "x" * 100_000}}, 422, "q"),
    ("huge k", "GET", "/v1/search?q=a&k=99999999999999999999999", {}, 422, "k"),
    ("negative k", "GET", "/v1/search?q=a&k=-1", {}, 422, "k"),
    ("k not a number", "GET", "/v1/search?q=a&k=ten", {}, 422, "k"),
    ("huge offset", "GET", "/v1/search?q=a&offset=10000000", {}, 422, "offset"),
    ("q twice", "GET", "/v1/search?q=a&q=b", {}, 422, "q"),
    ("unknown parameter", "GET", "/v1/search?q=a&debug=1", {}, 422, "debug"),
    ("non-UTF-8 bytes in query string", "GET", "/v1/search?q=%ff%fe%fd", {}, 400, None),
    ("non-UTF-8 bytes in path", "GET", "/v1/artifacts/%ed%a0%80", {}, 400, None),
    ("wrong JSON type for search_id", "POST", "/v1/feedback",
     {"json": {"search_id": 5, "artifact_id": "a", "event": "click"}}, 422, "search_id"),
    ("JSON array body", "POST", "/v1/feedback", {"json": [1, 2]}, 422, "body"),
    ("JSON string body", "POST", "/v1/feedback", {"json": "click"}, 422, "body"),
    ("JSON null body", "POST", "/v1/feedback", {"data": "null", "content_type": "application/json"}, 400, "body"),
    ("truncated JSON", "POST", "/v1/feedback", {"data": '{"search_id": ', "content_type": "application/json"}, 400,
     "body"),
    ("non-UTF-8 bytes in body", "POST", "/v1/feedback",
     {"data": b'{"search_id": "\xff\xfe", "artifact_id": "a", "event": "click"}', "content_type": "application/json"},
     400, "body"),
    ("lone surrogate in body", "POST", "/v1/feedback",
     {"data": '{"search_id": "ab", "artifact_id": "\\ud800", "event": "click"}', "content_type": "application/json"},
     422, "artifact_id"),
    ("100k-character id", "POST", "/v1/feedback", {"json": {"search_id": "a" * 100_000, "artifact_id": "a",
                                                            "event": "click"}}, 422, "search_id"),
    ("5000-digit number", "POST", "/v1/feedback",
     {"data": '{"search_id": "ab", "artifact_id": "a", "event": "dwell", "dwell_ms": %s}' % ("9" * 5000),
      "content_type": "application/json"}, 400, "body"),
    ("JSON nested 100k deep", "POST", "/v1/feedback", {"data": "[" * 100_000, "content_type": "application/json"},
     400, "body"),
    ("5 MB JSON body", "POST", "/v1/feedback", {"data": "x" * 5_000_000, "content_type": "application/json"}, 413,
     "body"),
    ("5 MB form body", "POST", "/v1/recommend", {"data": "x" * 5_000_000, "content_type": "text/plain"}, 415,
     "Content-Type"),
    ("multipart instead of JSON", "PUT", "/v1/artifacts/acme/x",
     {"data": {"id": "acme/x"}, "content_type": "multipart/form-data", "headers": ADMIN}, 415, "Content-Type"),
    ("path traversal in id", "GET", "/v1/artifacts/../../etc/passwd", {}, 404, "id"),
    ("encoded path traversal in id", "GET", "/v1/artifacts/..%2F..%2Fetc%2Fpasswd", {}, 404, "id"),
    ("traversal in timeline id", "GET", "/v1/analytics/artifacts/..%2f..%2fx/timeline", {}, 404, "id"),
    ("traversal in compare", "GET", "/v1/compare?a=../../etc/passwd&b=" + QA, {}, 404, "a"),
    ("NUL in id", "GET", "/v1/artifacts/a%00b", {}, 404, "id"),
    ("traversal id written", "PUT", "/v1/artifacts/..%2F..%2Fx",
     {"json": {"id": "../../x", "name": "n", "type": "tool", "capabilities": [{"title": "t"}]}, "headers": ADMIN},
     422, "id"),
    ("control chars in an artifact", "PUT", "/v1/artifacts/acme/y",
     {"json": {"id": "acme/y", "name": "a\x00b", "type": "tool", "capabilities": [{"title": "t"}]},
      "headers": ADMIN}, 422, "name"),
    ("control chars in a capability", "PUT", "/v1/artifacts/acme/y",
     {"json": {"id": "acme/y", "name": "ok", "type": "tool", "capabilities": [{"title": "t\x07"}]},
      "headers": ADMIN}, 422, "capabilities[0].title"),
    ("100k-character name", "PUT", "/v1/artifacts/acme/y",
     {"json": {"id": "acme/y", "name": "n" * 100_000, "type": "tool", "capabilities": [{"title": "t"}]},
      "headers": ADMIN}, 422, "name"),
    ("2000 deletes", "POST", "/v1/artifacts:batch", {"json": {"delete": ["x"] * 2000}, "headers": ADMIN}, 422,
     "delete"),
    ("garbage cursor", "GET", "/v1/artifacts?cursor=%25ff%25ff", {}, 422, "cursor"),
    ("impossible date", "GET", "/v1/analytics/top?since=2023-13-45", {}, 422, "since"),
    ("huge limit", "GET", "/v1/analytics/top?limit=100000000000", {}, 422, "limit"),
    ("100k positives", "POST", "/v1/recommend", {"json": {"positive": ["a"] * 100_000}}, 422, "positive"),
    ("1M positives", "POST", "/v1/recommend", {"json": {"positive": ["a"] * 1_000_000}}, 413, "body"),
]


@pytest.mark.parametrize(("name", "method", "path", "kwargs", "status", "field"), HOSTILE,
                         ids=[h[0] for h in HOSTILE])
def test_hostile_values_get_a_clear_4xx(client, engine, name, method, path, kwargs, status, field) -> None:
    before = (len(engine.artifacts), engine.generation)
    resp = client.open(path, method=method, **kwargs)
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/json"
    err = resp.get_json()["error"]
    assert set(err) == {"code", "message", "field"} and err["message"]
    assert err["field"] == field
    assert len(err["message"]) < 600, "errors never echo a huge value back"
    assert (len(engine.artifacts), engine.generation) == before, "nothing was written"


def test_feedback_on_a_foreign_or_unknown_search(client) -> None:
    sid = _sid(client)
    resp = client.post("/v1/feedback", json={"search_id": sid, "artifact_id": "../../etc/passwd", "event": "click"})
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "artifact_id"
    resp = client.post("/v1/feedback", json={"search_id": "0" * 32, "artifact_id": QA, "event": "click"})
    assert resp.status_code == 404 and resp.get_json()["error"]["field"] == "search_id"


# =====================================================================================================
# who may write, how often, how much
# =====================================================================================================
def test_admin_writes_need_the_key(client, engine) -> None:
    new = {"id": "acme/locked", "name": "Locked", "type": "tool", "capabilities": [{"title": "never written"}]}
    for headers, status in (({}, 401), ({"Authorization": "Bearer nope"}, 403),
                            ({"Authorization": f"Basic {KEY}"}, 401), ({"Authorization": f"Bearer {KEY} "}, 403)):
        assert client.put("/v1/artifacts/acme/locked", json=new, headers=headers).status_code == status
        assert client.delete(f"/v1/artifacts/{QA}", headers=headers).status_code == status
        assert client.post("/v1/artifacts:batch", json={"delete": [QA]}, headers=headers).status_code == status
    assert "acme/locked" not in engine.artifacts and QA in engine.artifacts


def test_read_only_hosts_refuse_catalog_writes(app, client, engine, monkeypatch) -> None:
    """MATCHGRAPH_READ_ONLY=1 on API hosts that serve a shipped copy of the index: even the key cannot write."""
    read_only = app.extensions["matchgraph.settings"].replace(read_only=True)
    monkeypatch.setitem(app.extensions, "matchgraph.settings", read_only)
    new = {"id": "acme/ro", "name": "RO", "type": "tool", "capabilities": [{"title": "never written"}]}
    for resp in (client.put("/v1/artifacts/acme/ro", json=new, headers=ADMIN),
                 client.delete(f"/v1/artifacts/{QA}", headers=ADMIN),
                 client.post("/v1/artifacts:batch", json={"delete": [QA]}, headers=ADMIN)):
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "read_only"
    assert client.get("/v1/search", query_string={"q": "question answering"}).status_code == 200
    assert "acme/ro" not in engine.artifacts and QA in engine.artifacts


def test_without_a_configured_key_only_direct_local_clients_write(engine, monkeypatch) -> None:
    from api.app import create_app

    monkeypatch.delenv("MATCHGRAPH_API_KEY", raising=False)
    monkeypatch.setenv("MATCHGRAPH_LOCAL_WRITES", "1")
    client = create_app(engine=engine, RATELIMIT_ENABLED=False).test_client()
    bad = {"id": "acme/open", "name": "Open", "type": "tool", "capabilities": [{"title": "x"}]}
    remote = client.put("/v1/artifacts/acme/open", json=bad, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert remote.status_code == 403 and remote.get_json()["error"]["field"] == "Authorization"
    proxied = client.put("/v1/artifacts/acme/open", json=bad, headers={"X-Forwarded-For": "203.0.113.7"})
    assert proxied.status_code == 403
    assert "acme/open" not in engine.artifacts


def test_rate_limit_answers_429_with_retry_after(engine) -> None:
    from api.app import create_app

    client = create_app(engine=engine, RATELIMIT_DEFAULT="5/minute").test_client()
    statuses = [client.get("/v1/artifacts?limit=1").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    resp = client.get("/v1/artifacts?limit=1")
    assert resp.status_code == 429 and 0 < int(resp.headers["Retry-After"]) <= 60
    assert resp.get_json()["error"]["code"] == "rate_limited"
    other = client.get("/v1/artifacts?limit=1", environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert other.status_code == 200, "limits are per client"
    assert client.get("/healthz").status_code == 200, "health checks are never limited"


RATE_REDIS = "redis://127.0.0.1:6379/15"


def test_rate_limit_is_shared_through_redis_and_survives_its_loss(engine, monkeypatch) -> None:
    """Two app instances (two workers) share one Redis limit; with Redis unreachable requests are still
    served at once (per-process fallback), never a 500 or a hang."""
    from api.app import create_app

    r = redis.Redis.from_url(RATE_REDIS)
    r.flushdb()
    monkeypatch.setenv("MATCHGRAPH_RATELIMIT_STORAGE", RATE_REDIS)
    first = create_app(engine=engine, RATELIMIT_DEFAULT="4/minute").test_client()
    second = create_app(engine=engine, RATELIMIT_DEFAULT="4/minute").test_client()
    statuses = [c.get("/v1/artifacts?limit=1").status_code for c in (first, second, first, second, first)]
    assert statuses == [200, 200, 200, 200, 429]
    assert r.dbsize() > 0
    r.flushdb()
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("MATCHGRAPH_RATELIMIT_STORAGE", f"redis://127.0.0.1:{dead}/0")
    lonely = create_app(engine=engine, RATELIMIT_DEFAULT="100/minute").test_client()
    start = time.perf_counter()
    assert [lonely.get("/v1/artifacts?limit=1").status_code for _ in range(3)] == [200, 200, 200]
    assert time.perf_counter() - start < 5


def test_request_size_limit(client) -> None:
    assert client.application.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    resp = client.put("/v1/artifacts/acme/big", data="{" + " " * (2 * 1024 * 1024) + "}",
                      content_type="application/json", headers=ADMIN)
    assert resp.status_code == 413 and resp.get_json()["error"]["code"] == "too_large"


def test_security_headers_on_every_page(app, client) -> None:
    """Pages, API, docs, errors: every response carries the security headers."""
    paths = sorted({r.rule for r in app.url_map.iter_rules()
                    if "GET" in r.methods and not r.arguments and not r.rule.startswith("/static")})
    paths += ["/no/such/page", f"/artifacts/{QA}", "/v1/artifacts/nope"]
    assert "/" in paths and "/docs" in paths
    for path in paths:
        resp = client.get(path)
        assert resp.status_code < 500, path
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
        assert "default-src 'self'" in resp.headers.get("Content-Security-Policy", ""), path
        assert resp.headers.get("Referrer-Policy") == "strict-origin-when-cross-origin", path


# =====================================================================================================
# no unsafe deserialisation, secrets only from the environment
# =====================================================================================================
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "shelve", "marshal", "jsonpickle", "joblib",
                  "cloudpickle"}
UNSAFE_CALLS = {("torch", "load"), ("yaml", "load"), ("yaml", "unsafe_load"), ("yaml", "full_load"),
                ("numpy", "load"), ("np", "load"), ("pd", "read_pickle"), ("pandas", "read_pickle")}


def _python_files() -> list[Path]:
    skip = {"tests", ".git", ".venv", "venv", "node_modules", "out"}
    return [p for p in ROOT.rglob("*.py") if not skip.intersection(p.relative_to(ROOT).parts)]


def test_no_pickle_or_unsafe_deserialisation_anywhere() -> None:
    """pickle (and friends), torch.load, yaml.load, numpy.load, eval/exec: none outside the tests. Saved
    state is JSON (catalog, graph, manifest, id maps), FAISS's own format (index) and raw float32 bytes."""
    found = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                found += [where for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
                found.append(where)
            elif isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name) and f.id in ("eval", "exec", "__import__"):
                    found.append(where)
                if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                        and (f.value.id, f.attr) in UNSAFE_CALLS:
                    found.append(where)
                for kw in node.keywords:
                    if kw.arg in ("allow_pickle", "weights_only", "trust_remote_code") \
                            and isinstance(kw.value, ast.Constant) and kw.value.value is (kw.arg != "weights_only"):
                        found.append(where)
    assert not found, f"unsafe deserialisation: {found}"


def test_the_model_loads_from_safetensors() -> None:
    """transformers falls back to torch.load (pickle) for .bin weights; ours ship as safetensors."""
    from search.embedder import default_model_path

    model_dir = Path(default_model_path())
    assert (model_dir / "model.safetensors").exists()
    assert not list(model_dir.glob("*.bin")) and not list(model_dir.glob("*.pt"))


def test_saved_state_is_json_faiss_or_raw_floats(engine) -> None:
    from graph.infra import generation_commit

    folder = generation_commit.current(engine.data_dir)
    for name in ("catalog.jsonl", "graph.json", "manifest.json", "index.ids.json", "index.meta.json"):
        text = (folder / name).read_text(encoding="utf-8")
        for line in (text.splitlines() if name.endswith(".jsonl") else [text]):
            json.loads(line)
    assert not (folder / "index.faiss").read_bytes().startswith(b"\x80"), "not a pickle stream"


SECRET = re.compile(r"""(?i)\b\w*(api_?key|secret|passw(or)?d|token)\w*\s*[:=]\s*['"][^'"\s]{6,}['"]""")


def test_secrets_only_from_the_environment() -> None:
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in _python_files()
            for n, line in enumerate(p.read_text().splitlines(), 1) if SECRET.search(line)]
    assert not hits, f"hard-coded secret-looking values: {hits}"
    from graph.settings import SETTINGS

    assert sorted(s.env for s in SETTINGS if s.secret) == [
        ("MATCHGRAPH_API_KEY",), ("MATCHGRAPH_SITE_SECRET",), ("MATCHGRAPH_USER_SECRET",)], "secret settings"
    admin = (ROOT / "api" / "v1_admin.py").read_text()
    assert "conf.api_key" in admin


# =====================================================================================================
# property tests: the catalog validator and the ingest path
# =====================================================================================================
TYPES = schema()["properties"]["type"]["enum"]
PRICING = schema()["properties"]["pricing"]["enum"]
ID = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,20}(/[a-z0-9][a-z0-9._-]{0,20})?\Z")
TEXT = st.text(min_size=1, max_size=40)
CAPABILITY = st.fixed_dictionaries(
    {}, optional={"title": TEXT, "description": TEXT, "unique": st.text(max_size=20),
                  "vs_alternatives": st.text(max_size=20)}).filter(lambda c: "title" in c or "description" in c)
RECORD = st.fixed_dictionaries(
    {"id": ID, "name": TEXT, "type": st.sampled_from(TYPES), "capabilities": st.lists(CAPABILITY, min_size=1,
                                                                                      max_size=4)},
    optional={"pricing": st.sampled_from(PRICING), "description": st.text(max_size=40),
              "url": st.from_regex(r"\Ahttps?://[a-z]{1,10}\.org/[a-z]{0,5}\Z"),
              "tags": st.lists(st.text(min_size=1, max_size=10), max_size=3),
              "signals": st.fixed_dictionaries({}, optional={"downloads": st.integers(0, 10**9),
                                                             "stars": st.integers(0, 10**6)}),
              "updated_at": st.from_regex(r"\A20[0-9]{2}-[01][0-9]-[0-3][0-9]\Z")})
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
FIELDS = ["id", "name", "type", "pricing", "description", "url", "tags", "signals", "updated_at", "capabilities",
          "unknown"]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(RECORD)
@example({"id": "a", "name": "  ", "type": "tool", "capabilities": [{"title": "x"}]})
@example({"id": "a", "name": "n", "type": "tool", "capabilities": [{"title": " "}]})
@example({"id": "a", "name": "n", "type": "tool", "capabilities": [{"title": "x"}, {"title": "x "}]})
def test_valid_records_round_trip(record: dict) -> None:
    """Whatever the validator accepts has a canonical form that it accepts again, unchanged."""
    try:
        a = Artifact.from_record(record)
    except CatalogError as exc:
        assert exc.field, exc  # a whitespace-only name or capability text: refused, with its field
        return
    again = Artifact.from_record(a.to_record())
    assert again == a and again.to_record() == a.to_record()
    assert a.capabilities


@settings(max_examples=300, deadline=None, derandomize=True)
@given(RECORD, st.sampled_from(FIELDS), JSON_VALUES, st.booleans())
def test_mutated_records_are_accepted_or_refused_with_a_field(record: dict, field: str, value, delete: bool) -> None:
    mutated = dict(record)
    if delete:
        mutated.pop(field, None)
    else:
        mutated[field] = value
    try:
        a = Artifact.from_record(mutated, source="f.jsonl", line=7)
    except CatalogError as exc:
        assert exc.field and exc.line == 7 and exc.source == "f.jsonl", exc
        assert str(exc).startswith("f.jsonl:7: ")
        return
    assert Artifact.from_record(a.to_record()) == a


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.sampled_from(["x.jsonl", "x.json"]),
       st.one_of(st.binary(max_size=300),
                 st.lists(st.one_of(RECORD.map(json.dumps), st.text(alphabet=string.printable, max_size=40),
                                    JSON_VALUES.map(json.dumps)), max_size=5).map(lambda r: "\n".join(r).encode()),
                 st.lists(RECORD, max_size=3).map(lambda rows: json.dumps(rows, indent=1).encode())))
def test_ingest_files_of_random_bytes_load_or_fail_with_a_line(tmp_path_factory, name: str, data: bytes) -> None:
    """Random bytes, broken JSON, wrong shapes: the loader returns artifacts or raises CatalogError naming
    the file and a line, never another exception."""
    path = tmp_path_factory.mktemp("random") / name
    path.write_bytes(data)
    try:
        artifacts = load_artifacts([path])
    except CatalogError as exc:
        assert exc.source == str(path) and exc.line >= 1, exc
        return
    assert all(isinstance(a, Artifact) for a in artifacts)


@pytest.mark.parametrize("text", ["[" * 100_000, "1" * 5000, '{"id": "\\ud800"}', "\n\n" + "{" * 50_000],
                         ids=["deep-array", "5000-digits", "lone-surrogate", "deep-object"])
@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_pathological_json_in_catalog_files(tmp_path: Path, text: str, suffix: str) -> None:
    """Found while fuzzing: deep nesting (RecursionError), 4300+ digit numbers (ValueError) and lone
    surrogates used to escape the loader; now each is a CatalogError with its line."""
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    with pytest.raises(CatalogError) as err:
        load_artifacts([path])
    assert err.value.line >= 1 and "invalid JSON" in err.value.message
