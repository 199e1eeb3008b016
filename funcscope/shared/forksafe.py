"""Locks a forked child gets back unlocked.

`os.fork()` copies the forking thread only: a lock another thread held at that moment stays held in the child, by
a thread that no longer exists, and the child's first use of it never returns. Every lock funcscope keeps for the
life of the process is handed to `unlocked_in_child`, which resets it in a child, as the standard library does
its own. (Objects that are re-created freely, the runner for one, re-create theirs in their own fork handler.)
"""

from __future__ import annotations

import os
from typing import TypeVar

__all__ = ["unlocked_in_child"]

_Lock = TypeVar("_Lock")
_locks: list[object] = []


def unlocked_in_child(lock: _Lock) -> _Lock:
    """`lock` (a `threading.Lock` or `RLock`), registered to be reset, unlocked, in every forked child."""
    _locks.append(lock)
    return lock


def _after_fork_in_child() -> None:
    for lock in _locks:
        reinit = getattr(lock, "_at_fork_reinit", None)  # what threading and logging use for theirs
        if reinit is not None:
            reinit()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
