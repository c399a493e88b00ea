"""The same encoder exported to ONNX and run by ONNX Runtime with the `tokenizers` library.

Why: on 2 CPU cores a one-query torch forward pass costs ~15 ms, the ONNX Runtime one ~5 ms with the same
vectors (within 1e-6), and serving needs neither torch nor transformers in memory once the export exists.
The export is written once per model and settings (keyed by the embedder's model id) beside a probe: a
known text and its torch vector. Opening checks the probe, so a damaged or stale file is re-exported.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

from graph.infra.forksafe import reset_after_fork

log = logging.getLogger(__name__)

PROBE_TEXT = "matchgraph probe: extract answers from passages of text"
PROBE_ATOL = 1e-4
INT8_MIN_COSINE = 0.9
QUERY_THREADS = min(2, os.cpu_count() or 1)  # intra-op threads for one query (see OnnxEncoder.__init__)


class OnnxUnavailable(RuntimeError):
    """ONNX Runtime, the model's tokenizer.json, or a usable export is missing."""


class OnnxEncoder:
    """An ONNX Runtime session over an exported model; thread-safe, so no lock around `encode_batch`."""

    def __init__(self, onnx_path: Path, model_dir: Path, *, max_length: int, threads: int | None = None,
                 spinning: bool = False) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise OnnxUnavailable(f"onnxruntime or tokenizers is not installed: {exc}") from exc
        tokenizer_file = model_dir / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise OnnxUnavailable(f"{tokenizer_file} is missing")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        padding = self.tokenizer.padding or {}
        self.tokenizer.enable_truncation(max_length=max_length)  # the file's own settings may differ
        self.tokenizer.enable_padding(pad_id=padding.get("pad_id", 0), pad_type_id=padding.get("pad_type_id", 0),
                                      pad_token=padding.get("pad_token", "[PAD]"))  # to the batch's longest
        self._ort, self._path, self._threads, self.spinning = ort, str(onnx_path), threads, spinning
        # One query on QUERY_THREADS intra-op threads (measured, `bench.profile --query-threads-ab`: 2 threads
        # cut one query's forward pass by ~30% and kept the 16-client throughput). Batches (ingest) get every
        # core, in a second session made on first use. `threads` sets both.
        self.query_session = self._session(threads or QUERY_THREADS)
        self._batch_session = self.query_session if threads else None
        self._lock = threading.Lock()
        reset_after_fork(self, "_lock")
        self.input_names = [i.name for i in self.query_session.get_inputs()]

    def _session(self, threads: int):
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime picks one per physical core
        options.inter_op_num_threads = 1
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning (opt-in): a thread waiting for its share of the next step of a forward pass spins instead of
        # sleeping. On an idle host that saves ~30% of a query; when other work holds a core, a thread spins
        # for a partner that is not running, and searches over HTTP took ~1.8x longer (`--spin-ab`). Either
        # way every thread stops spinning when the pass ends (force_spinning_stop): an idle worker burns no CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        options.add_session_config_entry("session.force_spinning_stop", "1")
        return self._ort.InferenceSession(self._path, options, providers=["CPUExecutionProvider"])

    @property
    def session(self):
        """The session for batches of several texts (all cores unless `threads` was given)."""
        if self._batch_session is None:
            with self._lock:
                if self._batch_session is None:
                    self._batch_session = self._session(0)
        return self._batch_session

    def token_lengths(self, texts: list[str]) -> list[int]:
        return [sum(e.attention_mask) for e in self.tokenizer.encode_batch(texts)]

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        columns = {"input_ids": [e.ids for e in encodings], "attention_mask": [e.attention_mask for e in encodings],
                   "token_type_ids": [e.type_ids for e in encodings]}
        feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self.input_names}
        session = self.query_session if len(texts) == 1 else self.session
        return session.run(None, feed)[0].astype(np.float32, copy=False)


def open_or_export(folder: Path, model_id: str, model_dir: Path, *, max_length: int, threads: int | None,
                   reference, int8: bool = False, spinning: bool = False) -> OnnxEncoder:
    """The checked export for `model_id` in `folder`, exporting it first from `reference()` if needed.

    `reference` returns the TorchEncoder with the same settings; it is only called (and torch only loaded)
    when the export is missing, stale or damaged. `int8` quantises the weights (dynamic int8 quantisation):
    ~2.4x faster, but the vectors move (cosine ~0.97 to the reference), so the probe then holds the
    quantised model's own vector, and the export is refused when it strays below INT8_MIN_COSINE.
    """
    onnx_path, meta_path = folder / f"{model_id}.onnx", folder / f"{model_id}.json"
    if meta_path.is_file() and onnx_path.is_file():
        try:
            encoder = OnnxEncoder(onnx_path, model_dir, max_length=max_length, threads=threads, spinning=spinning)
            _check_probe(encoder, json.loads(meta_path.read_text()))
            return encoder
        except OnnxUnavailable:
            raise
        except Exception as exc:  # a truncated file, garbage meta, or vectors that moved
            log.warning("ONNX export %s is unusable (%s): exporting it again", onnx_path.name, exc)
    torch_encoder = reference()
    folder.mkdir(parents=True, exist_ok=True)
    suffix = f".tmp-{os.getpid()}"
    tmp_onnx, tmp_meta = folder / (onnx_path.name + suffix), folder / (meta_path.name + suffix)
    try:
        log.info("exporting the encoder to ONNX: %s", onnx_path)
        torch_encoder.export_onnx(tmp_onnx)
        reference_vector = torch_encoder.encode_batch([PROBE_TEXT])[0]
        if int8:
            _quantize(tmp_onnx)
        encoder = OnnxEncoder(tmp_onnx, model_dir, max_length=max_length, threads=threads, spinning=spinning)
        probe = encoder.encode_batch([PROBE_TEXT])[0] if int8 else reference_vector
        if int8 and float(probe @ reference_vector) / (np.linalg.norm(probe) * np.linalg.norm(reference_vector)
                                                         ) < INT8_MIN_COSINE:
            raise ValueError("the int8 model's vectors stray too far from the reference model's")
        meta = {"probe": PROBE_TEXT, "vector": probe.tolist(), "int8": int8}
        tmp_meta.write_text(json.dumps(meta))
        _check_probe(encoder, meta)
        for tmp in (tmp_onnx, tmp_meta):
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_onnx, onnx_path)  # the meta last: a reader needs both and checks the probe anyway
        os.replace(tmp_meta, meta_path)
        del encoder  # it was opened on the temporary name
        return OnnxEncoder(onnx_path, model_dir, max_length=max_length, threads=threads, spinning=spinning)
    finally:
        tmp_onnx.unlink(missing_ok=True)
        tmp_meta.unlink(missing_ok=True)


def _quantize(path: Path) -> None:
    """Dynamic int8 quantisation of the weights, in place (ONNX Runtime's own tool)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = path.with_name(path.name + ".fp32")
    os.replace(path, fp32)
    try:
        quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)
    finally:
        fp32.unlink(missing_ok=True)


def _check_probe(encoder: OnnxEncoder, meta: dict) -> None:
    expected = np.asarray(meta["vector"], dtype=np.float32)
    got = encoder.encode_batch([meta["probe"]])[0]
    if got.shape != expected.shape or not np.allclose(got, expected, atol=PROBE_ATOL, rtol=0):
        raise ValueError("the export's probe vector differs from the reference model's")
