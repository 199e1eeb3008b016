"""The current invocation, as a context variable: set for the invocation's own thread or task by the runner,
and carried into the threads and tasks it starts by propagation (`instrumentation.threads`).

A thread an invocation started carries it only until the invocation ends (`in_started_thread` tells such a
thread): from then on the thread runs outside any invocation, so a long-lived thread started lazily from inside
one never files the work later invocations hand it under that one.
"""

from __future__ import annotations

from contextvars import ContextVar

from .invocation import Invocation

__all__ = ["current_invocation", "current", "in_started_thread", "live"]

current_invocation: ContextVar[Invocation | None] = ContextVar("funcscope.current_invocation", default=None)
#: True in a thread started inside an invocation (set by propagation for the thread's whole run).
in_started_thread: ContextVar[bool] = ContextVar("funcscope.in_started_thread", default=False)


def live(invocation: Invocation | None) -> Invocation | None:
    """`invocation` (the value of `current_invocation`), or None when it ended and this is a thread it started."""
    if invocation is not None and invocation.ended and in_started_thread.get():
        return None
    return invocation


def current() -> Invocation | None:
    """The invocation this code runs for, or None outside any invocation funcscope knows of."""
    return live(current_invocation.get())
