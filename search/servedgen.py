"""Which generation a process serves, and whether a write may be built on it.

A write starts from the generation in memory, so that generation must be the one that was committed last
and it must check out: otherwise the write would commit on top of an older catalog and every artifact
acknowledged since would be missing from every later generation. `GenerationGuard` asks
`search.generation_layout.choose` for the newest generation that verifies (at or below the higher of `CURRENT`
and the high-water mark `COMMITTED`), loads it through the engine's loader, and when that is not the wanted
one (a damaged catalog, a missing or garbage manifest, a rolled-back `CURRENT`) logs an ERROR naming it,
keeps the reason for `/readyz` and refuses writes until an operator repairs the generation or accepts the
fallback (`python -m api generations --accept-fallback`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from search import generation_layout
from search.errors import WritesRefused

log = logging.getLogger(__name__)
ACCEPT_HINT = "repair it, or accept the fallback with `python -m api generations --accept-fallback`"
REPAIR_RETRY_AFTER_S = 60


class GenerationGuard:
    """The served generation's state for one engine (call its methods under the engine's lock)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.decided_for: str | None = None  # what `generation_layout.current` answered when we last chose
        self.broken: dict[str, str] = {}  # generations that failed to load here, and why (never retried)
        self.problem = ""  # why the served generation is not the committed one ("" when it is)

    def settled(self, key: str) -> bool:
        """True when `key` (what `generation_layout.current` answers now) is what the last choice was made for."""
        return key == self.decided_for

    def choose(self, key: str, load: Callable[[Path | None], None], serving: str) -> bool:
        """Serve the newest generation that verifies and loads: `load(folder)` swaps memory to it (raising
        leaves memory as it was). Returns True when memory changed. When nothing verifies, memory keeps
        what it serves (nothing, at start: /readyz then says not ready)."""
        while True:
            choice = generation_layout.choose(self.data_dir, self.broken)
            target = choice.folder
            if target is None and choice.wanted:  # nothing verifies: keep what is in memory
                self._settle(key, choice, serving)
                return False
            if (target.name if target else "") == serving:
                self._settle(key, choice, serving)
                return False
            try:
                load(target)
            except Exception as exc:
                log.exception("could not load generation %s", target.name if target else "(empty)")
                if target is None:
                    raise
                self.broken[target.name] = f"does not load ({type(exc).__name__}: {exc})"
                continue
            self._settle(key, choice, target.name if target else "")
            return True

    def _settle(self, key: str, choice: generation_layout.Choice, served: str) -> None:
        self.decided_for = key
        problem = ""
        if choice.problems:
            where = (f"serving {served}" if served else "serving nothing") + (
                f" instead of {choice.wanted}" if served != choice.wanted else "")
            problem = "; ".join(choice.problems) + f": {where}"
        if problem and problem != self.problem:
            log.error("%s in %s (%s); catalog writes are refused until then", problem, self.data_dir, ACCEPT_HINT)
        elif self.problem and not problem:
            log.warning("generation check passes again in %s: serving %s", self.data_dir, served)
        self.problem = problem

    def committed(self, name: str) -> None:
        """This process just committed `name` (built on the verified committed generation) and serves it."""
        self.decided_for, self.problem = name, ""

    def forget(self) -> None:
        """Choose again on the next reload (after a failed write restored nothing)."""
        self.decided_for = None

    def check_writable(self) -> None:
        """Raise WritesRefused (503) while the served generation is not the verified committed one."""
        if self.problem:
            raise WritesRefused(f"{self.problem}; {ACCEPT_HINT}", retry_after=REPAIR_RETRY_AFTER_S)


def describe(data_dir: Path) -> tuple[generation_layout.Choice, list[str]]:
    """The choice a server would make over `data_dir`, and one line per generation folder (name, marks,
    verification result), newest first: what `python -m api generations` prints."""
    from graph.infra import generation_commit

    choice = generation_layout.choose(data_dir)
    pointer, high = generation_commit.pointers(data_dir)
    lines = []
    for folder in generation_commit.folders_up_to(data_dir, 10**12):
        marks = [m for m, n in (("CURRENT", pointer), ("COMMITTED", high)) if n == folder.name]
        if choice.folder is not None and folder == choice.folder:
            marks.append("served")
        lines.append(f"{folder.name}  {generation_layout.verify(folder) or 'verified'}"
                     + (f"  [{', '.join(marks)}]" if marks else ""))
    return choice, lines


def accept_fallback(data_dir: Path) -> tuple[str, list[str]]:
    """The operator's confirmation: the newest generation that verifies becomes the committed one
    (CURRENT and COMMITTED name it) and every newer folder is set aside (renamed `<name>.set-aside`, kept
    for inspection). Serving processes pick it up on their next request and take writes again.
    Returns (the generation now committed, the names set aside); ValueError when nothing verifies."""
    from graph.infra import generation_commit

    with generation_layout.writer_lock(data_dir):
        choice = generation_layout.choose(data_dir)
        if choice.folder is None:
            raise ValueError(f"no generation in {data_dir} verifies: restore one from a backup or re-ingest")
        aside = generation_commit.accept(data_dir, choice.folder.name)
    log.warning("fallback accepted in %s: %s is the committed generation; set aside: %s", data_dir,
                choice.folder.name, ", ".join(aside) or "nothing")
    return choice.folder.name, aside
