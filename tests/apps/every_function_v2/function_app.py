"""A v2 app for the real Python 3.13+ runtime: funcscope configured once, no function decorated for tracing.

Functions are registered before and after `configure()`, on the app and on blueprints. Each function starts
child work every way there is (thread, pool, executor, `to_thread`, task, loop callback), and each piece opens
a span and logs, so the tests can check the parent of every span and the invocation of every log record.
"""

import asyncio
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import azure.functions as func
from opentelemetry import trace

import funcscope

log = logging.getLogger("shop")
tracer = trace.get_tracer("shop")
app = func.FunctionApp()
early_blueprint = func.Blueprint()
late_blueprint = func.Blueprint()


def _child(name: str) -> None:
    with tracer.start_as_current_span(name):
        log.info("log from %s", name)


def _sync_children() -> None:
    thread = threading.Thread(target=_child, args=("thread",))
    thread.start()
    thread.join()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(_child, "pool").result()


async def _async_children() -> None:
    await asyncio.create_task(asyncio.to_thread(_child, "to_thread"))
    await asyncio.get_running_loop().run_in_executor(None, _child, "executor")
    await asyncio.create_task(_achild("task"))
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(lambda: (_child("callback"), done.set_result(None)))
    await done
    thread = threading.Thread(target=_child, args=("thread",))
    thread.start()
    await asyncio.to_thread(thread.join)


async def _achild(name: str) -> None:
    await asyncio.sleep(0)
    _child(name)


def _observed(req: func.HttpRequest) -> func.HttpResponse:
    if req.params.get("fail"):
        raise ValueError("failed as asked")
    invocation = funcscope.current()
    span = trace.get_current_span().get_span_context()
    log.info("log from the function")
    return func.HttpResponse(
        json.dumps(
            {
                "invocation_id": invocation.invocation_id if invocation else None,
                "retry_count": invocation.retry.count if invocation else None,
                "span_id": format(span.span_id, "016x"),
                "thread": threading.current_thread().name,
            }
        )
    )


@app.route(route="early")
def early(req: func.HttpRequest) -> func.HttpResponse:
    _sync_children()
    return _observed(req)


@early_blueprint.route(route="blueprint_early")
async def blueprint_early(req: func.HttpRequest) -> func.HttpResponse:
    await _async_children()
    return _observed(req)


app.register_functions(early_blueprint)

funcscope.configure()


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    _sync_children()
    return _observed(req)


@app.route(route="ahello")
async def ahello(req: func.HttpRequest) -> func.HttpResponse:
    await _async_children()
    return _observed(req)


@app.route(route="decorated")
@funcscope.function(attributes={"team": "orders"})
def decorated(req: func.HttpRequest) -> func.HttpResponse:
    _sync_children()
    return _observed(req)


@app.route(route="adecorated")
@funcscope.function
async def adecorated(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    await _async_children()
    log.info("log from the function")
    return func.HttpResponse(json.dumps({"invocation_id": context.invocation_id}))


@late_blueprint.function_name(name="renamed")
@late_blueprint.route(route="blueprint_late")
def blueprint_late(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    _sync_children()
    log.info("log from the function")
    return func.HttpResponse(json.dumps({"invocation_id": context.invocation_id}))


app.register_functions(late_blueprint)
