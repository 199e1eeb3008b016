"""A v2 test app for correlation: functions that hand work to threads, timers, thread pools, executors and tasks,
log from there (each message ends with "for <invocation id>", taken from the worker's context, so a test can check
the attribution the host made) and open child spans there (attribute `test.invocation_id`, same id).

Module-level pools are shared by every invocation, as an app's own pools are: `SHARED_POOL` has one thread, so
successive invocations (and callers outside any invocation) reuse it; `CUSTOM_POOL` is the executor handed to
`loop.run_in_executor`. `shutdown_pools()` stops both (the app module is loaded afresh by each Worker).
"""

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import azure.functions as func
from opentelemetry import trace

import funcscope
from tests.integration import capture

capture.install()
funcscope.configure()

app = func.FunctionApp()
tracer = trace.get_tracer("correlated_v2")
log = logging.getLogger("correlated_v2")

SHARED_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="correlated-shared")
CUSTOM_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="correlated-custom")


def shutdown_pools() -> None:
    SHARED_POOL.shutdown(wait=True)
    CUSTOM_POOL.shutdown(wait=True)


def work(kind: str, invocation_id: str, pause: float = 0.0) -> str:
    """One piece of work, wherever it runs: a child span and a log record naming the invocation it was started by."""
    with tracer.start_as_current_span(f"work.{kind}", attributes={"test.invocation_id": invocation_id}):
        if pause:
            time.sleep(pause)  # lets the work of concurrent invocations interleave
        log.info("%s for %s", kind, invocation_id)
    return kind


class Relay(threading.Thread):
    """A Thread subclass whose run() does its own thing around `super().run()`."""

    def run(self) -> None:
        self.ran_super = True
        super().run()


def _nest(invocation_id: str) -> None:
    """A thread that starts a thread of its own."""
    inner = threading.Thread(target=work, args=("nested", invocation_id, 0.001))
    inner.start()
    inner.join()


def _fan_out_sync(invocation_id: str) -> None:
    work("main", invocation_id)
    threads = [
        threading.Thread(target=work, args=("thread", invocation_id, 0.001)),
        threading.Thread(target=_nest, args=(invocation_id,)),
        threading.Timer(0.001, work, args=("timer", invocation_id)),
        Relay(target=work, args=("subclass", invocation_id, 0.001)),
    ]
    for t in threads:
        t.start()
    with ThreadPoolExecutor(max_workers=3) as pool:
        pool.submit(work, "submit", invocation_id, 0.001).result()
        list(pool.map(work, ["map-0", "map-1", "map-2"], [invocation_id] * 3, [0.001] * 3))
    for t in threads:
        t.join()


@app.queue_trigger(arg_name="msg", queue_name="fanout", connection="AzureWebJobsStorage")
def fanout(msg: func.QueueMessage, context: func.Context) -> None:
    _fan_out_sync(context.invocation_id)
    if msg.get_body() == b"fail":
        raise RuntimeError(f"fanout failed as asked for {context.invocation_id}")


async def _awork(kind: str, invocation_id: str) -> str:
    with tracer.start_as_current_span(f"work.{kind}", attributes={"test.invocation_id": invocation_id}):
        await asyncio.sleep(0)
        log.info("%s for %s", kind, invocation_id)
    return kind


@app.queue_trigger(arg_name="msg", queue_name="afanout", connection="AzureWebJobsStorage")
async def afanout(msg: func.QueueMessage, context: func.Context) -> None:
    invocation_id = context.invocation_id
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0)
    work("main", invocation_id)
    await asyncio.gather(
        asyncio.to_thread(work, "to_thread", invocation_id),
        loop.run_in_executor(None, work, "default_executor", invocation_id),
        loop.run_in_executor(CUSTOM_POOL, work, "custom_executor", invocation_id),
        asyncio.create_task(_awork("task", invocation_id)),
    )
    if msg.get_body() == b"fail":
        raise RuntimeError(f"afanout failed as asked for {invocation_id}")


# Two overlapping invocations of `acallback`: the "first" schedules a plain loop callback (no task) once the
# "second" has started, and the second stays in flight until that callback has run.
_second_started = asyncio.Event()
_callback_done = asyncio.Event()


@app.queue_trigger(arg_name="msg", queue_name="acallback", connection="AzureWebJobsStorage")
async def acallback(msg: func.QueueMessage, context: func.Context) -> None:
    invocation_id = context.invocation_id
    if msg.get_body() == b"second":
        _second_started.set()
        await asyncio.wait_for(_callback_done.wait(), 30)  # bounded: a lone call fails instead of hanging
        return
    await asyncio.wait_for(_second_started.wait(), 30)
    loop = asyncio.get_running_loop()
    ran = loop.create_future()

    def callback() -> None:
        work("callback", invocation_id)
        ran.set_result(None)

    loop.call_soon(callback)
    await ran
    _callback_done.set()


def _shared_work(invocation_id: str, fail: bool) -> None:
    work("shared", invocation_id)
    if fail:
        raise RuntimeError(f"shared work failed as asked for {invocation_id}")


@app.queue_trigger(arg_name="msg", queue_name="shared", connection="AzureWebJobsStorage")
def shared(msg: func.QueueMessage, context: func.Context) -> None:
    SHARED_POOL.submit(_shared_work, context.invocation_id, msg.get_body() == b"fail").result()


# -- retries ------------------------------------------------------------------------------------------------------


def _retry_view() -> dict | None:
    inv = funcscope.current()
    if inv is None:
        return None
    r = inv.retry
    return {"count": r.count, "max_count": r.max_count, "is_final": r.is_final, "previous_failure": r.previous_failure}


def _log_retry_view(where: str, invocation_id: str) -> None:
    log.info("retry view %s for %s", where, invocation_id, extra={"retry_view": _retry_view()})


def _attempt(event: func.EventHubEvent, invocation_id: str) -> None:
    _log_retry_view("main", invocation_id)
    t = threading.Thread(target=_log_retry_view, args=("thread", invocation_id))
    t.start()
    t.join()
    if event.get_body() == b"fail":
        raise RuntimeError(f"attempt failed for {invocation_id}")


async def _aattempt(event: func.EventHubEvent, invocation_id: str) -> None:
    await asyncio.sleep(0)
    _log_retry_view("main", invocation_id)
    t = threading.Thread(target=_log_retry_view, args=("thread", invocation_id))
    t.start()
    await asyncio.to_thread(t.join)
    if event.get_body() == b"fail":
        raise RuntimeError(f"attempt failed for {invocation_id}")


@app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:01")
@app.event_hub_message_trigger(arg_name="event", event_hub_name="readings", connection="EventHubConnection")
def retried(event: func.EventHubEvent, context: func.Context) -> None:
    _attempt(event, context.invocation_id)


@app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:01")
@app.event_hub_message_trigger(arg_name="event", event_hub_name="areadings", connection="EventHubConnection")
async def aretried(event: func.EventHubEvent, context: func.Context) -> None:
    await _aattempt(event, context.invocation_id)


@app.event_hub_message_trigger(arg_name="event", event_hub_name="once", connection="EventHubConnection")
def once(event: func.EventHubEvent, context: func.Context) -> None:
    _attempt(event, context.invocation_id)


@app.event_hub_message_trigger(arg_name="event", event_hub_name="aonce", connection="EventHubConnection")
async def aonce(event: func.EventHubEvent, context: func.Context) -> None:
    await _aattempt(event, context.invocation_id)
