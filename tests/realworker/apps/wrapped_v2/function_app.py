"""A v2 app for a worker with extension hooks off: functions with `@funcscope.function` options, and one without.

The recording extension registers (its class is created) but, with hooks off, the worker never calls it.
"""

import asyncio

import azure.functions as func
import rwrecord
import rwwork

import funcscope

AppFirst = rwrecord.app_recorder("AppFirst", __name__)
funcscope.configure()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="plain")
@funcscope.function(attributes={"flavour": "sync"})
def plain(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return rwwork.run_sync(req, context)


@app.route(route="asks")
@funcscope.function
async def asks(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    await asyncio.sleep(0)
    return await rwwork.run_async(req, context)


@app.route(route="nocontext")
@funcscope.function
def nocontext(req: func.HttpRequest) -> func.HttpResponse:
    if req.params.get("action") == "raise":
        raise ValueError("nocontext failed as asked")
    return func.HttpResponse("ok")


@app.route(route="bare")
def bare(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return rwwork.run_sync(req, context)
