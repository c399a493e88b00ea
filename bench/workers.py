"""Memory of extra gunicorn workers on one host, with the IVF index copied into each worker (before) and
memory-mapped from the generation file so the workers share it (after), side by side in one run.

    python -m bench.workers --capabilities 100000 --workers 3
    python -m bench.workers --fp16      # also: the fp16 scan copy built in each worker vs saved and mapped

For each arm: gunicorn (3 gthread workers) over a hard-linked copy of the synthetic data dir
(bench/vectors.py, IVF above 50k capabilities), every worker warmed with distinct searches, then per
worker from /proc/<pid>/smaps_rollup: RSS (counts shared pages in every process that maps them), PSS
(shared pages divided among the processes sharing them) and private memory (what the worker alone
holds: what one more worker costs the host). The host's total is the sum of PSS. The first two arms run
without the fp16 scan copy (MATCHGRAPH_INDEX_FP16=0); `--fp16` adds two arms with it, memory-mapped lists:
the copy built in each worker (a generation written before it) and saved with the generation and mapped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
from pathlib import Path

from bench.common import machine, table
from bench.servers import Gunicorn, call, children
from bench.vectors import ensure, link_copy


def smaps(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        out[key.strip()] = int(value.split()[0]) * 1024
    return out


def arm(data_dir: Path, mmap: bool, workers: int, searches: int, fp16: str = "") -> list[dict]:
    """`fp16`: "" (off), "built" (on, the generation has no saved copy), "saved" (on, saved with it)."""
    from search.index import VectorIndex

    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    try:
        run_dir = link_copy(data_dir, work / "data")
        if fp16 == "saved":  # files are replaced by rename: the hard-linked source generation is not touched
            generation = run_dir / (run_dir / "CURRENT").read_text().strip()
            VectorIndex.load(generation, half_scan=True).save(generation)
        server = Gunicorn(run_dir, workers=workers, settings={"index_mmap": mmap, "index_fp16": bool(fp16)})
        try:
            server.wait_ready()
            for j in range(searches):  # fresh connections: spread over the workers
                status, _ = call(server.port, "GET", f"/v1/search?q=find+a+model+number+{j}&record=false")
                assert status == 200
            rows = []
            for i, pid in enumerate(children(server.proc.pid), 1):
                m = smaps(pid)
                private = m.get("Private_Clean", 0) + m.get("Private_Dirty", 0)
                label = "memory-mapped (after)" if mmap else "copied per worker (before)"
                if fp16:
                    how = "built in each worker" if fp16 == "built" else "saved and mapped"
                    label = f"memory-mapped, fp16 scan copy {how}"
                rows.append({"index": label,
                             "worker": i, "RSS MB": round(m["Rss"] / 2**20),
                             "PSS MB": round(m["Pss"] / 2**20), "private MB": round(private / 2**20)})
            return rows
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capabilities", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--searches", type=int, default=60, help="warm-up searches spread over the workers")
    parser.add_argument("--fp16", action="store_true", help="also the fp16 scan copy, built per worker vs mapped")
    args = parser.parse_args(argv)
    data_dir, _ = ensure(args.capabilities)
    print(f"## Worker memory at {args.capabilities:,} capabilities, {args.workers} workers "
          f"({machine()}, {dt.date.today().isoformat()})\n")
    rows = arm(data_dir, False, args.workers, args.searches) + arm(data_dir, True, args.workers, args.searches)
    if args.fp16:
        rows += arm(data_dir, True, args.workers, args.searches, "built")
        rows += arm(data_dir, True, args.workers, args.searches, "saved")
    print(table(rows, ["index", "worker", "RSS MB", "PSS MB", "private MB"]))
    for label in dict.fromkeys(r["index"] for r in rows):
        mine = [r for r in rows if r["index"] == label]
        print(f"\n{label}: host total (sum of PSS) {sum(r['PSS MB'] for r in mine)} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
