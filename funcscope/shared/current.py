"""The current invocation, as a context variable: set for the invocation's own thread or task by the runner,
and carried into the threads and tasks it starts by the propagation middleware."""

from __future__ import annotations

from contextvars import ContextVar

from .invocation import Invocation

__all__ = ["current_invocation", "current"]

current_invocation: ContextVar[Invocation | None] = ContextVar("funcscope.current_invocation", default=None)


def current() -> Invocation | None:
    """The invocation this code runs for, or None outside any invocation funcscope knows of."""
    return current_invocation.get()
