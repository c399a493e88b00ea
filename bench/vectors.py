"""Synthetic data dirs at 10k, 100k and 1M capabilities whose vectors look like real embeddings.

    python -m bench.vectors --sizes 10000 100000        # build (or reuse) and print how real they look
    python -m bench.vectors --sizes 1000000 --rebuild

Nothing is embedded: the vectors of the bundled catalog's 2,856 real capabilities (read from its saved
index) are the seeds. Each synthetic artifact copies a real artifact (type, pricing, tags, signals) and
gets 5 capabilities whose texts are derived from real capability texts and whose vectors are

    x = normalise(v + 0.3 * (r - mean) + g)

with v a real capability vector (or, one time in four, a mixture a*v + (1-a)*w of two capabilities of
the same or a neighbouring artifact, a ~ U(0.5, 0.9)), r another real capability vector (its residual
from the catalog mean carries real, anisotropic structure) and g a small Gaussian (norm ~0.1). So the
synthetic catalog keeps the clusters, the anisotropy and the near-duplicate families of the real one;
`realism()` compares the three (real, synthetic, isotropic Gaussian) on the statistics that matter to
an index: mean cosine, nearest-neighbour cosine and effective dimensionality.

The data dir is written by the engine itself (`Engine.apply`, one generation with catalog, graph and
index: IVF above `MATCHGRAPH_ANN_THRESHOLD`), with an `Embedder` subclass whose `encode` looks the
synthetic texts up instead of running the model, so `gunicorn`/`serve` load it like any data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import WORK, bundled_engine

VERSION = 4  # bump when the generator or the index it builds changes: cached data dirs of another version are rebuilt
# (4: nprobe tuned on query-like catalog texts to recall 0.99, issue 32)
STAMP = "bench-synth.json"
CAPS_PER_ARTIFACT = 5
RESIDUAL_SCALE = 0.3
GAUSS_NORM = 0.1
MIX_SHARE = 0.25
QUALIFIERS = (
    "distilled", "quantized int8", "multilingual", "long context", "domain-adapted", "instruction-tuned",
    "low latency", "on-device", "fine-tuned on in-house data", "larger variant", "smaller variant", "ONNX export",
)


@dataclass
class RealCatalog:
    """The bundled catalog's artifacts and the saved vectors of their capabilities."""

    artifacts: list  # graph.catalog.Artifact
    cap_ids: list[str]
    texts: list[str]
    vectors: np.ndarray  # (n, dim) float32, unit rows, aligned with cap_ids
    row: dict[str, int]  # capability id -> row


def real_catalog(engine=None) -> RealCatalog:
    engine = engine or bundled_engine()
    artifacts = [engine.artifacts[a] for a in sorted(engine.artifacts)]
    cap_ids = [c.id for a in artifacts for c in a.capabilities]
    vectors = np.stack([engine.index.reconstruct(c) for c in cap_ids]).astype(np.float32)
    texts = [engine.capabilities[c].text for c in cap_ids]
    return RealCatalog(artifacts, cap_ids, texts, vectors, {c: i for i, c in enumerate(cap_ids)})


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:limit].strip("-._") or "x"


def synthesize(real: RealCatalog, n_capabilities: int, seed: int = 0) -> tuple[list, list[str], np.ndarray]:
    """(synthetic artifacts, their capability texts, vectors aligned with the texts) so that the real
    catalog plus these hold `n_capabilities` capabilities (the last artifact may hold fewer than 5)."""
    from graph.catalog import Artifact

    rng = np.random.default_rng(seed)
    n_real = len(real.cap_ids)
    want = max(0, n_capabilities - n_real)
    dim = real.vectors.shape[1]
    mean = real.vectors.mean(axis=0)
    residuals = real.vectors - mean
    # neighbouring artifacts (by mean capability vector) lend capabilities to artifacts with fewer than 5
    rows_of = [[real.row[c.id] for c in a.capabilities] for a in real.artifacts]
    centroids = _unit(np.stack([real.vectors[r].mean(axis=0) for r in rows_of]))
    neighbours = np.argsort(-(centroids @ centroids.T), axis=1)[:, 1:11]

    n_art = -(-want // CAPS_PER_ARTIFACT)
    bases = rng.integers(len(real.artifacts), size=n_art)
    artifacts, texts, vec_parts = [], [], []
    for serial, b in enumerate(bases.tolist()):
        base = real.artifacts[b]
        slots = min(CAPS_PER_ARTIFACT, want - serial * CAPS_PER_ARTIFACT)
        own = rows_of[b]
        sources = [own[i % len(own)] if i < len(own) else
                   int(rng.choice(rows_of[int(rng.choice(neighbours[b]))])) for i in range(slots)]
        v = real.vectors[sources]
        mix = rng.random(slots) < MIX_SHARE
        if mix.any():
            partners = [int(rng.choice(own + rows_of[int(rng.choice(neighbours[b]))])) for _ in range(int(mix.sum()))]
            a = rng.uniform(0.5, 0.9, size=(int(mix.sum()), 1)).astype(np.float32)
            v[mix] = a * v[mix] + (1 - a) * real.vectors[partners]
        g = rng.standard_normal((slots, dim)).astype(np.float32) * (GAUSS_NORM / np.sqrt(dim))
        x = _unit(v + RESIDUAL_SCALE * residuals[rng.integers(n_real, size=slots)] + g)
        qualifier = QUALIFIERS[serial % len(QUALIFIERS)]
        aid = f"synth/{serial:07d}-{_slug(base.id)}"
        caps = []
        for i, src in enumerate(sources):
            text = real.texts[src]
            title, _, rest = text.partition(". ")
            caps.append({"title": f"{title[:150]} ({qualifier})",
                         "description": f"{rest or title} Variant {serial}.{i} of {base.name[:80]}."})
        record = {"id": aid, "name": f"{base.name[:80]} {qualifier} #{serial}", "type": base.type,
                  "pricing": base.pricing, "description": base.description, "url": base.url,
                  "tags": list(base.tags), "signals": dict(base.signals), "updated_at": base.updated_at,
                  "capabilities": caps}
        art = Artifact.from_record(record, validate=False)
        artifacts.append(art)
        texts += [c.text for c in art.capabilities]
        vec_parts.append(x[:len(art.capabilities)])
    vectors = np.concatenate(vec_parts) if vec_parts else np.empty((0, dim), np.float32)
    return artifacts, texts, vectors


def lookup_embedder(table: dict[str, int], vectors: np.ndarray):
    """The real `Embedder` (same model id in the manifest) whose `encode` looks known texts up."""
    from search.embedder import Embedder

    class LookupEmbedder(Embedder):
        def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
            texts = list(texts)
            out = np.empty((len(texts), self.dim), np.float32)
            unknown = [i for i, t in enumerate(texts) if t not in table]
            known = [i for i, t in enumerate(texts) if t in table]
            if known:
                out[known] = vectors[[table[texts[i]] for i in known]]
            if unknown:
                out[unknown] = super().encode([texts[i] for i in unknown], progress=progress)
            return out

    return LookupEmbedder()


def build(n_capabilities: int, dest: Path, seed: int = 0, real: RealCatalog | None = None) -> dict:
    """Write a data dir with the real catalog plus synthetic artifacts: `n_capabilities` in all."""
    from graph.settings import Settings
    from search.engine import Engine

    started = time.perf_counter()
    real = real or real_catalog()
    artifacts, texts, vectors = synthesize(real, n_capabilities, seed)
    table = {t: i for i, t in enumerate(real.texts)}
    table.update({t: len(real.texts) + i for i, t in enumerate(texts)})
    all_vectors = np.concatenate([real.vectors, vectors])
    generated = time.perf_counter() - started
    shutil.rmtree(dest, ignore_errors=True)
    embedder = lookup_embedder(table, all_vectors)
    engine = Engine(Settings.load(data_dir=dest, store_url=""), embedder=embedder)
    try:
        t = time.perf_counter()
        report = engine.apply(upserts=real.artifacts + artifacts)
        info = {"version": VERSION, "seed": seed, "capabilities": len(engine.capabilities),
                "artifacts": len(engine.artifacts), "synthetic_artifacts": len(artifacts),
                "embedded_by_model": engine.embedder.encoded_texts, "index": engine.index.kind,
                "nlist": engine.index.nlist, "nprobe": engine.index.nprobe, "generation": report.generation,
                "generate_s": round(generated, 1), "apply_s": round(time.perf_counter() - t, 1),
                "built_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    finally:
        engine.close()
    (dest / STAMP).write_text(json.dumps(info, indent=1))
    return info


def ensure(n_capabilities: int, seed: int = 0, rebuild: bool = False, root: Path | None = None,
           real: RealCatalog | None = None) -> tuple[Path, dict]:
    """The cached synthetic data dir for this size (built when missing, stale or `rebuild`)."""
    dest = (root or WORK) / f"synth-{n_capabilities}"
    stamp = dest / STAMP
    if not rebuild and stamp.exists():
        info = json.loads(stamp.read_text())
        if info.get("version") == VERSION and info.get("seed") == seed and info.get("capabilities") == n_capabilities:
            return dest, {**info, "reused": True}
    return dest, {**build(n_capabilities, dest, seed, real), "reused": False}


def link_copy(source: Path, dest: Path) -> Path:
    """A run copy of a data dir: the committed generation hard-linked (never modified in place: the engine
    replaces files by rename), no match store, spool or vector cache, so every run starts from zero."""
    current = (source / "CURRENT").read_text().strip()
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / current, dest / current, copy_function=os.link)
    shutil.copy2(source / "CURRENT", dest / "CURRENT")
    return dest


def stored_vectors(data_dir: Path) -> np.ndarray:
    """All vectors of a data dir's committed index (for realism and recall checks)."""
    from search.index import VectorIndex

    idx = VectorIndex.load(data_dir / (data_dir / "CURRENT").read_text().strip())
    return idx._stored()[1]


def _stats(x: np.ndarray, rng: np.random.Generator, sample: int = 2000) -> dict:
    import faiss

    pick = rng.choice(len(x), size=min(sample, len(x)), replace=False)
    q = x[pick]
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    sims, _ = index.search(q, 2)
    nn = sims[:, 1]  # [:, 0] is the vector itself
    pair = q @ q.T
    off = pair[~np.eye(len(q), dtype=bool)]
    eig = np.clip(np.linalg.eigvalsh(np.cov(q.T)), 0, None)
    return {"vectors": len(x), "mean cosine": round(float(off.mean()), 3),
            "norm of mean": round(float(np.linalg.norm(x.mean(axis=0))), 3),
            "NN cosine p10/p50/p90": "/".join(f"{v:.2f}" for v in np.percentile(nn, [10, 50, 90])),
            "effective dims": round(float(eig.sum() ** 2 / (eig ** 2).sum()), 1)}


def realism(real: RealCatalog, synthetic: np.ndarray, seed: int = 0) -> list[dict]:
    """Real vs synthetic vs isotropic Gaussian on the statistics an ANN index cares about."""
    rng = np.random.default_rng(seed)
    gauss = _unit(rng.standard_normal((min(len(synthetic), 200_000), real.vectors.shape[1])).astype(np.float32))
    return [{"set": "real catalog", **_stats(real.vectors, rng)},
            {"set": f"synthetic {len(synthetic):,}", **_stats(synthetic, rng)},
            {"set": f"isotropic Gaussian {len(gauss):,} (not used)", **_stats(gauss, rng)}]


def main(argv: list[str] | None = None) -> int:
    from bench.common import table

    parser = argparse.ArgumentParser(prog="python -m bench.vectors", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    real = real_catalog()
    for n in args.sizes:
        path, info = ensure(n, args.seed, args.rebuild, real=real)
        print(f"{path}: {json.dumps(info)}")
        print(table(realism(real, stored_vectors(path)), ["set", "vectors", "mean cosine", "norm of mean",
                                                           "NN cosine p10/p50/p90", "effective dims"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
