"""A v2 test app that leaves export to funcscope: it configures no provider of its own, only funcscope.

Export tests run it in fresh processes, where funcscope sets up the providers from the app settings.
Every function says which process ran it (`test.pid` on the invocation span, and in its result).
"""

import asyncio
import json
import os

import azure.functions as func
from opentelemetry import trace

import funcscope
from funcscope.telemetry.resource import PROCESS_INSTANCE_ID

funcscope.configure()

app = func.FunctionApp()
tracer = trace.get_tracer("exported_v2")


def _observed() -> str:
    span = trace.get_current_span()
    span.set_attribute("test.pid", os.getpid())
    return json.dumps(
        {
            "span_id": format(span.get_span_context().span_id, "016x"),
            "pid": os.getpid(),
            "instance": PROCESS_INSTANCE_ID,
        }
    )


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    with tracer.start_as_current_span("hello-child"):
        pass
    return func.HttpResponse(_observed())


@app.route(route="ahello")
async def ahello(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse(_observed())


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom as asked")


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
def on_order(msg: func.QueueMessage) -> None:
    _observed()


@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")
def tick(timer: func.TimerRequest) -> None:
    _observed()
