"""A shipped vector snapshot: capability vectors computed once, so a fresh clone starts in seconds.

Why: the bundled catalog has ~24k capability texts; embedding them on 2 cores takes minutes, and a first
start must be ready within a minute. The catalog folder ships `vectors/` (written by
`python -m search.snapshot write data`):

- `meta.txt`   JSON: format, the embedder's `model_id` (a fingerprint of the model files and settings),
  dim, count, the SHA-256 of every other file, and three probe texts with their row;
- `keys.bin`   16 bytes per row: the first 16 bytes of the embedder's cache key (SHA-256 of model id + text);
- `vectors-NN.f16`  float16 rows (little-endian), split so that no file exceeds 7 MB.

Keys bind each row to the exact text and model: an edited capability simply misses and is embedded. On
use, the snapshot is verified and dropped (with a warning: everything is then embedded, just slower)
when the model id differs, a checksum fails, or the probes re-embedded now are not within cosine 0.995
of their stored rows. float16 keeps cosine similarity within ~1e-3 of the float32 vectors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search import doctext

log = logging.getLogger(__name__)

FOLDER = "vectors"
META = "meta.txt"
KEYS = "keys.bin"
FORMAT = "matchgraph-vector-snapshot/1"
KEY_BYTES = 16
MAX_FILE_BYTES = 7 * 1024 * 1024
PROBE_MIN_COSINE = 0.995
_F16 = np.dtype("<f2")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _key(embedder: Any, text: str) -> bytes:
    return bytes.fromhex(embedder.cache_key(text))[:KEY_BYTES]


class VectorSnapshot:
    """Rows looked up by text; `open` returns None when the folder is absent or fails verification."""

    def __init__(self, rows: dict[bytes, int], vectors: np.ndarray, embedder: Any) -> None:
        self._rows = rows
        self._vectors = vectors
        self._embedder = embedder

    def __len__(self) -> int:
        return len(self._rows)

    @classmethod
    def open(cls, folder: Path, embedder: Any, verify: bool = True) -> VectorSnapshot | None:
        meta_path = folder / META
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT:
                raise ValueError(f"unknown format {meta.get('format')!r}")
            if meta["model_id"] != embedder.model_id or int(meta["dim"]) != embedder.dim:
                log.warning("vector snapshot %s was made by another encoder (%s, dim %s); embedding instead",
                            folder, str(meta["model_id"])[:12], meta["dim"])
                return None
            for name, digest in meta["sha256"].items():
                if _sha256(folder / name) != digest:
                    raise ValueError(f"{folder / name}: checksum mismatch")
            keys = (folder / KEYS).read_bytes()
            count, dim = int(meta["count"]), int(meta["dim"])
            if len(keys) != count * KEY_BYTES:
                raise ValueError(f"{folder / KEYS}: {len(keys)} bytes for {count} rows")
            parts = [np.frombuffer((folder / name).read_bytes(), dtype=_F16) for name in meta["files"]]
            flat = np.concatenate(parts) if parts else np.empty(0, dtype=_F16)
            if flat.size != count * dim:
                raise ValueError(f"{folder}: {flat.size} values for {count} x {dim}")
            vectors = flat.reshape(count, dim)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("vector snapshot %s is unusable (%s); embedding instead", folder, exc)
            return None
        rows = {keys[i * KEY_BYTES:(i + 1) * KEY_BYTES]: i for i in range(count)}
        snapshot = cls(rows, vectors, embedder)
        if verify and not snapshot._probes_match(meta.get("probes") or []):
            log.warning("vector snapshot %s does not match this encoder's output; embedding instead", folder)
            return None
        log.info("vector snapshot %s: %d vectors verified", folder, count)
        return snapshot

    def _probes_match(self, probes: list[dict[str, Any]]) -> bool:
        texts = [p["text"] for p in probes if isinstance(p, dict) and isinstance(p.get("text"), str)]
        if not texts:
            return False
        fresh = self._embedder._encode_uncached(texts)  # noqa: SLF001 - the model itself, never its cache
        for text, vec in zip(texts, fresh, strict=True):
            stored = self.get([text])[0]
            if stored is None:
                return False
            cosine = float(np.dot(stored, vec) / (np.linalg.norm(stored) * np.linalg.norm(vec) + 1e-12))
            if cosine < PROBE_MIN_COSINE:
                return False
        return True

    def get(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        """float32 rows for the texts (None where the snapshot has no row for that exact text)."""
        out: list[np.ndarray | None] = []
        for text in texts:
            row = self._rows.get(_key(self._embedder, text))
            out.append(None if row is None else self._vectors[row].astype(np.float32))
        return out


def encode(embedder: Any, texts: Sequence[str], snapshot: VectorSnapshot | None,
           progress: bool = False) -> tuple[np.ndarray, int]:
    """Vectors for `texts`: snapshot rows where present, the embedder (and its cache) for the rest.

    Returns (vectors, rows taken from the snapshot).
    """
    texts = list(texts)
    if snapshot is None or not texts:
        return embedder.encode(texts, progress=progress), 0
    found = snapshot.get(texts)
    missing = [t for t, v in zip(texts, found, strict=True) if v is None]
    out = np.empty((len(texts), embedder.dim), dtype=np.float32)
    if missing:
        fresh = iter(embedder.encode(missing, progress=progress))
    for i, vec in enumerate(found):
        out[i] = vec if vec is not None else next(fresh)
    return out, len(texts) - len(missing)


def write(folder: Path, embedder: Any, texts: Sequence[str], progress: bool = True) -> dict[str, Any]:
    """Embed the distinct texts (through the embedder's cache) and write the snapshot files."""
    unique = sorted(set(texts))
    chunks = []  # in chunks, so an interrupted run keeps what it embedded in the embedder's cache
    for start in range(0, len(unique), 1024):
        chunks.append(embedder.encode(unique[start:start + 1024], progress=False).astype(_F16))
        if progress:
            print(f"embedded {min(len(unique), start + 1024)} / {len(unique)}", file=sys.stderr, flush=True)
    vectors = np.concatenate(chunks) if chunks else np.empty((0, embedder.dim), dtype=_F16)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("vectors-*.f16"):
        old.unlink()
    keys = b"".join(_key(embedder, t) for t in unique)
    (folder / KEYS).write_bytes(keys)
    per_file = max(1, MAX_FILE_BYTES // (embedder.dim * _F16.itemsize))
    files = []
    for n, start in enumerate(range(0, len(unique), per_file)):
        name = f"vectors-{n:02d}.f16"
        (folder / name).write_bytes(np.ascontiguousarray(vectors[start:start + per_file]).tobytes())
        files.append(name)
    step = max(1, len(unique) // 3)
    meta = {
        "format": FORMAT, "model_id": embedder.model_id, "dim": embedder.dim, "count": len(unique),
        "files": files, "sha256": {name: _sha256(folder / name) for name in [KEYS, *files]},
        "probes": [{"text": unique[i]} for i in range(0, len(unique), step)][:3],
    }
    (folder / META).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    """`python -m search.snapshot write data`: embed every capability of a catalog folder into `<folder>/vectors`."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("command", choices=["write"])
    parser.add_argument("catalog", type=Path, help="catalog folder (e.g. data)")
    parser.add_argument("--cache", type=Path, default=Path("var/vectors.db"), help="vector cache to reuse")
    parser.add_argument("--documents", choices=doctext.EXPANSIONS, default=doctext.DEFAULT,
                        help="what a capability is embedded as (the `documents` setting, search/doctext.py)")
    args = parser.parse_args(argv)
    from graph.loader import load_artifacts
    from search.embedder import Embedder
    from search.vectorcache import VectorCache

    artifacts = load_artifacts([args.catalog])
    with VectorCache(args.cache) as cache:
        embedder = Embedder(cache=cache, documents=args.documents)
        texts = [t for a in artifacts for t in embedder.document_texts(a)]
        meta = write(args.catalog / FOLDER, embedder, texts)
    print(f"{meta['count']} vectors in {len(meta['files'])} files -> {args.catalog / FOLDER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
