"""Locks that cross fork() are reset in the child, at the fork, by one registry (os.register_at_fork).

Why: fork() copies every lock in the state it had at that instant but only the forking thread. A lock another
thread held then stays held forever in the child, and the child's first `with lock:` never returns. That is
timing-dependent (a loop on a warm machine rarely shows it), so it is handled here for every object that can be
inherited by a forked child (gunicorn workers, multiprocessing's fork start method), not checked lazily on use
(a lazy "pid changed?" check that runs after `with self._lock:` is too late).

- `reset_after_fork(obj, "_lock", ...)`: the named lock attributes of `obj` get fresh locks in the child.
  Objects are held weakly; registering costs a dict entry.
- `hold=True` for a lock that guards a C library with global state of its own (SQLite, torch): the forking
  thread also takes it just before fork() and lets go just after, so no other thread is inside that library
  through this object at the instant of the fork. Resetting alone is not enough there: a thread inside
  SQLite holds SQLite's own allocator mutex, and the child's next `sqlite3.connect` waits on it forever
  (seen: `sqlite3Malloc -> pthread_mutex_lock` in a child forked while a thread read the store).
  Held locks are taken newest registration first (wrappers are made after what they wrap, so outer before
  inner, the order the code nests them), each with a bounded wait (HOLD_WAIT_S): a fork is delayed,
  never deadlocked; a lock still held then is only reset in the child.
- tqdm's class lock: every `tqdm(...)`, even `disable=True`, takes it in `__new__` (bm25s tokenizes each
  query in such a loop), so a thread searching while another forks could leave it held in the child. Its
  process-shared part (a multiprocessing semaphore) is dropped: a child killed while holding it blocked
  every other process.

Registered: every SQLite file (graph/infra/sqlitedb.py, held), the embedder (its LRU lock; its model lock, held),
the ONNX encoder, the vector index, the learner and the engine. The connections, sessions and thread pools
that also must not cross fork are each owner's business (a parked connection, `os.getpid()` checks); this
module only guarantees that reaching them cannot deadlock.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from typing import Any

_registry: dict[tuple[int, tuple[str, ...]], tuple[weakref.ref, tuple[str, ...], bool]] = {}
_registry_lock = threading.RLock()  # re-entrant: a weakref callback (forget) can run inside a locked block
_held: list[Any] = []  # locks the forking thread took in _before_fork, released in the parent afterwards
HOLD_WAIT_S = 5.0  # longest a fork waits for one held lock (a long write transaction) before going ahead


def _fresh(lock: Any) -> Any:
    return threading.RLock() if hasattr(lock, "_is_owned") else threading.Lock()


def reset_after_fork(obj: object, *names: str, hold: bool = False) -> None:
    """In a forked child, replace each `obj.<name>` lock (Lock or RLock) by a new, unheld one; with `hold`,
    the forking thread also holds those locks across fork() (see the module docstring)."""
    key = (id(obj), names)

    def forget(_ref: weakref.ref, key: tuple[int, tuple[str, ...]] = key) -> None:
        with _registry_lock:
            entry = _registry.get(key)
            if entry is not None and entry[0] is _ref:
                del _registry[key]

    with _registry_lock:
        _registry[key] = (weakref.ref(obj, forget), names, hold)


def _reset_tqdm() -> None:
    std = sys.modules.get("tqdm.std")
    if std is None:
        return
    write_lock = std.TqdmDefaultWriteLock
    write_lock.th_lock = threading.RLock()
    # mp_lock is a process-shared semaphore: a parent thread holding it releases it for the child too.
    locks = [lk for lk in (getattr(write_lock, "mp_lock", None), write_lock.th_lock) if lk is not None]
    pending, seen = [std.tqdm], set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        instance = cls.__dict__.get("_lock")
        if isinstance(instance, write_lock):
            instance.locks = list(locks)


def _process_local_tqdm_lock() -> None:
    """tqdm's class lock includes a process-shared semaphore (multiprocessing.RLock) so that bars of several
    processes do not interleave. A forked child killed while it held it (a SIGKILL during an ingest, which
    tokenizes in a tqdm loop) leaves it held for every process, and the parent's next tokenize waits
    forever. Progress bars here never span processes: keep only the per-process thread lock."""
    try:
        import tqdm.std as std
    except ImportError:  # pragma: no cover - tqdm comes with bm25s and transformers
        return
    std.TqdmDefaultWriteLock.mp_lock = None  # create_mp_lock() keeps an existing attribute
    instance = std.tqdm.__dict__.get("_lock")
    if isinstance(instance, std.TqdmDefaultWriteLock):  # made before this ran: drop the semaphore from it
        instance.locks = [std.TqdmDefaultWriteLock.th_lock]


def _before_fork() -> None:
    with _registry_lock:
        entries = list(_registry.values())
    for ref, names, hold in reversed(entries):
        obj = ref() if hold else None
        if obj is None:
            continue
        for name in names:
            lock = getattr(obj, name, None)
            if lock is not None and lock.acquire(timeout=HOLD_WAIT_S):
                _held.append(lock)


def _after_fork_in_parent() -> None:
    while _held:
        _held.pop().release()


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.RLock()
    _held.clear()  # the child gets fresh locks below instead
    for ref, names, _hold in list(_registry.values()):
        obj = ref()
        if obj is None:
            continue
        for name in names:
            lock = getattr(obj, name, None)
            if lock is not None:
                setattr(obj, name, _fresh(lock))
    _reset_tqdm()


_process_local_tqdm_lock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
