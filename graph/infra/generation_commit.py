"""Atomic, versioned snapshots of the catalog state in the data dir.

Each commit writes a complete generation folder (catalog, graph, index) under a temporary
name, renames it into place and only then swaps the `CURRENT` pointer with `os.replace`.
A crash at any point leaves `CURRENT` naming the previous complete generation.

Writers (admin requests in any gunicorn worker, `python -m api ingest`) take `writer_lock` around
read-CURRENT -> build -> commit, so each one starts from the newest generation and a write that was
acknowledged is in every later generation (without it two workers picked the same generation number and
a CLI ingest committed gen N+2 from gen N, dropping gen N+1).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)
POINTER = "CURRENT"
HIGH_WATER = "COMMITTED"  # the newest generation ever committed here, written after CURRENT: a rollback shows
SET_ASIDE = ".set-aside"  # suffix of a generation an operator gave up (`python -m api generations --accept-fallback`)
KEEP = 2


LOCK_FILE = ".writer.lock"
LEASES = ".leases"  # one file per generation a process serves, share-locked by every such process


@contextlib.contextmanager
def writer_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data dir's writer lock (flock: across processes and across threads with their own file
    descriptions; the kernel drops it when a writer dies). Not reentrant: take it once per write."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so readers see the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


COMPLETE_MARKER = "manifest.json"  # written last into a staged generation: without it a folder is not whole
_reported: set[tuple[str, str]] = set()


def generations_newest_first(data_dir: Path) -> list[Path]:
    """Every complete generation folder, newest (highest number) first."""
    found = [p for p in data_dir.glob("gen-*") if p.name[4:].isdigit() and (p / COMPLETE_MARKER).is_file()]
    return sorted(found, key=lambda p: int(p.name[4:]), reverse=True)


_pointer_seen: dict[str, tuple[tuple[int, int, int], Path, str]] = {}


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    """Which file CURRENT is: a commit replaces it (os.replace), so a new inode, size or mtime."""
    return st.st_ino, st.st_mtime_ns, st.st_size


def current(data_dir: Path) -> Path | None:
    """The folder of the committed generation, or None when the data dir holds no catalog yet.

    When `CURRENT` names a folder that is missing or incomplete (deleted or damaged by hand, a restore
    that skipped it), the newest complete generation is served instead, with an ERROR in the log: the
    catalog never silently becomes empty (and then gets replaced by a bootstrap)."""
    pointer = data_dir / POINTER
    seen = _pointer_seen.get(str(pointer))
    if seen is not None:  # every request asks: when CURRENT is the file read last time, two stats answer
        try:
            if _signature(os.stat(pointer)) == seen[0]:
                os.stat(seen[2])  # the folder's marker is still there (not deleted by hand)
                return seen[1]
        except FileNotFoundError:
            pass
    try:
        sig = _signature(os.stat(pointer))
        name = pointer.read_text().strip()
    except FileNotFoundError:
        name = None
    if name:
        folder = data_dir / name
        if folder.is_dir() and (folder / COMPLETE_MARKER).is_file():
            _pointer_seen[str(pointer)] = (sig, folder, str(folder / COMPLETE_MARKER))
            return folder
    complete = generations_newest_first(data_dir)
    if name is None and not complete:
        return None  # a new data dir
    fallback = complete[0] if complete else None
    key = (str(data_dir), f"{name}->{fallback.name if fallback else ''}")
    if key not in _reported:
        _reported.add(key)
        log.error("%s names %r, which is missing or incomplete in %s: %s", POINTER, name, data_dir,
                  f"serving the newest complete generation {fallback.name}" if fallback
                  else "no complete generation is left to serve")
    return fallback


def number(name: str | None) -> int:
    """The number of a generation folder name (`gen-000012` -> 12); 0 for None or anything else."""
    return int(name[4:]) if name and name.startswith("gen-") and name[4:].isdigit() else 0


def pointers(data_dir: Path) -> tuple[str | None, str | None]:
    """(what CURRENT names, what the high-water mark COMMITTED names); None where a file is missing or empty."""
    out = []
    for name in (POINTER, HIGH_WATER):
        try:
            out.append((data_dir / name).read_text().strip() or None)
        except FileNotFoundError:
            out.append(None)
    return out[0], out[1]


def folders_up_to(data_dir: Path, newest: int) -> list[Path]:
    """Every generation folder numbered <= `newest`, complete or not, newest first."""
    found = [p for p in data_dir.glob("gen-*") if p.is_dir() and number(p.name) and number(p.name) <= newest]
    return sorted(found, key=lambda p: number(p.name), reverse=True)


def accept(data_dir: Path, served: str) -> list[str]:
    """Make `served` the committed generation: CURRENT and COMMITTED name it, and every generation folder
    numbered above it is renamed `<name>.set-aside` (kept for inspection, never served or counted again).
    Call under `writer_lock`. Returns the names set aside."""
    aside = []
    for folder in sorted(data_dir.glob("gen-*")):
        if folder.is_dir() and number(folder.name) > number(served):
            target = folder.with_name(folder.name + SET_ASIDE)
            shutil.rmtree(target, ignore_errors=True)
            os.rename(folder, target)
            aside.append(folder.name)
    write_atomic(data_dir / POINTER, served.encode())
    write_atomic(data_dir / HIGH_WATER, served.encode())
    fsync_dir(data_dir)
    return aside


def holds_catalog_state(data_dir: Path) -> bool:
    """True when the data dir has a CURRENT pointer or any generation folder: never bootstrap into it."""
    return (data_dir / POINTER).exists() or any(p.is_dir() for p in data_dir.glob("gen-*"))


def commit(data_dir: Path, write: Callable[[Path], None], served: str = "") -> Path:
    """Create a new generation by calling `write(folder)`, then make it current atomically.

    Call it under `writer_lock(data_dir)`, after reading the current generation under the same lock.
    `served` (the generation this process serves) is never pruned, nor is the new one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    existing = sorted(int(p.name.split("-")[1]) for p in data_dir.glob("gen-*") if p.name[4:].isdigit())
    number = (existing[-1] + 1) if existing else 1
    final = data_dir / f"gen-{number:06d}"
    staging = data_dir / f".gen-{number:06d}.{os.getpid()}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        write(staging)
        for child in staging.iterdir():
            with open(child, "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(staging)
        os.rename(staging, final)
        write_atomic(data_dir / POINTER, final.name.encode())
        write_atomic(data_dir / HIGH_WATER, final.name.encode())
        fsync_dir(data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _prune(data_dir, keep={final.name, served})
    return final


def lease(data_dir: Path, name: str) -> BinaryIO | None:
    """Share-lock generation `name` for as long as the returned file stays open: `_prune` never removes a
    generation a process is loading or serving (before, a worker slow to reload found its generation pruned
    and logged "no generation ... loads"). None when the data dir is read-only (nothing prunes it then)."""
    try:
        (data_dir / LEASES).mkdir(exist_ok=True)
        fh = open(data_dir / LEASES / name, "a+b")  # noqa: SIM115 - held open for the life of the lease
    except OSError:
        return None
    fcntl.flock(fh, fcntl.LOCK_SH)
    return fh


def _remove_unleased(data_dir: Path, folder: Path) -> None:
    """Remove a generation unless a process holds its lease (checked and removed under an exclusive lock)."""
    path = data_dir / LEASES / folder.name
    try:
        fh = open(path, "a+b")  # noqa: SIM115
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # in use: a later commit prunes it
        shutil.rmtree(folder, ignore_errors=True)
        path.unlink(missing_ok=True)


def _prune(data_dir: Path, keep: set[str]) -> None:
    """Drop old generations and staging leftovers of crashed writers (best effort). Kept: the KEEP newest
    complete generations (the fallback if the newest turns out damaged), `keep`, and incomplete folders
    (not ours to judge: they may be a hand-made copy; `current` never serves them)."""
    newest = {p.name for p in generations_newest_first(data_dir)[:KEEP]}
    for old in generations_newest_first(data_dir)[KEEP:]:
        if old.name not in keep and old.name not in newest:
            _remove_unleased(data_dir, old)
    for stale in data_dir.glob(".gen-*.staging"):
        pid = stale.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            log.info("removing staging folder of a crashed writer: %s", stale.name)
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
