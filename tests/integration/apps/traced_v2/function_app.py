"""A v2 test app traced by funcscope: sync and async functions that succeed, fail, open child spans and log."""

import asyncio
import logging
import os
import threading

import azure.functions as func
from opentelemetry import trace

import funcscope
from tests.integration import capture

capture.install()
funcscope.configure()

app = func.FunctionApp()
tracer = trace.get_tracer("traced_v2")
log = logging.getLogger("traced_v2")


def _observed(name):
    inv = funcscope.current()
    span = trace.get_current_span().get_span_context()
    return {
        "function": name,
        "current": inv.invocation_id if inv else None,
        "trace_id": format(span.trace_id, "032x"),
        "span_id": format(span.span_id, "016x"),
        "pid": os.getpid(),
        "thread": threading.current_thread().name,
    }


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    if req.params.get("fail"):
        raise ValueError("hello failed as asked")
    with tracer.start_as_current_span("hello-child"):
        log.info("hello from the function")
    return func.HttpResponse(str(_observed("hello")), status_code=int(req.params.get("status", "200")))


@app.route(route="ahello")
async def ahello(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    if req.params.get("fail"):
        raise ValueError("ahello failed as asked")
    with tracer.start_as_current_span("ahello-child"):
        await asyncio.sleep(0.001)
    return func.HttpResponse(str(_observed("ahello")))


@app.function_name(name="observe")
@app.route(route="observe")
def observe(req: func.HttpRequest) -> str:
    return str(_observed("observe"))


@app.route(route="aobserve")
async def aobserve(req: func.HttpRequest) -> str:
    await asyncio.sleep(0)
    return str(_observed("aobserve"))


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
def on_order(msg: func.QueueMessage) -> None:
    if msg.get_body() == b"poison":
        raise RuntimeError("cannot process this order")
    log.info("order %s", msg.id)


@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")
def tick(timer: func.TimerRequest) -> None:
    log.info("tick")
