"""Settings of the engine, read from the environment (12-factor), with documented defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass
class Config:
    """Every knob in one place. `Config.from_env()` is what the CLI and the app use."""

    data_dir: Path = Path("var")
    model: str | None = None
    layers: tuple[int, ...] = (-1,)
    pooling: str = "mean"
    encoder: str = "onnx"
    encoder_threads: int | None = None
    onnx_dir: Path | None = None
    store_url: str = ""
    match_k: int = 10
    ann_threshold: int = 50_000
    lexical_weight: float = 0.3
    multi_match_credit: float = 0.15
    learned_cap: float = 0.3
    intent_min_similarity: float = 0.5
    learned_scale: float = 0.05
    intent_neighbours: int = 10
    low_confidence: float = 0.35
    artifact_vector_weight: float = 0.0  # multi-vector: blend of the artifact's mean vector into dense
    lexical_name_boost: float = 1.0  # BM25 weight multiplier for name-like queries
    name_ranking: bool = True  # exact / typo / word name matches rank first (search.names)
    direction_ranking: bool = True  # direction and modality agreement ranks next (search.direction)
    scores_ttl_s: float = 30.0
    recompute_every: float = 0.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: object) -> Config:
        cfg = cls(
            data_dir=Path(_env("MATCHGRAPH_DATA_DIR", "var")),
            model=os.environ.get("MATCHGRAPH_MODEL") or None,
            layers=tuple(int(x) for x in _env("MATCHGRAPH_LAYERS", "-1").split(",")),
            pooling=_env("MATCHGRAPH_POOLING", "mean"),
            encoder=_env("MATCHGRAPH_ENCODER", "onnx"),
            encoder_threads=int(os.environ["MATCHGRAPH_ENCODER_THREADS"]) if os.environ.get(
                "MATCHGRAPH_ENCODER_THREADS") else None,
            onnx_dir=Path(os.environ["MATCHGRAPH_ONNX_DIR"]) if os.environ.get("MATCHGRAPH_ONNX_DIR") else None,
            store_url=os.environ.get("MATCHGRAPH_STORE") or os.environ.get("REDIS_URL", ""),
            match_k=int(_env("MATCHGRAPH_MATCH_K", "10")),
            ann_threshold=int(_env("MATCHGRAPH_ANN_THRESHOLD", "50000")),
            recompute_every=float(_env("MATCHGRAPH_RECOMPUTE_EVERY", "0")),
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, Path(value) if key == "data_dir" else value)
        return cfg
