"""First start on a fresh clone: `python -m api serve` until `/readyz` answers 200.

    python -m bench.first_start [--repeats N] [--no-snapshot]

Clones the repository's committed HEAD into a temporary folder (nothing of this working tree's var/ or
caches comes along), runs the README's run command there (`python -m api serve`, with this interpreter:
the package install is not timed) with an empty cache dir (so the ONNX export is part of the time),
and measures the seconds until `/readyz` is 200, with the CPU time the server used (on a loaded machine
the wall time mostly measures the other jobs) and the load average at start. `--no-snapshot` deletes the
clone's `data/vectors/` first: the time a start takes when it has to embed every capability.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import ROOT, machine
from bench.servers import ApiServe


def first_start(snapshot: bool = True, timeout: float = 1800.0) -> dict:
    work = Path(tempfile.mkdtemp(prefix="mg-first-start-"))
    try:
        clone = work / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        if not snapshot:
            shutil.rmtree(clone / "data" / "vectors", ignore_errors=True)
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_before = os.getloadavg()[0]
        # no product setting of ours comes along: the clone starts as a newcomer's does
        server = ApiServe(work / "serve.log", cwd=clone, clean=True, extra_env={
            "XDG_CACHE_HOME": str(work / "cache"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        try:
            ready = server.wait_ready(timeout)
        except (RuntimeError, TimeoutError):
            ready = None
        finally:
            server.stop()
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        lines = (work / "serve.log").read_text(errors="replace").splitlines()
        notes = [line for line in lines if "snapshot" in line or "ingested" in line][:4]
        return {"snapshot": snapshot, "ready s": round(ready, 1) if ready else None, "log": notes,
                "cpu s": round(cpu, 1), "load": round(load_before, 1)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-snapshot", action="store_true", help="also measure a start without data/vectors/")
    args = parser.parse_args()
    print(f"First start on a fresh clone ({dt.date.today().isoformat()}, {machine()})\n")
    runs = [first_start(True) for _ in range(args.repeats)]
    if args.no_snapshot:
        runs.append(first_start(False))
    for r in runs:
        print(f"- {'with' if r['snapshot'] else 'without'} the vector snapshot: /readyz 200 after {r['ready s']} s "
              f"(server CPU time until stopped: {r['cpu s']} s; 1-min load average at start: {r['load']})")
        for line in r["log"]:
            print(f"    {line}")


if __name__ == "__main__":
    main()
