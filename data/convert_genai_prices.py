#!/usr/bin/env python3
"""genai-prices (MIT): per-provider model prices and descriptions, read as offers of models.

It makes no artifacts on its own: `convert_all` joins each offer to the models.dev model with the same
key (`convert_models_dev.model_key` of the genai-prices model id), adds it to that model's offers and
gives the model its description; an offer whose model models.dev does not list becomes a model artifact
of its own. Prices are the base (first tier, first period) input/output USD per million tokens.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_common import Report, clean  # noqa: E402
from convert_models_dev import model_key  # noqa: E402

NAME = "genai-prices"


def _price(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("base")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or not 0 <= value < 1e6:
        return None
    return float(value)


def _prices(raw: Any) -> dict[str, Any]:
    if isinstance(raw, list):  # periods with constraints: the first is the one in force first
        raw = next((p.get("prices") for p in raw if isinstance(p, dict) and isinstance(p.get("prices"), dict)), {})
    return raw if isinstance(raw, dict) else {}


def convert(src: Path, report: Report) -> list[dict[str, Any]]:
    path = src / "data.json"
    providers = report.read_json(path)
    if providers is None:
        return []
    offers = []
    for p_index, provider in enumerate(providers if isinstance(providers, list) else []):
        if not isinstance(provider, dict) or not isinstance(provider.get("models"), list):
            report.skip(f"{path.name}[{p_index}]", "provider without a models list")
            continue
        urls = [u for u in provider.get("pricing_urls") or [] if isinstance(u, str) and u.startswith("http")]
        for m_index, model in enumerate(provider["models"]):
            report.rows += 1
            where = f"{path.name} {provider.get('id')}/models[{m_index}]"
            if not isinstance(model, dict) or not isinstance(model.get("id"), str) or not model["id"].strip():
                report.skip(where, "model without an id")
                continue
            prices = _prices(model.get("prices"))
            key = model_key(model["id"])
            if not key:
                report.skip(where, "no model name")
                continue
            offers.append({
                "key": key, "id": model["id"].strip(), "name": clean(model.get("name")) or model["id"].strip(),
                "description": clean(model.get("description")),
                "provider": f"genai-prices:{provider.get('id')}", "provider_name": clean(provider.get("name")),
                "input_per_mtok": _price(prices.get("input_mtok")),
                "output_per_mtok": _price(prices.get("output_mtok")),
                "context": model.get("context_window") if isinstance(model.get("context_window"), int) else None,
                "pricing_url": urls[0] if urls else "", "price_comments": clean(model.get("price_comments")),
                "deprecated": bool(model.get("deprecated")), "where": where,
            })
    return offers
