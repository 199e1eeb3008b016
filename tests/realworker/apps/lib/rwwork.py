"""Work the test functions hand to threads, timers, pools, executors and tasks.

Each piece of work opens a child span `work.<kind>`, records what it observes (`rwrecord`) and logs
"<kind> for <invocation id>" on the `rwapp` logger, so a test can check where the host filed the log, which
span is the parent and which thread ran it. Threads the app starts are named `rw-...`.
"""

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

import rwrecord
from opentelemetry import trace

log = logging.getLogger("rwapp")
tracer = trace.get_tracer("rwapp")
#: The app's own executor for `loop.run_in_executor`, shared by every invocation as an app's pools are.
APP_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rw-app-pool")
#: Set by the "cv" action: shows which context variables an invocation starts with.
CV: contextvars.ContextVar[str | None] = contextvars.ContextVar("rw_cv", default=None)


def work(kind: str, context: Any, pause: float = 0.0) -> str:
    with tracer.start_as_current_span(f"work.{kind}", attributes={"test.invocation_id": context.invocation_id}):
        if pause:
            time.sleep(pause)  # lets the work of concurrent invocations interleave
        rwrecord.record(f"work:{kind}", context)
        log.info("%s for %s", kind, context.invocation_id)
    return kind


class Relay(threading.Thread):
    """A Thread subclass whose run() does its own thing around `super().run()`."""

    def run(self) -> None:
        self.relayed = True
        super().run()


def _nest(context: Any) -> None:
    inner = threading.Thread(target=work, args=("nested", context, 0.001), name="rw-nested")
    inner.start()
    inner.join()


def fan_out_sync(context: Any) -> None:
    """A thread, a timer, a Thread subclass, a thread starting a thread, and a pool's submit and map."""
    work("main", context)
    timer = threading.Timer(0.001, work, args=("timer", context))
    timer.name = "rw-timer"
    threads = [
        threading.Thread(target=work, args=("thread", context, 0.001), name="rw-thread"),
        threading.Thread(target=_nest, args=(context,), name="rw-nest"),
        timer,
        Relay(target=work, args=("subclass", context, 0.001), name="rw-relay"),
    ]
    for t in threads:
        t.start()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="rw-pool") as pool:
        pool.submit(work, "submit", context, 0.001).result()
        list(pool.map(work, ["map"], [context]))
    for t in threads:
        t.join()


async def _awork(kind: str, context: Any) -> str:
    with tracer.start_as_current_span(f"work.{kind}", attributes={"test.invocation_id": context.invocation_id}):
        await asyncio.sleep(0)
        rwrecord.record(f"work:{kind}", context)
        log.info("%s for %s", kind, context.invocation_id)
    return kind


async def fan_out_async(context: Any) -> None:
    """`to_thread`, the loop's default executor, the app's executor, a task, and a plain thread."""
    loop = asyncio.get_running_loop()
    work("main", context)
    await asyncio.gather(
        asyncio.to_thread(work, "to_thread", context),
        loop.run_in_executor(None, work, "default_executor", context),
        loop.run_in_executor(APP_POOL, work, "app_executor", context),
        asyncio.create_task(_awork("task", context)),
    )
    thread = threading.Thread(target=work, args=("thread", context), name="rw-thread")
    thread.start()
    await asyncio.to_thread(thread.join)


# Two overlapping async invocations: "first" waits until "second" has started, then schedules a plain loop
# callback (no task), which runs while "second" is the last invocation the worker started on the loop.
_second_started: asyncio.Event | None = None
_callback_done: asyncio.Event | None = None


async def overlap(context: Any, role: str) -> None:
    global _second_started, _callback_done
    if _second_started is None or _callback_done is None:
        _second_started, _callback_done = asyncio.Event(), asyncio.Event()
    second_started, callback_done = _second_started, _callback_done
    if role == "second":
        second_started.set()
        await asyncio.wait_for(callback_done.wait(), 30)
        return
    await asyncio.wait_for(second_started.wait(), 30)
    ran = asyncio.get_running_loop().create_future()

    def callback() -> None:
        rwrecord.record("work:callback", context)
        log.info("callback for %s", context.invocation_id)
        ran.set_result(None)

    asyncio.get_running_loop().call_soon(callback)
    await ran
    callback_done.set()
    _second_started = _callback_done = None


def read_and_set_cv(context: Any) -> str | None:
    before = CV.get()
    CV.set(context.invocation_id)
    return before


# -- what the test functions do, by the request's `action` -------------------------------------------------------

_in_flight = {"now": 0, "peak": 0}
_in_flight_lock = threading.Lock()


def _enter() -> None:
    with _in_flight_lock:
        _in_flight["now"] += 1
        _in_flight["peak"] = max(_in_flight["peak"], _in_flight["now"])


def _leave() -> None:
    with _in_flight_lock:
        _in_flight["now"] -= 1


def take_peak() -> int:
    """The most invocations that were inside a function at once since the last call."""
    with _in_flight_lock:
        peak, _in_flight["peak"] = _in_flight["peak"], _in_flight["now"]
    return peak


def context_shape(context: Any) -> dict[str, Any]:
    """What the `context` a function receives looks like, as far as code can tell."""
    import dataclasses
    import warnings

    trace_context, retry = context.trace_context, context.retry_context
    failure = getattr(retry, "rpc_exception", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deprecated = (trace_context.Traceparent, trace_context.Tracestate, dict(trace_context.Attributes))
    return {
        "types": [type(o).__name__ for o in (context, trace_context, retry, failure)],
        "attributes": dict(trace_context.attributes),
        "attributes_is_dict": isinstance(trace_context.attributes, dict),
        "deprecated_same": deprecated
        == (trace_context.trace_parent, trace_context.trace_state, dict(trace_context.attributes)),
        "deprecated_warns": [str(w.category.__name__) for w in caught],
        "retry_is_dataclass": dataclasses.is_dataclass(retry),
        "retry_fields": [f.name for f in dataclasses.fields(retry)] if dataclasses.is_dataclass(retry) else None,
        "retry_has_exception": hasattr(retry, "exception"),
        "failure": {k: getattr(failure, k, None) for k in ("message", "source", "stack_trace")},
        "failure_str": str(failure),
        "directory_is_str": isinstance(context.function_directory, str),
        "tls_type": type(context.thread_local_storage).__name__,
    }


def _respond(req: Any, observed: dict[str, Any]) -> Any:
    import azure.functions as func

    status = int(req.params.get("status", "200"))
    return func.HttpResponse(json.dumps(observed), status_code=status, mimetype="application/json")


def run_sync(req: Any, context: Any) -> Any:
    """plain, log, threads, sleep (`seconds`), cv, shape, exit, raise; `status` sets the HTTP status answered."""
    action = req.params.get("action", "plain")
    observed = rwrecord.record("function", context)
    _enter()
    try:
        if action == "raise":
            raise ValueError(f"failed as asked for {context.invocation_id}")
        if action == "log":
            log.info("function for %s", context.invocation_id)
        elif action == "threads":
            fan_out_sync(context)
        elif action == "sleep":
            work("sleep", context, float(req.params.get("seconds", "0.05")))
        elif action == "cv":
            observed["cv_before"] = read_and_set_cv(context)
        elif action == "shape":
            observed["shape"] = context_shape(context)
        elif action == "exit":  # the worker process dies mid-invocation, as on an out-of-memory kill
            os._exit(int(req.params.get("code", "3")))
    finally:
        _leave()
    return _respond(req, observed)


async def run_async(req: Any, context: Any) -> Any:
    """As `run_sync`, plus first/second (two overlapping invocations and a plain loop callback)."""
    action = req.params.get("action", "plain")
    observed = rwrecord.record("function", context)
    _enter()
    try:
        if action == "raise":
            await asyncio.sleep(0)
            raise ValueError(f"failed as asked for {context.invocation_id}")
        if action == "log":
            log.info("function for %s", context.invocation_id)
        elif action == "threads":
            await fan_out_async(context)
        elif action == "sleep":
            await asyncio.sleep(float(req.params.get("seconds", "0.05")))
            await _awork("sleep", context)
            await asyncio.to_thread(work, "sleep_thread", context)
        elif action == "cv":
            observed["cv_before"] = read_and_set_cv(context)
        elif action in ("first", "second"):
            await overlap(context, action)
            observed["tls_after"] = getattr(context.thread_local_storage, "invocation_id", None)
    finally:
        _leave()
    return _respond(req, observed)
