"""A v2 test app whose functions are wrapped with @funcscope.function: traced even where no hook runs."""

import asyncio
import logging
import threading

import azure.functions as func
from opentelemetry import trace

import funcscope
from tests.integration import capture

capture.install()
funcscope.configure()

app = func.FunctionApp()
log = logging.getLogger("wrapped_v2")


def _log_from_thread(message: str) -> None:
    thread = threading.Thread(target=log.info, args=(message,))
    thread.start()
    thread.join()


@app.route(route="plain")
@funcscope.function(attributes={"flavour": "sync"})
def plain(req: func.HttpRequest) -> func.HttpResponse:
    if req.params.get("fail"):
        raise ValueError("plain failed as asked")
    _log_from_thread("plain thread log")
    span = trace.get_current_span().get_span_context()
    return func.HttpResponse(format(span.span_id, "016x"))


@app.route(route="asks")
@funcscope.function
async def asks(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    await asyncio.sleep(0)
    if req.params.get("fail"):
        raise ValueError("asks failed as asked")
    await asyncio.to_thread(log.info, "asks thread log")
    return func.HttpResponse(context.invocation_id)


@app.function_name(name="renamed")
@app.route(route="renamed")
@funcscope.function(name="renamed", sample_ratio=0.0)
def renamed_python_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")
