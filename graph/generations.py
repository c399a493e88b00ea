"""Atomic, versioned snapshots of the catalog state in the data dir.

Each commit writes a complete generation folder (catalog, graph, index) under a temporary
name, renames it into place and only then swaps the `CURRENT` pointer with `os.replace`.
A crash at any point leaves `CURRENT` naming the previous complete generation.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
POINTER = "CURRENT"
KEEP = 2


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


def current(data_dir: Path) -> Path | None:
    """The folder of the committed generation, or None when the data dir holds no catalog yet."""
    pointer = data_dir / POINTER
    if not pointer.exists():
        return None
    name = pointer.read_text().strip()
    folder = data_dir / name
    return folder if name and folder.is_dir() else None


def commit(data_dir: Path, write: Callable[[Path], None]) -> Path:
    """Create a new generation by calling `write(folder)`, then make it current atomically."""
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
        fsync_dir(data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _prune(data_dir, keep=final.name)
    return final


def _prune(data_dir: Path, keep: str) -> None:
    """Drop old generations and staging leftovers of crashed writers (best effort)."""
    gens = sorted(p for p in data_dir.glob("gen-*") if p.is_dir())
    for old in gens[:-KEEP]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
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
