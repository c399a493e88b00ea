"""search/generation_layout.py owns the layout of a generation: every file of a committed generation is one it
declares, a generation reads back as it was written, and no other module names those files."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from search import generation_layout

ROOT = Path(__file__).resolve().parent.parent


def test_every_file_of_a_committed_generation_is_declared(make_engine, small_catalog: Path) -> None:
    engine = make_engine()
    engine.ingest([small_catalog])
    folder = generation_layout.current(engine.data_dir)
    assert folder is not None and folder.name == engine.generation
    derived_files = json.loads((folder / generation_layout.DERIVED_META_FILE).read_text())["files"]
    declared = {generation_layout.CATALOG_FILE, generation_layout.GRAPH_FILE, generation_layout.MANIFEST_FILE,
                generation_layout.DERIVED_META_FILE, *generation_layout.INDEX_FILES, *derived_files}
    assert {p.name for p in folder.iterdir()} - set(generation_layout.OPTIONAL_FILES) == declared


def test_a_generation_reads_back_as_written(make_engine, small_catalog: Path, tmp_path: Path) -> None:
    engine = make_engine()
    engine.ingest([small_catalog])
    contents = generation_layout.Contents(engine.artifacts, engine.index, engine.artifact_vectors, engine.lexical,
                                   engine.embedder.model_id)
    folder = generation_layout.commit(tmp_path / "data", lambda staging: generation_layout.write(staging, contents))
    assert generation_layout.current(tmp_path / "data") == folder
    assert generation_layout.read_catalog(folder) == engine.artifacts
    assert sorted(generation_layout.read_index(folder).ids()) == sorted(engine.capabilities)
    vectors, lexical = generation_layout.read_derived(folder, engine.artifacts.keys(), engine.index.dim)
    assert set(vectors) == set(engine.artifact_vectors) and lexical.ids == engine.lexical.ids
    manifest = generation_layout.read_manifest(folder)
    assert manifest["artifacts"] == len(engine.artifacts) and manifest["capabilities"] == len(engine.capabilities)
    assert generation_layout.built_with(folder) == engine.embedder.model_id


def test_no_other_module_names_the_generation_files() -> None:
    """Engine (and everything else) asks search/generation_layout.py; the file names appear nowhere else."""
    names = {generation_layout.CATALOG_FILE, generation_layout.GRAPH_FILE, generation_layout.MANIFEST_FILE}
    hits = []
    for path in sorted(p for pkg in ("api", "graph", "search") for p in (ROOT / pkg).rglob("*.py")):
        if path.name == "generation_layout.py" and path.parent.name == "search":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # graph/infra/generation_commit.py (the commit protocol, a layer below) defines the complete marker, which
        # search/generation_layout.py takes as its MANIFEST_FILE: that one definition is allowed.
        protocol = path.relative_to(ROOT).as_posix() == "graph/infra/generation_commit.py"
        allowed = {id(n.value) for n in ast.walk(tree) if protocol and isinstance(n, ast.Assign)
                   and [getattr(t, "id", None) for t in n.targets] == ["COMPLETE_MARKER"]}
        for node in ast.walk(tree):
            if id(node) in allowed:
                continue
            if isinstance(node, ast.Constant) and node.value in names:
                hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not hits, "\n".join(hits)


def test_current_follows_every_commit_and_a_folder_deleted_by_hand(tmp_path: Path) -> None:
    """`current` is asked on every request and answers from two stats while CURRENT is the file it read
    last; a commit (a new CURRENT) or a folder deleted by hand must still be seen at once."""
    import shutil

    from graph.infra import generation_commit

    data = tmp_path / "data"

    def write(folder: Path) -> None:
        (folder / generation_commit.COMPLETE_MARKER).write_text("{}")

    seen = []
    for _ in range(5):  # back-to-back commits: each one is served at the next call
        folder = generation_commit.commit(data, write)
        assert generation_commit.current(data) == folder and generation_commit.current(data) == folder
        seen.append(folder)
    newest, previous = seen[-1], seen[-2]
    shutil.rmtree(newest)  # CURRENT unchanged, its folder gone: the newest complete one instead
    assert generation_commit.current(data) == previous
    (data / generation_commit.POINTER).unlink()
    assert generation_commit.current(data) == previous  # no pointer: still the newest complete generation
