"""The reference encoder: a transformers model with its hidden states exposed, pooled the configured way.

It defines what a vector is (the ONNX encoder is exported from it and checked against it), embeds with
`torch`, and is the fallback wherever ONNX Runtime is unavailable.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch


def pool(hidden_states: Sequence[torch.Tensor], attention_mask: torch.Tensor, layers: tuple[int, ...],
         pooling: str, normalize: bool) -> torch.Tensor:
    """Average the chosen hidden layers, pool over real tokens (mean, cls or max), optionally L2-normalise."""
    if len(layers) == 1:
        h = hidden_states[layers[0]]
    else:
        h = torch.stack([hidden_states[i] for i in layers]).mean(dim=0)
    mask = attention_mask.unsqueeze(-1).to(h.dtype)
    if pooling == "mean":
        pooled = (h * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    elif pooling == "cls":
        first = attention_mask.argmax(dim=1)  # first real token, also right for left-padding tokenizers
        pooled = h[torch.arange(h.shape[0]), first]
    else:
        pooled = h.masked_fill(mask == 0, -1e9).max(dim=1).values
    if normalize:
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
    return pooled.float()


class _Pooled(torch.nn.Module):
    """Model + pooling as one module, so the exported graph returns finished vectors."""

    def __init__(self, model: torch.nn.Module, names: list[str], layers: tuple[int, ...], pooling: str,
                 normalize: bool) -> None:
        super().__init__()
        self.model, self.names, self.layers, self.pooling, self.normalize = model, names, layers, pooling, normalize

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        kwargs = dict(zip(self.names, inputs, strict=True))
        states = self.model(**kwargs, output_hidden_states=True).hidden_states
        return pool(states, kwargs["attention_mask"], self.layers, self.pooling, self.normalize)


class TorchEncoder:
    """HF tokenizer and model on the CPU; `encode_batch` is one forward pass padded to its longest text."""

    def __init__(self, model_path: str, *, layers: tuple[int, ...], pooling: str, normalize: bool,
                 max_length: int) -> None:
        from transformers import AutoModel, AutoTokenizer  # local_files_only: nothing is downloaded

        self.tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        self.model = AutoModel.from_pretrained(model_path, local_files_only=True, dtype=torch.float32)
        self.model.eval()
        self.layers, self.pooling, self.normalize, self.max_length = layers, pooling, normalize, max_length

    def token_lengths(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(
            texts, truncation=True, max_length=self.max_length, return_attention_mask=False,
            return_token_type_ids=False)["input_ids"]]

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        with torch.inference_mode():
            result = self.model(**batch, output_hidden_states=True)
            return pool(result.hidden_states, batch["attention_mask"], self.layers, self.pooling,
                        self.normalize).numpy()

    def export_onnx(self, path: Path) -> list[str]:
        """Write model + pooling as an ONNX graph with dynamic batch and sequence axes; returns input names."""
        sample = self.tokenizer(["an example sentence", "a second, longer example sentence"], padding=True,
                                return_tensors="pt")
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
        wrapper = _Pooled(self.model, names, self.layers, self.pooling, self.normalize).eval()
        axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"embedding": {0: "batch"}}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter; the result is checked after
            torch.onnx.export(wrapper, tuple(sample[n] for n in names), str(path), input_names=names,
                              output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)
        return names
