"""What hooks, functions and the work they start observe, recorded the same way wherever the app runs.

The same app runs in the worker emulator (in the test process) and in the real worker (read back through the
driver with `run_in_each_process("rwrecord:take")`), so each record is plain data: where it was taken, the
invocation, the thread (and whether it runs the event loop, or is the main thread), the worker's thread-local
`invocation_id`, the invocation mark of the current task, funcscope's current invocation and the current span.

Recording extensions are made by `app_recorder`/`func_recorder` in the app's own module, so that the emulator,
which forgets an app's modules when it closes, never forgets this one (and the records in it).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from azure.functions import AppExtensionBase, FuncExtensionBase
from opentelemetry import trace

import funcscope

_records: list[dict[str, Any]] = []
_lock = threading.Lock()
TASK_MARK = "__azure_function_invocation_id__"


def observe(where: str, context: Any, **extra: Any) -> dict[str, Any]:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    task = asyncio.current_task(loop) if loop is not None else None
    current = funcscope.current()
    span = trace.get_current_span().get_span_context()
    return {
        "where": where,
        "function": context.function_name,
        "invocation_id": context.invocation_id,
        "thread": threading.current_thread().name,
        "on_loop": loop is not None,
        "main_thread": threading.current_thread() is threading.main_thread(),
        "tls": getattr(context.thread_local_storage, "invocation_id", None),
        "task_mark": getattr(task, TASK_MARK, None) if task is not None else None,
        "in_task": task is not None,
        "current": current.invocation_id if current is not None else None,
        "span_id": format(span.span_id, "016x") if span.is_valid else None,
        "trace_id": format(span.trace_id, "032x") if span.is_valid else None,
        **extra,
    }


def record(where: str, context: Any, **extra: Any) -> dict[str, Any]:
    entry = observe(where, context, **extra)
    with _lock:
        _records.append(entry)
    return entry


def take() -> list[dict[str, Any]]:
    """Every record since the last take, in the order they were made."""
    with _lock:
        taken = list(_records)
        _records.clear()
    return taken


def app_recorder(name: str, module: str) -> type:
    """An app-level extension named `name` that records each of its hooks; it registers now (its creation)."""

    def post_function_load_app_level(cls: Any, function_name: str, function_directory: str, *a: Any, **k: Any) -> None:
        with _lock:
            _records.append(_load_record(f"post_function_load_app_level:{name}", function_name))

    def pre_invocation_app_level(cls: Any, logger: Any, context: Any, func_args: Any = None, *a: Any, **k: Any) -> None:
        record(f"pre_invocation_app_level:{name}", context, logger=logger.name)

    def post_invocation_app_level(
        cls: Any, logger: Any, context: Any, func_args: Any = None, func_ret: Any = None, *a: Any, **k: Any
    ) -> None:
        record(f"post_invocation_app_level:{name}", context, logger=logger.name)

    namespace = {
        "__module__": module,
        "post_function_load_app_level": classmethod(post_function_load_app_level),
        "pre_invocation_app_level": classmethod(pre_invocation_app_level),
        "post_invocation_app_level": classmethod(post_invocation_app_level),
    }
    return type(name, (AppExtensionBase,), namespace)


def func_recorder(name: str, module: str, file_path: str) -> Any:
    """A function-level extension named `name` for the function whose script is `file_path`, registered now."""

    def post_function_load(self: Any, function_name: str, function_directory: str, *a: Any, **k: Any) -> None:
        with _lock:
            _records.append(_load_record(f"post_function_load:{name}", function_name))

    def pre_invocation(self: Any, logger: Any, context: Any, func_args: Any = None, *a: Any, **k: Any) -> None:
        record(f"pre_invocation:{name}", context, logger=logger.name)

    def post_invocation(
        self: Any, logger: Any, context: Any, func_args: Any = None, func_ret: Any = None, *a: Any, **k: Any
    ) -> None:
        record(f"post_invocation:{name}", context, logger=logger.name)

    def __init__(self: Any, path: str) -> None:  # FuncExtensionBase makes its subclasses say so
        FuncExtensionBase.__init__(self, path)

    namespace = {
        "__module__": module,
        "__init__": __init__,
        "post_function_load": post_function_load,
        "pre_invocation": pre_invocation,
        "post_invocation": post_invocation,
    }
    return type(name, (FuncExtensionBase,), namespace)(file_path)


def _load_record(where: str, function_name: str) -> dict[str, Any]:
    try:
        asyncio.get_running_loop()
        on_loop = True
    except RuntimeError:
        on_loop = False
    return {
        "where": where,
        "function": function_name,
        "thread": threading.current_thread().name,
        "on_loop": on_loop,
        "main_thread": threading.current_thread() is threading.main_thread(),
    }
