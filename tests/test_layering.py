"""The layering, checked on the source (ast): api -> search -> graph, api talks to Engine only, and the
product never imports the benchmarks or the tests."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"api": 2, "search": 1, "graph": 0}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, relative imports resolved against its package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = path.relative_to(ROOT).parent.parts
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[:len(package) - node.level + 1], *([base] if base else [])])
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]  # `from graph import store`
    return out


def _files(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def test_api_never_imports_the_store() -> None:
    """api/ talks to search.engine.Engine (errors from search.errors), never to graph.store."""
    hits = [f"{p.relative_to(ROOT)}:{line}: {mod}" for p in _files("api") for line, mod in _imports(p)
            if mod == "graph.store" or mod.startswith("graph.store.")]
    assert not hits, "api/ must go through Engine:\n" + "\n".join(hits)


def test_api_never_reaches_into_the_engines_store() -> None:
    """No `<anything>.store` attribute in api/: analytics, health and rebuild are Engine methods."""
    hits = []
    for p in _files("api"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "store":
                hits.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert not hits, "use Engine methods instead of engine.store:\n" + "\n".join(hits)


def test_imports_point_down_and_never_into_bench_or_tests() -> None:
    hits = []
    for p in _files(*LAYERS):
        layer = LAYERS[p.relative_to(ROOT).parts[0]]
        for line, mod in _imports(p):
            top = mod.split(".")[0]
            if top in ("bench", "tests"):
                hits.append(f"{p.relative_to(ROOT)}:{line}: imports {mod}")
            elif top in LAYERS and LAYERS[top] > layer:
                hits.append(f"{p.relative_to(ROOT)}:{line}: upward import of {mod}")
    assert not hits, "\n".join(hits)


def test_search_related_uses_only_the_engines_public_surface() -> None:
    """related.py reads Engine through public methods, never `engine._x`, `.store`, `.index` or `.embedder`."""
    tree = ast.parse((ROOT / "search" / "related.py").read_text(encoding="utf-8"))
    bad = [f"{n.lineno}: engine.{n.attr}" for n in ast.walk(tree)
           if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "engine"
           and (n.attr.startswith("_") or n.attr in ("store", "index", "embedder", "lexical", "artifact_vectors"))]
    assert not bad, bad


# api/ reaches search and graph through an allow-list: the engine (the one door), its errors, the settings
# table and the catalog types. api/app.py, the composition root, may also wire infrastructure clients.
API_ALLOWED = {"search.engine", "search.errors", "graph.settings", "graph.catalog"}
COMPOSITION_ROOT = "api/app.py"
INFRASTRUCTURE = {f"graph.infra.{m}" for m in ("redishealth", "sqlitedb", "redisurl", "ratelimits", "forksafe")}


def _product_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of search.* or graph.* in a file; `from graph import x` gives graph.x."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if (ROOT / node.module.replace(".", "/")).is_dir():  # `from graph import store`: graph.store
                out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
    return [(line, mod) for line, mod in out if mod.split(".")[0] in ("search", "graph")]


def test_api_imports_only_the_allow_list() -> None:
    hits = []
    for p in _files("api"):
        rel = p.relative_to(ROOT).as_posix()
        allowed = API_ALLOWED | (INFRASTRUCTURE if rel == COMPOSITION_ROOT else set())
        hits += [f"{rel}:{line}: {mod}" for line, mod in _product_imports(p) if mod not in allowed]
    assert not hits, ("api/ imports only " + ", ".join(sorted(API_ALLOWED)) + " (and, in api/app.py, "
                      "infrastructure to wire clients); anything else is an Engine method:\n" + "\n".join(hits))


def test_api_never_reads_the_engines_parts() -> None:
    """No `eng.index.kind`, `eng.embedder.model_id`, `eng.catalog`, `eng.pipeline` or `eng.evidence` in api/."""
    parts = {"index", "embedder", "catalog", "pipeline", "evidence", "lexical", "feed", "intents", "dedup"}
    hits = []
    for p in _files("api"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in parts and isinstance(node.value, ast.Name) \
                    and node.value.id in ("eng", "engine"):
                hits.append(f"{p.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not hits, "use Engine methods (model_id, index_kind, ...):\n" + "\n".join(hits)


def test_bench_reads_product_settings_through_settings() -> None:
    """bench/ never names a product setting's environment variable (`os.environ["MATCHGRAPH_…"]`,
    `env={"MATCHGRAPH_…": …}`, `dict(os.environ, MATCHGRAPH_…=…)`): it loads `graph.settings.Settings` and
    hands servers their settings through `bench.servers.server_environ`."""
    from graph.settings import SETTINGS

    product = {var for s in SETTINGS for var in s.env}
    hits = []
    for p in _files("bench"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in product:
                hits.append(f"{p.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
            elif isinstance(node, ast.keyword) and node.arg in product:
                hits.append(f"{p.relative_to(ROOT)}:{node.value.lineno}: {node.arg}=")
    assert not hits, "read and pass settings through graph.settings.Settings:\n" + "\n".join(hits)
