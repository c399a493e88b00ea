"""The facts rows and the verdict of a comparison of 2-4 artifacts: what a person chooses by.

Why a module: the compare API and page must decide the same way, and the rules are the product's promise
(docs/compare.md): a need has a winner only where the facts differ by a clear margin (price or context by
at least 10%, an adoption percentile by at least 10 points, a shared benchmark by more than 2 points); an
overall leader only where the UnfragileRank intervals do not overlap. A value nobody reports is None and
reads "no data", never 0.
"""

from __future__ import annotations

from typing import Any

NO_DATA = "no data"
RELATIVE = 0.10  # price and context: a clear margin is 10%
PERCENTILE_POINTS = 10  # adoption percentile: 10 points
BENCH_POINTS = 2.0  # a shared benchmark score (0..100): more than 2 points (no published error is carried)
MAX_BENCH_ROWS = 8


def _money(value: float | None) -> str:
    if value is None:
        return NO_DATA
    return "free" if value == 0 else f"${value:,.2f}" if value >= 0.01 else f"${value:.2g}"


def _tokens(value: int | None) -> str:
    if value is None:
        return NO_DATA
    return f"{value / 1_000_000:g}M tokens" if value >= 1_000_000 else \
        f"{value / 1000:g}K tokens" if value >= 1000 else f"{value} tokens"


def _listed(value: list | None) -> str:
    return ", ".join(value) if value else NO_DATA


def _yes_no(value: bool | None) -> str:
    return NO_DATA if value is None else ("yes" if value else "no")


def _text(value: str | None) -> str:
    return value if value else NO_DATA


def _cell(artifact_id: str, value: Any, display: str) -> dict:
    return {"artifact_id": artifact_id, "value": value, "display": display}


# (key, label, fact key, formatter, better: "lower" | "higher" | None, unit)
FACT_ROWS = (
    ("input_price", "Input price ($ per million tokens)", "input_usd_per_mtok", _money, "lower"),
    ("output_price", "Output price ($ per million tokens)", "output_usd_per_mtok", _money, "lower"),
    ("context", "Context window", "context_tokens", _tokens, "higher"),
    ("max_output", "Longest output", "max_output_tokens", _tokens, "higher"),
    ("modalities_in", "Input modalities", "modalities_in", _listed, None),
    ("modalities_out", "Output modalities", "modalities_out", _listed, None),
    ("license", "Licence", "license", _text, None),
    ("open_weights", "Open weights", "open_weights", _yes_no, None),
    ("released", "Released", "released", _text, None),
)


def _adoption(scores: dict) -> tuple[float | None, str, str]:
    """(percentile 0-100 or None, display, the measure it is built from)."""
    explained = scores["explanation"]["adoption"]
    measures = [r for r in explained["reasons"] if "percentile" in r]
    if explained["value"] is None:
        return None, NO_DATA, "; ".join(explained["reasons"][:1])
    pct = round(100 * explained["value"])
    return pct, f"percentile {pct}", "; ".join(measures)


def _benchmarks(signals: dict) -> dict[tuple[str, str], dict]:
    """One result per (benchmark, metric): a measured one before a claim, then the newest."""
    out: dict[tuple[str, str], dict] = {}
    for item in signals.get("benchmarks") or ():
        if not isinstance(item, dict) or not isinstance(item.get("score"), (int, float)) or not item.get("name"):
            continue
        key = (str(item["name"]).lower(), str(item.get("metric") or "").lower())
        rank = (bool(item.get("measured")), str(item.get("date") or ""))
        old = out.get(key)
        if old is None or rank > (bool(old.get("measured")), str(old.get("date") or "")):
            out[key] = item
    return out


def rows(ids: list[str], artifacts: dict, facts: dict[str, dict], scores: dict[str, dict],
         times_matched: dict[str, int]) -> tuple[list[dict], int]:
    """Every compare row (numbers with their display strings), and how many benchmarks all of them share."""
    out = [{"key": "type", "feature": "Type", "better": None,
            "values": [_cell(x, artifacts[x].type, artifacts[x].type.capitalize()) for x in ids]},
           {"key": "pricing", "feature": "Pricing", "better": None,
            "values": [_cell(x, artifacts[x].pricing, artifacts[x].pricing.capitalize()) for x in ids]}]
    for key, label, fact, fmt, better in FACT_ROWS:
        out.append({"key": key, "feature": label, "better": better,
                    "values": [_cell(x, facts[x][fact], fmt(facts[x][fact])) for x in ids]})
    adoption = {x: _adoption(scores[x]) for x in ids}
    out.append({"key": "adoption", "feature": "Adoption (percentile among its type)", "better": "higher",
                "values": [{**_cell(x, adoption[x][0], adoption[x][1]), "measure": adoption[x][2]} for x in ids]})
    out.append({"key": "unfragile_rank", "feature": "UnfragileRank", "better": "higher",
                "values": [{**_cell(x, scores[x]["unfragile_rank"], f"{scores[x]['unfragile_rank']}/100"),
                            "interval": scores[x]["unfragile_rank_interval"]} for x in ids]})
    bench = {x: _benchmarks(artifacts[x].signals) for x in ids}
    shared = sorted(set.intersection(*(set(bench[x]) for x in ids)))
    for name, metric in shared[:MAX_BENCH_ROWS]:
        first = bench[ids[0]][(name, metric)]
        label = f"{first['name']}" + (f" ({first['metric']})" if first.get("metric") else "")
        out.append({"key": f"benchmark:{name}:{metric}", "feature": label, "better": "higher",
                    "values": [{**_cell(x, bench[x][(name, metric)]["score"],
                                        f"{bench[x][(name, metric)]['score']:g}"),
                                "source": bench[x][(name, metric)].get("source", ""),
                                "date": bench[x][(name, metric)].get("date"),
                                "measured": bench[x][(name, metric)].get("measured")} for x in ids]})
    out.append({"key": "capabilities", "feature": "Capabilities", "better": None,
                "values": [_cell(x, len(artifacts[x].capabilities), f"{len(artifacts[x].capabilities)} decomposed")
                           for x in ids]})
    out.append({"key": "times_matched", "feature": "Times Matched", "better": None,
                "values": [_cell(x, times_matched.get(x, 0), str(times_matched.get(x, 0))) for x in ids]})
    return out, len(shared)


def _clear(row: dict) -> tuple[str, str, str] | None:
    """(winner, runner-up, how much) when the best value beats every other by the row's clear margin."""
    known = [v for v in row["values"] if v["value"] is not None]
    if len(known) < 2:
        return None
    key, higher = row["key"], row["better"] == "higher"
    ordered = sorted(known, key=lambda v: v["value"], reverse=higher)
    best, second = ordered[0], ordered[1]
    b, s = best["value"], second["value"]
    if key in ("input_price", "output_price"):
        if s <= 0 or (s - b) / s < RELATIVE:
            return None
        return best["artifact_id"], second["artifact_id"], "free" if b == 0 else f"{round(100 * (s - b) / s)}%"
    if key in ("context", "max_output"):
        if s <= 0 or (b - s) / s < RELATIVE:
            return None
        return best["artifact_id"], second["artifact_id"], f"{round(100 * (b - s) / s)}%"
    if key == "adoption":
        return (best["artifact_id"], second["artifact_id"], f"{b - s} points") if b - s >= PERCENTILE_POINTS \
            else None
    if key.startswith("benchmark:"):
        return (best["artifact_id"], second["artifact_id"], f"{b - s:.1f} points") if b - s > BENCH_POINTS \
            else None
    return None


NEEDS = {"input_price": ("input price", "{w} is {m} cheaper on input", "{w} is free on input"),
         "output_price": ("output price", "{w} is {m} cheaper on output", "{w} is free on output"),
         "context": ("context", "{w} has {m} more context", ""),
         "max_output": ("output length", "{w} can write {m} longer outputs", ""),
         "adoption": ("adoption", "{w} is more adopted by {m} (percentile)", "")}


def _benchmark_phrases(ids: list[str], names: dict[str, str], needs: list[dict]) -> list[str]:
    """"X scores higher on 3 of the 8 shared benchmarks compared (ARC-AGI, MMLU, ...)": one phrase per winner."""
    bench = [n for n in needs if n["key"].startswith("benchmark:")]
    out = []
    for x in ids:
        won = [n["need"] for n in bench if n["winner"] == x]
        if won:
            listed = ", ".join(won[:3]) + (", ..." if len(won) > 3 else "")
            out.append(f"{names[x]} scores over {BENCH_POINTS:g} points higher on {len(won)} of the {len(bench)} "
                       f"shared benchmarks compared ({listed})")
    return out


def verdict(ids: list[str], names: dict[str, str], table: list[dict], shared: int) -> dict:
    """Per-need winners, the overall leader (only when UnfragileRank intervals do not overlap) and the
    sentence that says both."""
    needs, phrases = [], []
    several = len(ids) > 2
    for row in table:
        key = row["key"]
        if key not in NEEDS and not key.startswith("benchmark:"):
            continue
        missing = [names[v["artifact_id"]] for v in row["values"] if v["value"] is None]
        won = _clear(row)
        label = NEEDS[key][0] if key in NEEDS else row["feature"]
        if won is None:
            known = len(row["values"]) - len(missing)
            state = "no data" if known == 0 else "not comparable" if known < 2 else "no clear difference"
            needs.append({"need": label, "key": key, "winner": None, "state": state, "sentence": ""})
            continue
        winner, runner, margin = won
        if key in NEEDS:
            text = (NEEDS[key][2] if margin == "free" else NEEDS[key][1]).format(w=names[winner], m=margin)
        else:
            text = f"{names[winner]} scores {margin} higher on {row['feature']}"
        if several:
            text += f" than {names[runner]}, the next best"
        needs.append({"need": label, "key": key, "winner": winner, "state": "clear", "sentence": text})
        if key in NEEDS:
            phrases.append(text)
    phrases += _benchmark_phrases(ids, names, needs)
    rank = next(r for r in table if r["key"] == "unfragile_rank")["values"]
    top = max(rank, key=lambda v: v["value"])
    overall = top["artifact_id"] if all(top["interval"][0] > v["interval"][1] for v in rank if v is not top) \
        else None
    if overall:
        first = (f"{names[overall]} leads overall: its UnfragileRank ({top['interval'][0]}–{top['interval'][1]}) "
                 f"does not overlap the others'.")
    else:
        first = "No overall leader (the UnfragileRank intervals overlap): it depends on your need."
    if not shared:
        phrases.append("no shared benchmark")
    if not any(n["winner"] for n in needs):
        phrases.insert(0, "no need differs by a clear margin")
    body = "; ".join(phrases)
    sentence = f"{first} {body[0].upper()}{body[1:]}."
    return {"overall": overall, "needs": needs, "verdict": sentence}
