"""Embedder parity with sentence-transformers, pooling options, length-sorted batches and the vector cache."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import busy_thread

from search.embedder import Embedder, default_model_path
from search.vectorcache import VectorCache

ROOT = Path(__file__).resolve().parents[1]

LONG_TEXT = " ".join(
    f"Paragraph {i}: the model card says this checkpoint was fine-tuned on code search pairs, "
    f"supports Python, Rust and TypeScript, and is licensed under Apache-2.0." for i in range(12)
)

VARIED_TEXTS = [
    "text embeddings for semantic search",
    "A dataset of 3M permissively licensed GitHub repositories (The Stack v2).",
    "",
    "   ",
    "x",
    "Speech recognition that runs offline on a Raspberry Pi",
    "naïve café résumé — Ünïcødé handling",
    "日本語の文章を要約するモデル",
    "Модель для классификации отзывов",
    "🤖🚀 emoji-heavy tagline!!! ???",
    "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "SELECT * FROM artifacts WHERE pricing = 'free' ORDER BY stars DESC LIMIT 10;",
    "https://huggingface.co/datasets/bigcode/the-stack-v2",
    "image segmentation",
    "IMAGE SEGMENTATION",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "Tabs\tand\nnewlines\r\nmixed   spacing",
    "1234567890 3.14159 2e-10",
    LONG_TEXT,
    "word " * 400,
]


def _manual_vectors(emb: Embedder, texts: list[str]) -> np.ndarray:
    """The option semantics spelled out one unpadded text at a time, straight from the HF model."""
    import torch

    rows = []
    with torch.inference_mode():
        for text in texts:
            tok = emb.tokenizer([text], truncation=True, max_length=emb.max_length, return_tensors="pt")
            states = emb.model(**tok, output_hidden_states=True).hidden_states
            h = torch.stack([states[i] for i in emb.layers]).mean(dim=0)[0]
            pooled = {"mean": h.mean(dim=0), "cls": h[0], "max": h.max(dim=0).values}[emb.pooling]
            if emb.normalize:
                pooled = pooled / pooled.norm()
            rows.append(pooled.numpy())
    return np.stack(rows)


def test_model_setting_overrides_the_bundled_model() -> None:
    """MATCHGRAPH_MODEL is read by the settings table (once); the embedder itself never reads the environment."""
    from graph.settings import Settings

    assert Settings.load({"MATCHGRAPH_MODEL": "/models/custom"}).model == "/models/custom"
    assert Settings.load({}).model is None
    assert Path(default_model_path(), "config.json").is_file()


@pytest.fixture(scope="module")
def torch_embedder(embedder: Embedder) -> Embedder:
    """The reference backend, no cache: every encode reaches the transformers model."""
    return Embedder(embedder.model_path, backend="torch")


def test_default_matches_sentence_transformers(embedder: Embedder, torch_embedder: Embedder) -> None:
    from sentence_transformers import SentenceTransformer

    assert embedder.backend == "onnx" and torch_embedder.backend == "torch"
    assert len(embedder.tokenizer(LONG_TEXT)["input_ids"]) > 256  # exercises truncation at max_seq_length
    assert embedder.max_length == 256 and embedder.dim == 384
    st = SentenceTransformer(embedder.model_path, local_files_only=True, device="cpu")
    expected = st.encode(VARIED_TEXTS, normalize_embeddings=True)
    for emb in (embedder, torch_embedder):
        got = emb.encode(VARIED_TEXTS)
        assert got.dtype == np.float32 and got.shape == (len(VARIED_TEXTS), 384)
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert torch_embedder.model_id == embedder.model_id  # one cache serves both backends


@pytest.mark.parametrize("options", [
    {"layers": (-2,)},
    {"layers": (-1, -2, -3)},
    {"pooling": "cls"},
    {"pooling": "max"},
    {"normalize": False},
])
def test_layer_and_pooling_options(embedder: Embedder, options: dict) -> None:
    texts = ["options: short", "options: a noticeably longer text, so the short one is padded in the batch"]
    default = embedder.encode(texts)
    emb = Embedder(embedder.model_path, cache=embedder.cache, **options)  # same cache: keys must not collide
    got = emb.encode(texts)
    assert emb.backend == "onnx" and emb.model_id != embedder.model_id
    assert emb.forward_batches == 1  # the default's cached vectors were not served for these options
    assert got.shape == default.shape == (2, emb.dim)
    assert np.abs(got - default).max() > 1e-3
    np.testing.assert_allclose(got, _manual_vectors(emb, texts), atol=1e-5, rtol=0)


def test_invalid_options_are_rejected(embedder: Embedder) -> None:
    with pytest.raises(ValueError):
        Embedder(embedder.model_path, pooling="median")
    with pytest.raises(ValueError):
        Embedder(embedder.model_path, layers=(7,))  # 6 layers + embeddings = 7 hidden states
    with pytest.raises(ValueError):
        Embedder(embedder.model_path, backend="tensorflow")
    with pytest.raises(TypeError):
        embedder.encode("a bare string is almost always a bug")


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_batches_sorted_by_length_and_independent_of_order(embedder: Embedder, backend: str) -> None:
    emb = Embedder(embedder.model_path, batch_size=4, backend=backend)  # no cache: every call reaches the model
    seen_lengths: list[int] = []
    if backend == "torch":
        forward = emb.model.forward

        def spy(*args, **kwargs):
            seen_lengths.append(int(kwargs["input_ids"].shape[1]))
            return forward(*args, **kwargs)

        emb.model.forward = spy
    else:
        for session in (emb._encoder.session, emb._encoder.query_session):  # several texts / one text

            def spy(outputs, feed, *args, run=session.run):
                seen_lengths.append(int(feed["input_ids"].shape[1]))
                return run(outputs, feed, *args)

            session.run = spy
    rng = np.random.default_rng(0)
    texts = [" ".join(["token"] * int(n)) + f" batch-{i}" for i, n in enumerate(rng.integers(1, 120, 13))]
    texts.append(texts[0])  # a duplicate is encoded once
    first = emb.encode(texts)
    assert emb.forward_batches == 4 and emb.encoded_texts == 13
    assert seen_lengths == sorted(seen_lengths, reverse=True)  # longest batch first, dynamic padding
    token_lengths = sorted((len(ids) for ids in emb.tokenizer(texts[:13])["input_ids"]), reverse=True)
    assert seen_lengths == token_lengths[::4]  # each batch is padded only to its own longest text
    np.testing.assert_array_equal(first[0], first[-1])

    perm = rng.permutation(len(texts))
    emb.batch_size = 32
    shuffled = emb.encode([texts[i] for i in perm])
    assert emb.forward_batches == 5
    np.testing.assert_allclose(shuffled, first[perm], atol=1e-5, rtol=0)


def test_onnx_export_is_reused_without_loading_torch(embedder: Embedder, tmp_path: Path, caplog) -> None:
    """A second process finds the checked export: it never builds the torch model."""
    emb = Embedder(embedder.model_path, onnx_dir=tmp_path)
    assert emb.backend == "onnx" and emb._torch is not None  # this one exported, from the torch model
    exported = sorted(p.name for p in tmp_path.iterdir())
    assert exported == [f"{emb.model_id}.json", f"{emb.model_id}.onnx"]
    again = Embedder(embedder.model_path, onnx_dir=tmp_path)
    assert again.backend == "onnx" and again._torch is None
    np.testing.assert_allclose(again.encode(VARIED_TEXTS[:6]), emb.encode(VARIED_TEXTS[:6]), atol=1e-6, rtol=0)

    code = textwrap.dedent(f"""
        import sys
        from search.embedder import Embedder
        emb = Embedder(onnx_dir={str(tmp_path)!r})
        emb.encode_query("does serving import torch?")
        print(emb.backend, "torch" in sys.modules, "transformers" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.split() == ["onnx", "False", "False"]


@pytest.mark.parametrize("damage", ["truncated", "wrong-probe", "meta-garbage"])
def test_damaged_onnx_export_is_detected_and_exported_again(embedder: Embedder, tmp_path: Path, caplog,
                                                            damage: str) -> None:
    first = Embedder(embedder.model_path, onnx_dir=tmp_path)
    onnx_file, meta_file = tmp_path / f"{first.model_id}.onnx", tmp_path / f"{first.model_id}.json"
    if damage == "truncated":
        onnx_file.write_bytes(onnx_file.read_bytes()[: onnx_file.stat().st_size // 2])
    elif damage == "wrong-probe":  # e.g. an export of other weights under this name
        meta = json.loads(meta_file.read_text())
        meta["vector"] = [-x for x in meta["vector"]]
        meta_file.write_text(json.dumps(meta))
    else:
        meta_file.write_bytes(b"\x00\xff not json")
    with caplog.at_level(logging.WARNING, logger="search.onnx_encoder"):
        emb = Embedder(embedder.model_path, onnx_dir=tmp_path)
    assert f"ONNX export {first.model_id}.onnx is unusable" in caplog.text and "exporting it again" in caplog.text
    assert emb.backend == "onnx" and emb._torch is not None
    np.testing.assert_allclose(emb.encode(VARIED_TEXTS[:6]), embedder.encode(VARIED_TEXTS[:6]), atol=1e-5, rtol=0)
    assert Embedder(embedder.model_path, onnx_dir=tmp_path)._torch is None  # the re-export is good again
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_without_a_tokenizer_json_onnx_falls_back_to_torch(embedder: Embedder, tmp_path: Path, caplog) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for src in Path(embedder.model_path).iterdir():
        if src.is_file() and src.name != "tokenizer.json":
            (model / src.name).symlink_to(src)
    with caplog.at_level(logging.WARNING, logger="search.embedder"):
        emb = Embedder(str(model), onnx_dir=tmp_path / "onnx")
    assert emb.backend == "torch" and "ONNX encoder unavailable" in caplog.text
    np.testing.assert_allclose(emb.encode(VARIED_TEXTS[:3]), embedder.encode(VARIED_TEXTS[:3]), atol=1e-5, rtol=0)


def test_persistent_cache_skips_the_model(embedder: Embedder) -> None:
    texts = [f"cache test capability number {i}: tabular data {'augmentation ' * i}" for i in range(40)]
    before = embedder.forward_batches
    first = embedder.encode(texts)
    assert embedder.forward_batches - before == 2  # 40 misses in batches of 32

    before = embedder.forward_batches
    np.testing.assert_array_equal(embedder.encode(texts), first)
    assert embedder.forward_batches == before

    fresh = Embedder(embedder.model_path, cache=VectorCache(embedder.cache.path))  # a new process, same file
    assert fresh.model_id == embedder.model_id
    np.testing.assert_array_equal(fresh.encode(list(reversed(texts))), first[::-1])
    assert fresh.forward_batches == 0 and fresh.encoded_texts == 0

    changed = texts[:5] + ["cache test: a brand new capability", "cache test: another new one"] + texts[5:]
    out = fresh.encode(changed)
    assert fresh.forward_batches == 1 and fresh.encoded_texts == 2
    np.testing.assert_array_equal(out[:5], first[:5])
    np.testing.assert_array_equal(out[7:], first[5:])


def test_encode_query_matches_encode_and_is_memoised(embedder: Embedder) -> None:
    query = "query test: find a small model for german named entity recognition"
    vec = embedder.encode_query(query)
    assert vec.shape == (384,) and vec.dtype == np.float32
    np.testing.assert_allclose(vec, embedder.encode([query])[0], atol=1e-6, rtol=0)
    before = embedder.forward_batches
    vec[:] = 0  # callers get a copy, not the memoised array
    np.testing.assert_allclose(embedder.encode_query(query), embedder.encode([query])[0], atol=1e-6, rtol=0)
    assert embedder.forward_batches == before


def test_empty_input(embedder: Embedder) -> None:
    before = embedder.forward_batches
    out = embedder.encode([])
    assert out.shape == (0, 384) and out.dtype == np.float32
    assert embedder.forward_batches == before


# -- VectorCache ------------------------------------------------------------------------------------


def test_vector_cache_round_trip_without_pickle(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    items = {f"key-{i}": rng.standard_normal(8 + i % 3).astype(np.float32) for i in range(1234)}
    with VectorCache(tmp_path / "c.sqlite") as cache:
        cache.put_many(items)
        assert len(cache) == 1234
        got = cache.get_many(list(items) + ["absent"])  # more keys than one IN (...) chunk
        assert got.keys() == items.keys()
        for key, vec in items.items():
            np.testing.assert_array_equal(got[key], vec)
        cache.put_many({"key-0": np.ones(4, np.float32)})
        np.testing.assert_array_equal(cache.get_many(["key-0"])["key-0"], np.ones(4))
        with pytest.raises(ValueError):
            cache.put_many({"bad": np.ones((2, 2), np.float32)})
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:
        blob, dim = conn.execute("SELECT vec, dim FROM vectors WHERE key = 'key-1'").fetchone()
    assert dim == 9 and blob == items["key-1"].astype("<f4").tobytes()


def test_vector_cache_shared_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    writer = textwrap.dedent(f"""
        import sys
        import numpy as np
        from search.vectorcache import VectorCache
        cache = VectorCache({str(path)!r})
        tag = sys.argv[1]
        for batch in range(20):
            cache.put_many({{f"{{tag}}-{{batch}}-{{i}}": np.full(16, batch, np.float32) for i in range(10)}})
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", writer, tag], env=env) for tag in ("a", "b")]
    cache = VectorCache(path)
    while any(p.poll() is None for p in procs):
        cache.get_many([f"a-0-{i}" for i in range(10)])  # reads interleave with both writers
    assert [p.returncode for p in procs] == [0, 0]
    assert len(cache) == 400
    np.testing.assert_array_equal(cache.get_many(["b-19-9"])["b-19-9"], np.full(16, 19, np.float32))


def test_a_forked_child_encodes_with_the_reference_model(embedder: Embedder) -> None:
    """ONNX Runtime hangs in a forked child (using or creating a session): the child switches to torch."""
    assert embedder.backend == "onnx"
    texts = ["fork test: a text the parent never encoded", "fork test: another one, somewhat longer"]
    expected = embedder._encoder.encode_batch(texts)  # the parent's session, not the cache
    read, write = os.pipe()
    with busy_thread(lambda: embedder.encode_query("busy parent query")):  # its locks in use at the fork
        pid = os.fork()
    if pid == 0:  # the child: report through the pipe, exit without running pytest's teardown
        try:
            vecs = embedder._encode_uncached(texts)
            os.write(write, f"{embedder.backend} {float(np.abs(vecs - expected).max())}".encode())
        finally:
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
        time.sleep(0.1)
    else:
        if time.monotonic() >= deadline:
            os.kill(pid, 9)
            pytest.fail("the forked child hung while encoding")
    backend, diff = os.read(read, 100).decode().split()
    assert backend == "torch" and float(diff) < 1e-5
    assert embedder.backend == "onnx"  # the parent keeps its session


def test_int8_is_opt_in_faster_to_load_and_close_but_not_equal(embedder: Embedder, tmp_path: Path) -> None:
    """`onnx-int8` quantises the export: its vectors move (so its cache keys differ) but stay close."""
    emb = Embedder(embedder.model_path, backend="onnx-int8", onnx_dir=tmp_path)
    assert emb.backend == "onnx-int8" and emb.model_id != embedder.model_id
    exact = embedder.encode(VARIED_TEXTS[:8])
    got = emb.encode(VARIED_TEXTS[:8])
    cosine = (got * exact).sum(axis=1)
    assert cosine.min() > 0.85 and np.abs(got - exact).max() > 1e-3
    fp32 = Path(embedder._encoder._path).stat().st_size
    assert (tmp_path / f"{emb.model_id}.onnx").stat().st_size < fp32 / 2  # int8 weights
    again = Embedder(embedder.model_path, backend="onnx-int8", onnx_dir=tmp_path)
    assert again._torch is None  # the checked export is reused
    np.testing.assert_allclose(again.encode(VARIED_TEXTS[:8]), got, atol=1e-6, rtol=0)


def test_an_index_built_by_another_encoder_is_reported(embedder: Embedder, make_engine, small_catalog: Path,
                                                       tmp_path: Path, caplog) -> None:
    engine = make_engine(tmp_path / "var")
    engine.ingest([small_catalog])
    engine.close()
    int8 = Embedder(embedder.model_path, backend="onnx-int8", onnx_dir=tmp_path / "onnx")
    from graph.settings import Settings
    from search.engine import Engine

    with caplog.at_level(logging.WARNING, logger="search"):
        other = Engine(Settings.load(data_dir=tmp_path / "var", store_url=""), embedder=int8)
    assert "re-ingest the catalog to re-embed it" in caplog.text
    other.close()


def test_encoder_spinning_is_a_setting_and_leaves_vectors_unchanged(embedder: Embedder) -> None:
    """MATCHGRAPH_ENCODER_SPINNING reaches the ONNX sessions (off by default: a shared host loses more than
    an idle one gains; on: spinning within a pass, stopped after it), and the vectors are bit-for-bit the
    same either way."""
    from graph.settings import Settings

    def entries(e: Embedder) -> tuple[str, str]:
        options = e._encoder.query_session.get_session_options()
        return (options.get_session_config_entry("session.intra_op.allow_spinning"),
                options.get_session_config_entry("session.force_spinning_stop"))

    assert Settings.load().encoder_spinning is False
    onnx_dir = os.environ["MATCHGRAPH_ONNX_DIR"]
    on = Embedder.from_settings(Settings.load(encoder_spinning=True), None, Path(onnx_dir))
    off = Embedder.from_settings(Settings.load(), None, Path(onnx_dir))
    assert (on.backend, off.backend) == ("onnx", "onnx")
    assert entries(on) == ("1", "1") and entries(off) == ("0", "1")
    texts = ["extract answers from passages", "a reading comprehension dataset I can use commercially", "x"]
    for text in texts:
        assert np.array_equal(on._encode_uncached([text]), off._encode_uncached([text]))
    assert np.array_equal(on._encode_uncached(texts), off._encode_uncached(texts))
