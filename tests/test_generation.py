"""search/generation.py owns the layout of a generation: every file of a committed generation is one it
declares, a generation reads back as it was written, and no other module names those files."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from search import generation

ROOT = Path(__file__).resolve().parent.parent


def test_every_file_of_a_committed_generation_is_declared(make_engine, small_catalog: Path) -> None:
    engine = make_engine()
    engine.ingest([small_catalog])
    folder = generation.current(engine.data_dir)
    assert folder is not None and folder.name == engine.generation
    derived_files = json.loads((folder / generation.DERIVED_META_FILE).read_text())["files"]
    declared = {generation.CATALOG_FILE, generation.GRAPH_FILE, generation.MANIFEST_FILE,
                generation.DERIVED_META_FILE, *generation.INDEX_FILES, *derived_files}
    assert {p.name for p in folder.iterdir()} == declared


def test_a_generation_reads_back_as_written(make_engine, small_catalog: Path, tmp_path: Path) -> None:
    engine = make_engine()
    engine.ingest([small_catalog])
    contents = generation.Contents(engine.artifacts, engine.index, engine.artifact_vectors, engine.lexical,
                                   engine.embedder.model_id)
    folder = generation.commit(tmp_path / "data", lambda staging: generation.write(staging, contents))
    assert generation.current(tmp_path / "data") == folder
    assert generation.read_catalog(folder) == engine.artifacts
    assert sorted(generation.read_index(folder).ids()) == sorted(engine.capabilities)
    vectors, lexical = generation.read_derived(folder, engine.artifacts.keys(), engine.index.dim)
    assert set(vectors) == set(engine.artifact_vectors) and lexical.ids == engine.lexical.ids
    manifest = generation.read_manifest(folder)
    assert manifest["artifacts"] == len(engine.artifacts) and manifest["capabilities"] == len(engine.capabilities)
    assert generation.built_with(folder) == engine.embedder.model_id


def test_no_other_module_names_the_generation_files() -> None:
    """Engine (and everything else) asks search/generation.py; the file names appear nowhere else."""
    names = {generation.CATALOG_FILE, generation.GRAPH_FILE, generation.MANIFEST_FILE}
    hits = []
    for path in sorted(p for pkg in ("api", "graph", "search") for p in (ROOT / pkg).rglob("*.py")):
        if path.name == "generation.py" and path.parent.name == "search":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # graph/generations.py (the commit protocol, a layer below) defines the complete marker, which
        # search/generation.py takes as its MANIFEST_FILE: that one definition is allowed.
        protocol = path.relative_to(ROOT).as_posix() == "graph/generations.py"
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

    from graph import generations

    data = tmp_path / "data"

    def write(folder: Path) -> None:
        (folder / generations.COMPLETE_MARKER).write_text("{}")

    seen = []
    for _ in range(5):  # back-to-back commits: each one is served at the next call
        folder = generations.commit(data, write)
        assert generations.current(data) == folder and generations.current(data) == folder
        seen.append(folder)
    newest, previous = seen[-1], seen[-2]
    shutil.rmtree(newest)  # CURRENT unchanged, its folder gone: the newest complete one instead
    assert generations.current(data) == previous
    (data / generations.POINTER).unlink()
    assert generations.current(data) == previous  # no pointer: still the newest complete generation
