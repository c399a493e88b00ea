"""Names, typos, prefixes and translation directions over the whole catalog of an engine.

    python -m bench.names            # on the bundled catalog (bench/out/catalog, ingested once)

For every artifact whose name no other artifact shares (compact form), searching its exact name must
return it first (checked with the lexical mode: no query embedding, so every artifact is affordable);
for a sample of 300 names, the full hybrid search too, a one-typo variant must put it in the top 3 and
its shortest unique prefix (5+ characters) must put it in suggest's top 3; for every single-pair
translation direction in the catalog, "translate <source> to <target>" must put a model of that
direction (or a many-to-many one) first and no reversed model above any matching one.
`tests/test_names.py` runs the same function on the bundled catalog.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil

from search import direction
from search.names import compact


def _typo(name: str, rng: random.Random) -> str:
    """One typo inside the name (a letter dropped, doubled, swapped with its neighbour or replaced)."""
    positions = [i for i, ch in enumerate(name) if ch.isalnum()][1:-1] or [0]
    i = rng.choice(positions)
    kind = rng.choice(("drop", "double", "swap", "replace"))
    if kind == "drop":
        return name[:i] + name[i + 1:]
    if kind == "double":
        return name[:i] + name[i] + name[i:]
    if kind == "swap" and i + 1 < len(name) and name[i + 1] != name[i]:
        return name[:i] + name[i + 1] + name[i] + name[i + 2:]
    return name[:i] + ("x" if name[i].lower() != "x" else "q") + name[i + 1:]


def _unique_prefix(name: str, own: str, keys: list[tuple[str, str]]) -> str:
    """The shortest prefix of `name` (5+ compact characters) that starts no other artifact's name or id, as
    typed (the name's own characters)."""
    key = compact(name)
    others = [k for k, a in keys if a != own]
    length = len(key)
    for n in range(5, len(key) + 1):
        if not any(k.startswith(key[:n]) for k in others):
            length = n
            break
    typed = ""
    for ch in name:
        if len(compact(typed)) >= length:
            break
        typed += ch
    return typed


def measure(engine, sample: int = 300, seed: int = 15) -> dict:
    """The rates above for whatever catalog `engine` holds (learning should be off: `learned_cap=0`)."""
    arts = list(engine.artifacts.values())
    owners: dict[str, set[str]] = {}
    for a in arts:
        for text in (a.name, a.id, a.id.rsplit("/", 1)[-1]):
            owners.setdefault(compact(text), set()).add(a.id)
    unique = [a for a in arts if owners[compact(a.name)] == {a.id}]
    firsts = sum(engine.search(a.name, k=1, mode="lexical", record=False).hits[0].artifact.id == a.id
                 for a in unique)
    rng = random.Random(seed)
    picked = rng.sample(unique, min(sample, len(unique)))
    hybrid = sum(engine.search(a.name, k=1, record=False).hits[0].artifact.id == a.id for a in picked)
    typo_hits = typo_total = 0
    for a in picked:
        variant = _typo(a.name, rng)
        if compact(variant) in owners or len(compact(variant)) < 4:
            continue  # the typo made another artifact's exact name (or nothing): not a typo of this one
        typo_total += 1
        typo_hits += a.id in [h.artifact.id for h in engine.search(variant, k=3, record=False).hits]
    keys = [(compact(t), a.id) for a in arts for t in (a.name, a.id, a.id.rsplit("/", 1)[-1])]
    prefix_hits = sum(a.id in [s.artifact_id for s in engine.suggest(_unique_prefix(a.name, a.id, keys), k=3)]
                      for a in picked)
    pairs = sorted({(s, t) for d in engine.directions.values() if d.task == "translation"
                    and len(d.sources) == 1 and len(d.targets) == 1
                    for s in d.sources for t in d.targets if "*" not in (s, t)})
    direction_ok, failures = 0, []
    for s, t in pairs:
        q = f"translate {direction.LANGUAGES[s][0]} to {direction.LANGUAGES[t][0]}"
        hits = engine.search(q, k=10, record=False).hits
        asked = direction.parse(q)
        dirs = [engine.directions.get(h.artifact.id) for h in hits]
        marks = [direction.agreement(asked, d)[0] if d else 0 for d in dirs]
        matching = [i for i, m in enumerate(marks) if m > 0]
        reversed_ = [i for i, d in enumerate(dirs) if d and t in d.sources and s in d.targets]
        ok = bool(matching) and matching[0] == 0 and all(r > matching[-1] for r in reversed_)
        direction_ok += ok
        if not ok:
            failures.append(q)
    return {"artifacts": len(arts), "shared_names": len(arts) - len(unique),
            "exact_first": firsts, "exact_total": len(unique), "exact_rate": round(firsts / max(1, len(unique)), 4),
            "hybrid_first": hybrid, "sample": len(picked),
            "typo_top3": typo_hits, "typo_total": typo_total, "typo_rate": round(typo_hits / max(1, typo_total), 4),
            "prefix_top3": prefix_hits, "prefix_rate": round(prefix_hits / max(1, len(picked)), 4),
            "directions_ok": direction_ok, "directions": len(pairs),
            "direction_rate": round(direction_ok / max(1, len(pairs)), 4), "direction_failures": failures}


def suggest_latency(data_dir, prefixes: list[str], repeats: int = 3) -> dict:
    """`GET /v1/suggest` through gunicorn (Procfile settings), one keep-alive client, as a search box calls
    it while the user types: p50/p95 in ms over every prefix, medians of `repeats` passes."""
    import http.client
    import statistics
    import time
    from urllib.parse import urlencode

    from bench.perf import percentile, scratch
    from bench.servers import Gunicorn
    from bench.vectors import link_copy

    run = scratch("mg-suggest-")
    server = Gunicorn(link_copy(data_dir, run / "var"))
    p50s, p95s = [], []
    try:
        server.wait_ready()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        for _ in range(repeats):
            times = []
            for p in prefixes:
                start = time.perf_counter()
                conn.request("GET", "/v1/suggest?" + urlencode({"q": p, "k": 8}))
                resp = conn.getresponse()
                resp.read()
                times.append(1000 * (time.perf_counter() - start))
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status} for {p!r}")
            p50s.append(percentile(times, 50))
            p95s.append(percentile(times, 95))
        conn.close()
    finally:
        server.stop()
        shutil.rmtree(run, ignore_errors=True)
    return {"prefixes": len(prefixes), "p50 ms": round(statistics.median(p50s), 2),
            "p95 ms": round(statistics.median(p95s), 2)}


def main(argv: list[str] | None = None) -> int:
    from bench.common import bundled_engine, machine

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--http", action="store_true", help="also time GET /v1/suggest through gunicorn")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    engine = bundled_engine(learned_cap=0.0)
    try:
        report = measure(engine, args.sample)
        if args.http:
            rng = random.Random(3)
            names = [a.name for a in rng.sample(list(engine.artifacts.values()), min(100, len(engine.artifacts)))]
            prefixes = [n[:i] for n in names for i in (2, 4, 6, 9)]  # as typed, keystroke by keystroke
            report["suggest_http"] = suggest_latency(engine.data_dir, prefixes)
    finally:
        engine.close()
    report |= {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()}
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
