"""A v2 app with HTTP streaming (azurefunctions-extensions-http-fastapi): bodies from a plain and an async
generator that log and trace as they go, one that fails halfway."""

import asyncio
import logging
import time

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, StreamingResponse
from opentelemetry import trace

import funcscope

funcscope.configure()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
log = logging.getLogger("rwapp")
tracer = trace.get_tracer("rwapp")


def readings(count):
    for i in range(count):
        with tracer.start_as_current_span(f"reading {i}"):
            log.info("reading %d", i)
        yield f"data: {i}\n\n"
        time.sleep(0.05)


async def chunks(fail_at):
    for i in range(4):
        if i == fail_at:
            raise RuntimeError(f"chunk {i} broke")
        log.info("chunk %d", i)
        yield f"chunk {i}\n"
        await asyncio.sleep(0.05)


@app.route(route="stream", methods=[func.HttpMethod.GET])
async def stream(req: Request) -> StreamingResponse:
    return StreamingResponse(readings(int(req.query_params.get("count", "3"))), media_type="text/event-stream")


@app.route(route="astream/{kind}", methods=[func.HttpMethod.GET])
async def astream(req: Request) -> StreamingResponse:
    return StreamingResponse(chunks(2 if req.path_params.get("kind") == "broken" else None), media_type="text/plain")
