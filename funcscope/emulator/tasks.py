"""Invocation marks on asyncio tasks and the worker's rule for finding the current invocation."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from .context import invocation_local

__all__ = ["INVOCATION_MARK", "ContextEnabledTask", "current_invocation_id", "task_factory"]

#: Attribute the worker sets on an invocation's task; same name, so code that reads it works on both.
INVOCATION_MARK = "__azure_function_invocation_id__"


class ContextEnabledTask(asyncio.Task):  # type: ignore[type-arg]
    """A task that inherits the invocation mark of the task that created it, as in the worker."""

    def __init__(self, coro: Coroutine[Any, Any, Any], *, loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        super().__init__(coro, loop=loop, **kwargs)
        parent = asyncio.current_task(loop)
        if parent is not None:
            invocation_id = getattr(parent, INVOCATION_MARK, None)
            if invocation_id is not None:
                setattr(self, INVOCATION_MARK, invocation_id)

    def set_azure_invocation_id(self, invocation_id: str) -> None:
        setattr(self, INVOCATION_MARK, invocation_id)


def task_factory(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], /, **kwargs: Any
) -> ContextEnabledTask:
    """Task factory for the worker loop; passes ``name``/``context`` through on every Python version."""
    return ContextEnabledTask(coro, loop=loop, **kwargs)


def current_invocation_id() -> str | None:
    """The invocation a log record belongs to: the running task's mark, else the thread-local."""
    loop = asyncio._get_running_loop()
    if loop is not None:
        task = asyncio.current_task(loop)
        if task is not None:
            invocation_id: str | None = getattr(task, INVOCATION_MARK, None)
            if invocation_id is not None:
                return invocation_id
    local_id: str | None = getattr(invocation_local, "invocation_id", None)
    return local_id
