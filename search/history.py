"""Noticing lost match history: Redis restarted without its data, and every count went back to zero.

The store names its history with an epoch (`MatchStore.history_epoch`, made when the history starts). Each
host remembers the epoch it last saw in its data dir (`match-history.json`). When the store answers with
another one, the history this host counted on was lost: the reason is logged at ERROR, kept in the file
(so every worker and a restarted server report it on /readyz until an operator clears it with
`python -m api rebuild`), and the events of `compact`'s archive, where there is one, are recorded again.
Events after the last compaction are gone: docs/scaling.md says which Redis persistence prevents this.
"""

from __future__ import annotations

import fcntl
import json
import logging
import time
from pathlib import Path

from graph.infra.generation_commit import write_atomic
from graph.store.base import MatchStore

log = logging.getLogger(__name__)
FILE = "match-history.json"


class HistoryWatch:
    """Compares the store's history epoch with the one this data dir last saw."""

    def __init__(self, store: MatchStore, data_dir: Path) -> None:
        self.store, self.path = store, data_dir / FILE
        self.reason = ""

    def _saved(self) -> dict:
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return saved if isinstance(saved, dict) else {}

    def check(self) -> str:
        """The reason the match history is not whole ("" when it is); asks the store (one round trip). A
        store that does not answer changes nothing: its outage is reported on its own."""
        try:
            current = self.store.history_epoch()
        except Exception:  # an outage: the spool and /readyz's store check report it
            return self.reason
        saved = self._saved()
        if not current:
            self.reason = ""
        elif not saved.get("epoch"):
            write_atomic(self.path, json.dumps({"epoch": current}).encode())
            self.reason = ""
        elif saved["epoch"] == current:
            self.reason = saved.get("lost", "")
        else:
            with open(self.path.with_suffix(".lock"), "a+b") as lock:  # one worker of this host restores
                fcntl.flock(lock, fcntl.LOCK_EX)
                saved = self._saved()
                self.reason = (saved.get("lost", "") if saved.get("epoch") == current
                               else self._lost(saved["epoch"], current))
        return self.reason

    def _lost(self, was: str, now: str) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        log.error("match history lost: the store's history is %s, this host last saw %s (Redis restarted "
                  "without its data?)", now, was)
        try:
            restored = self.store.restore_archive()
        except Exception as exc:
            log.exception("restoring the match history from the archive failed")
            restored, note = 0, f"restoring the archive failed ({type(exc).__name__})"
        else:
            note = (f"{restored} archived events recorded again; events after the last compaction are lost"
                    if restored else "no archive to restore from")
        reason = f"match history lost: the store came back without it at {when} ({note})"
        log.error("%s; clear this with `python -m api rebuild` once reviewed", reason)
        write_atomic(self.path, json.dumps({"epoch": now, "lost": reason, "was": was}).encode())
        return reason

    def clear(self) -> None:
        """The operator reviewed the loss (`python -m api rebuild`): stop reporting it."""
        try:
            current = self.store.history_epoch()
        except Exception:
            return
        if current:
            write_atomic(self.path, json.dumps({"epoch": current}).encode())
        self.reason = ""
