"""What the test functions do, chosen by the ``action`` query parameter; shared by the test apps."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func

log = logging.getLogger("apptest")
#: Set and read by functions to show which contextvars state an invocation starts from.
CV: contextvars.ContextVar[str | None] = contextvars.ContextVar("apptest_cv", default=None)
_events: dict[str, asyncio.Event] = {}
#: Invocations of the "overlap" action running now, and the most that ever ran at once.
OVERLAP = {"now": 0, "peak": 0}
_overlap_lock = threading.Lock()


def _overlap_enter() -> None:
    with _overlap_lock:
        OVERLAP["now"] += 1
        OVERLAP["peak"] = max(OVERLAP["peak"], OVERLAP["now"])


def _overlap_exit() -> None:
    with _overlap_lock:
        OVERLAP["now"] -= 1


def _observed(context: Any) -> dict[str, Any]:
    return {
        "invocation_id": context.invocation_id,
        "function_name": context.function_name,
        "function_directory": context.function_directory,
        "thread": threading.current_thread().name,
        "tls": getattr(context.thread_local_storage, "invocation_id", None),
        "pid": os.getpid(),
    }


def _context_info(context: Any) -> dict[str, Any]:
    rc = context.retry_context
    rpc = getattr(rc, "rpc_exception", None)
    return {
        "trace_parent": context.trace_context.trace_parent,
        "trace_state": context.trace_context.trace_state,
        "attributes": dict(context.trace_context.attributes),  # a protobuf map in the worker: no dict
        "retry_type": type(rc).__name__,
        "retry_count": getattr(rc, "retry_count", None),
        "max_retry_count": getattr(rc, "max_retry_count", None),
        "rpc_message": getattr(rpc, "message", None),
        "rpc_source": getattr(rpc, "source", None),
        "has_exception_attr": hasattr(rc, "exception"),
        "retry_repr": repr(rc),
    }


def _fixed_thread_log(context: Any) -> None:
    context.thread_local_storage.invocation_id = context.invocation_id
    log.info("from fixed thread")


def _common(action: str, params: Any, context: Any, out: dict[str, Any]) -> None:
    if action == "raise":
        raise ValueError("requested failure")
    if action == "log":
        log.info("user log %s", context.invocation_id)
    elif action == "log_extra":
        log.info("with extra", extra={"custom": {"a": 1}, "lock": threading.Lock()})
    elif action == "thread":
        t = threading.Thread(target=log.info, args=("from thread",), name="user-thread")
        t.start()
        t.join()
    elif action == "thread_fixed":
        t = threading.Thread(target=_fixed_thread_log, args=(context,), name="user-thread-fixed")
        t.start()
        t.join()
    elif action == "executor":
        with ThreadPoolExecutor(1) as pool:
            pool.submit(log.info, "from executor").result()
    elif action == "context_info":
        out.update(_context_info(context))
    elif action == "cv":
        out["cv_before"] = CV.get()
        CV.set(context.invocation_id)
    elif action == "env":
        out["env"] = os.environ.get(params.get("name", ""))
    elif action == "unpicklable":
        out["lock"] = threading.Lock()
    elif action == "overlap":
        _overlap_enter()
        time.sleep(0.02)
        _overlap_exit()


def respond(out: dict[str, Any]) -> Any:
    if "lock" in out:
        return out["lock"]  # a value no process boundary can carry
    return func.HttpResponse(json.dumps(out), mimetype="application/json")


def run_sync(req: Any, context: Any) -> Any:
    action = req.params.get("action", "ok")
    out = _observed(context)
    _common(action, req.params, context, out)
    return respond(out)


async def _log_in_task() -> None:
    log.info("from task")


async def run_async(req: Any, context: Any) -> Any:
    action = req.params.get("action", "ok")
    out = _observed(context)
    loop = asyncio.get_running_loop()
    if action == "run_in_executor":
        await loop.run_in_executor(None, log.info, "from run_in_executor")
    elif action == "to_thread":
        await asyncio.to_thread(log.info, "from to_thread")
    elif action == "create_task":
        await asyncio.create_task(_log_in_task())
    elif action == "wait_peer":
        event = _events.setdefault(req.params["key"], asyncio.Event())
        await asyncio.wait_for(event.wait(), 30)
        out["tls_after_wait"] = getattr(context.thread_local_storage, "invocation_id", None)
        log.info("after wait")
    elif action == "overlap":
        _overlap_enter()
        await asyncio.sleep(0.02)
        _overlap_exit()
    elif action == "set_peer":
        _events.setdefault(req.params["key"], asyncio.Event()).set()
    else:
        _common(action, req.params, context, out)
    return respond(out)
