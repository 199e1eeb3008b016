"""The benchmark function app: each workload as a sync and an async HTTP function.

The configuration to run in (and so the worker extension to register) comes from the `FUNCSCOPE_BENCH_CONFIG`
setting, read as the app is imported, so every worker process configures itself. The body opens what the
configuration's users write themselves (`body_span`): one span on the OpenCensus extension's tracer, one hand-written
OpenTelemetry span, the host context attached by hand, or nothing.
"""

import asyncio
import os
import time

import azure.functions as func

from funcscope.bench.configs import CPU_LOOPS_SETTING, body_span, configure_app, cpu_work

user_span = body_span(configure_app())

IO_WAIT_S = 0.005
CPU_LOOPS = int(os.environ.get(CPU_LOOPS_SETTING) or "20000")
OK = func.HttpResponse("ok")

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="trivial-sync")
def trivial_sync(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    with user_span(context):
        return OK


@app.route(route="trivial-async")
async def trivial_async(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    with user_span(context):
        return OK


@app.route(route="io-sync")
def io_sync(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    with user_span(context):
        time.sleep(IO_WAIT_S)
        return OK


@app.route(route="io-async")
async def io_async(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    with user_span(context):
        await asyncio.sleep(IO_WAIT_S)
        return OK


@app.route(route="cpu-sync")
def cpu_sync(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    with user_span(context):
        cpu_work(CPU_LOOPS)
        return OK


@app.route(route="cpu-async")
async def cpu_async(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    with user_span(context):
        cpu_work(CPU_LOOPS)
        return OK
