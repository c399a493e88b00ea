"""Offers, headline prices and implausible values of one model (after entity resolution).

Why: a model's offers come from many providers and two sources; the card needs ONE price that means one
thing. The headline is the maker's list price where the maker sells the model, else the median offer; a
reseller's price far below the median offer (or a $0 gateway listing of a paid model) is kept visible but
flagged, and never becomes the headline or the pricing; the maker's own price is never flagged. A context
window over 10M tokens, or one provider's context far from the others', is flagged the same way. Rules in
docs/catalog.md.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

from convert_resolve import is_maker_offer

CONTEXT_MAX = 10_000_000
FAR = 4.0  # a price "far below": under a quarter of the median offer
FAR_OPEN = 10.0  # open weights: hosts compete on price, so only under a tenth of the median
CONTEXT_FAR = 8.0  # a context "far from the others": over 8x the other offers' median


# genai-prices provider ids -> the models.dev provider folder of the same provider.
GENAI_PROVIDERS = {"aws": "amazon-bedrock", "fireworks": "fireworks-ai", "novita": "novita-ai", "x-ai": "xai",
                   "together": "togetherai"}


def provider_id(provider: str) -> str:
    """One id per provider across both sources (`genai-prices:aws` is models.dev's `amazon-bedrock`)."""
    if provider.startswith("genai-prices:"):
        pid = provider.removeprefix("genai-prices:").lower()
        return GENAI_PROVIDERS.get(pid, pid)
    return provider.lower()


def _provider_key(offer: dict[str, Any]) -> str:
    return re.sub(r"[^a-z0-9]+", "", provider_id(offer["provider"]))


def one_per_provider(offers: list[dict[str, Any]], canonical: str) -> list[dict[str, Any]]:
    """One offer per provider (by its display name): the one whose spelling is the canonical model
    (`clean` == canonical, no region prefix), models.dev before genai-prices; gaps filled from the rest."""
    by_provider: dict[str, list[dict[str, Any]]] = {}
    for offer in offers:
        by_provider.setdefault(_provider_key(offer), []).append(offer)
    out = []
    for _key, same in sorted(by_provider.items()):
        ranked = sorted(same, key=lambda o: (o.get("clean") != canonical, o.get("region", False),
                                             o.get("source") != "models.dev", o.get("input_per_mtok") is None,
                                             len(o.get("path", "")), o.get("where", "")))
        best = dict(ranked[0])
        prices = [o.get("input_per_mtok") for o in same if o.get("input_per_mtok") is not None]
        if prices and min(prices) == 0 < max(prices):  # OpenRouter's `:free` beside its paid offer
            best = dict(next(o for o in ranked if (o.get("input_per_mtok") or 0) > 0), free_tier=True)
        for other in ranked[1:]:
            for field in ("input_per_mtok", "output_per_mtok", "context"):
                if best.get(field) is None and other.get(field) is not None:
                    best[field] = other[field]
        out.append(best)
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def flag_offers(offers: list[dict[str, Any]], maker: str, open_weights: bool = False) -> None:
    """Mark the maker's own offer (`maker`) and flag implausible offers (`flagged`, the reason)."""
    for offer in offers:
        offer["maker"] = is_maker_offer(offer["provider"], maker)
        offer["flags"] = []
    priced = [o["input_per_mtok"] for o in offers if (o.get("input_per_mtok") or 0) > 0]
    if len(priced) >= 2:
        reference, what = _median(priced), f"the median of {len(priced)} offers"
    else:
        reference, what = None, ""
    far = FAR_OPEN if open_weights else FAR
    for offer in offers:
        price = offer.get("input_per_mtok")
        if offer["maker"] or reference is None or not reference or price is None:
            continue
        if price == 0:
            offer["flags"].append(f"$0 input price while {what} is ${reference:g}")
        elif price < reference / far:
            share = "a quarter" if far == FAR else "a tenth"
            offer["flags"].append(f"input price ${price:g} is under {share} of {what} (${reference:g})")
    for offer in offers:
        context = offer.get("context")
        if not context:
            continue
        if context > CONTEXT_MAX:
            offer["flags"].append(f"context window {int(context):,} tokens is over {CONTEXT_MAX:,}")
            continue
        others = [o["context"] for o in offers if o is not offer and o.get("context")
                  and o["context"] <= CONTEXT_MAX]
        if len(others) >= 2:
            median = _median(others)
            if context > median * CONTEXT_FAR:  # a smaller window is a provider's cap, not implausible
                offer["flags"].append(f"context window {int(context):,} tokens is far from the other offers' "
                                      f"median ({int(median):,})")


def headline(offers: list[dict[str, Any]]) -> tuple[float | None, float | None, str]:
    """(input, output, basis): the maker's list price, else the median of the unflagged offers."""
    maker_offer = next((o for o in offers if o["maker"] and o.get("input_per_mtok") is not None), None)
    if maker_offer is not None:
        return maker_offer["input_per_mtok"], maker_offer.get("output_per_mtok"), "maker"
    good = [o for o in offers if not o["flags"]]  # no flagged offer is ever the headline
    inputs = [o["input_per_mtok"] for o in good if o.get("input_per_mtok") is not None]
    outputs = [o["output_per_mtok"] for o in good if o.get("output_per_mtok") is not None]
    paid_in = [p for p in inputs if p > 0] or inputs
    paid_out = [p for p in outputs if p > 0] or outputs
    rounded = [None if v is None else round(v, 6) for v in (_median(paid_in), _median(paid_out))]
    return rounded[0], rounded[1], "median" if paid_in else ""


def price_flagged(offer: dict[str, Any]) -> bool:
    """Flagged for its price (a context flag leaves its price a fair one)."""
    return any("price" in flag for flag in offer["flags"])


def context_headline(offers: list[dict[str, Any]]) -> float | None:
    """The largest context window among the offers that are not flagged for it."""
    values = [o["context"] for o in offers if o.get("context")
              and not any("context window" in f for f in o["flags"])]
    return max(values) if values else None


def pricing(offers: list[dict[str, Any]], open_weights: bool, free_tier: bool) -> str:
    """The record's pricing from its unflagged offers (flagged ones never decide it)."""
    if open_weights:
        return "open-weights"
    good = [o for o in offers if not price_flagged(o)]
    paid = [o for o in good if (o.get("input_per_mtok") or 0) > 0 or (o.get("output_per_mtok") or 0) > 0]
    zero = [o for o in good if o.get("input_per_mtok") == 0 and o.get("output_per_mtok") in (0, None)]
    free_tier = free_tier or any(o.get("free_tier") for o in offers if not price_flagged(o))
    if paid and (zero or free_tier):
        return "freemium"
    if paid:
        return "paid"
    if zero:
        return "free"
    return "unknown"


def offer_records(offers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`signals.offers`: cheapest first, the maker's offer marked, flagged ones with their reason."""
    out = []
    for o in sorted(offers, key=lambda o: ((o.get("input_per_mtok") or 0), o.get("provider_name") or o["provider"])):
        item: dict[str, Any] = {"provider": o.get("provider_name") or o["provider"]}
        for field in ("input_per_mtok", "output_per_mtok"):
            if o.get(field) is not None:
                item[field] = round(o[field], 6)  # 0.049999999999999996 in a source is $0.05
        if o.get("context"):
            item["context"] = int(o["context"])
        if o["maker"]:
            item["maker"] = True
        if o["flags"]:
            item["flagged"] = "; ".join(o["flags"])[:300]
        if o.get("free_tier"):
            item["free_tier"] = True
        out.append(item)
    return out
