"""Recording a search with WAL checkpoints in a thread of their own vs inside the commit, side by side.

    python -m bench.profile --checkpoint-ab [--searches 2000]

Two match stores in one process, one as served (graph/infra/walcheckpoint.py: passive checkpoints every
0.25 s from a thread, a commit checkpoints by itself only past 20,000 pages) and one as before (SQLite's
default: the commit that takes the log past 1,000 pages copies it back and fsyncs). The same synthetic
searches (10 served artifacts of a 10,000-artifact pool, 1-2 capabilities each, a new intent and user each:
every search is evidence, ~45 pages written) go to both, event by event, alternating which goes first, with
2 ms of idle between records as a request's other work. One table: `record_search` time per store.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import machine, table


def run(args, log) -> str:
    from bench.perf import load_average, percentile
    from graph.events import SearchEvent, Served
    from graph.infra.sqlitedb import SQLiteFile
    from graph.store import sqlite

    class InCommit(sqlite.SQLiteStore):
        """The store as before: SQLite's own checkpoints, inside the commit that crosses 1,000 pages."""

        def __init__(self, path: Path) -> None:
            self.path = Path(path)
            self.db = SQLiteFile(self.path, sqlite._SCHEMA, synchronous="NORMAL")
            with self.db.use() as c:
                self._migrate(c)

    work = Path(tempfile.mkdtemp(prefix="mg-ckpt-"))
    stores = {"thread": sqlite.SQLiteStore(work / "thread.db"), "commit": InCommit(work / "commit.db")}
    rng = random.Random(1)
    pool = [f"org/model-{i}" for i in range(10_000)]
    ms: dict[str, list[float]] = {name: [] for name in stores}
    try:
        for i in range(args.searches):
            served = tuple(Served(a, r, 0.9, tuple((f"{a}#{c}", 0.5) for c in range(rng.randint(1, 2))))
                           for r, a in enumerate(rng.sample(pool, 10), 1))
            event = SearchEvent(f"s{i}", f"i{i}", f"query {i}", time.time(), served, k=10, top_score=0.9,
                                user=f"u{i}", settled=True)
            for name in (("thread", "commit") if i % 2 == 0 else ("commit", "thread")):
                start = time.perf_counter()
                stores[name].record_search(event)
                ms[name].append(1000 * (time.perf_counter() - start))
                time.sleep(0.002)
        background = stores["thread"].db.checkpointer.checkpoints
    finally:
        for store in stores.values():
            store.close()
        shutil.rmtree(work, ignore_errors=True)
    labels = {"thread": f"checkpoints in a thread of their own (served; {background} background checkpoints)",
              "commit": "checkpoints inside the commit (SQLite's default, before)"}
    rows = [{"store": labels[name], "mean ms": round(statistics.mean(v), 3),
             **{f"p{p} ms": round(percentile(v, p), 3) for p in (50, 90, 99)}, "max ms": round(max(v), 3)}
            for name, v in ms.items()]
    head = (f"`python -m bench.profile --checkpoint-ab --searches {args.searches}`: record_search of {args.searches} "
            f"synthetic searches per store, alternating event by event; {machine()}, load average "
            f"{load_average()} at the end, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    return head + "\n\n" + table(rows, ["store", "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms"])
