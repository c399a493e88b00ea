"""Archived segments of the Redis event log: rotated JSONL files, so Redis keeps only a recent tail.

`RedisStore.compact` moves each shard's log entries older than the retention window here, then trims
them from Redis behind a checkpoint (`<shard tag>:arch`, the last archived sequence number, set in the
same script as the trim). Files are appended and fsync'd *before* the trim, so a crash in between
leaves an event both in a file and in Redis, never in neither; readers skip sequence numbers they have
already seen, so a duplicate tail from such a crash is harmless. `rebuild` and `events` read the
archive, then the live tail, and give exactly what an untrimmed log gave.

Layout: `<root>/<prefix>/shard-<i>/seg-<first seq, 12 digits>.jsonl`, one line per event:
`{"seq": <shard sequence number>, "e": <the event JSON exactly as logged>}`. A segment is closed when it
passes `segment_bytes` and the next one starts; old segments can be moved to cold storage and put back
for a rebuild.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from graph.infra.generation_commit import fsync_dir

SEGMENT_BYTES = 64 << 20


class ArchiveMissing(RuntimeError):
    """The archive does not hold events the Redis checkpoint says were archived (wrong or lost dir)."""


class LogArchive:
    """The archived log of one store (one prefix): per shard, segment files in sequence order."""

    def __init__(self, root: str | os.PathLike[str], prefix: str, *, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.root = Path(root) / prefix
        self.segment_bytes = segment_bytes

    def _dir(self, shard: int) -> Path:
        return self.root / f"shard-{shard}"

    def segments(self, shard: int) -> list[Path]:
        d = self._dir(shard)
        return sorted(d.glob("seg-*.jsonl")) if d.is_dir() else []

    def append(self, shard: int, rows: Sequence[tuple[int, str]]) -> None:
        """Append (seq, event JSON) rows, in order, durably: each segment written is fsync'd (and its
        directory when the segment is new). A segment that reaches `segment_bytes` is closed and the
        next row starts a new one."""
        if not rows:
            return
        d = self._dir(shard)
        d.mkdir(parents=True, exist_ok=True)
        segs = self.segments(shard)
        path, size = (segs[-1], segs[-1].stat().st_size) if segs else (None, 0)
        new_dir_entry = False
        i = 0
        while i < len(rows):
            if path is None or size >= self.segment_bytes:
                path, size, new_dir_entry = d / f"seg-{rows[i][0]:012d}.jsonl", 0, True
            chunk = []
            while i < len(rows) and size < self.segment_bytes:
                line = f'{{"seq": {rows[i][0]}, "e": {rows[i][1]}}}\n'.encode()
                chunk.append(line)
                size += len(line)
                i += 1
            with open(path, "ab") as f:
                f.write(b"".join(chunk))
                f.flush()
                os.fsync(f.fileno())
        if new_dir_entry:
            fsync_dir(d)

    def read(self, shard: int, after: int = 0) -> Iterator[tuple[int, dict]]:
        """(seq, event dict) for archived events with seq > `after`, in order, each once. A torn last line
        (a crash while appending, before the checkpoint moved) is ignored: those events are still in Redis."""
        last = after
        for path in self.segments(shard):
            with open(path, "rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        break
                    row = json.loads(line)
                    seq = int(row["seq"])
                    if seq > last:
                        last = seq
                        yield seq, row["e"]

    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.glob("shard-*/seg-*.jsonl")) if self.root.is_dir() else 0
