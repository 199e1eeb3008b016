"""A v2 app with HTTP streaming (azurefunctions-extensions-http-fastapi): streamed responses from a sync and an
async generator that log and trace as they go, one that fails halfway, a streamed upload and a plain response."""

import asyncio
import logging
import time

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request, StreamingResponse
from opentelemetry import trace

import funcscope
from tests.integration import capture

capture.install()
funcscope.configure()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
log = logging.getLogger("streaming_v2")
tracer = trace.get_tracer("streaming_v2")


def sensor_data(count: int, pause: float):
    """The seed's example: a plain generator, which Starlette steps on a thread of its own."""
    for i in range(count):
        with tracer.start_as_current_span(f"reading {i}"):
            log.info("reading %d", i)
        yield f"data: {{'temperature': {20 + i}}}\n\n"
        time.sleep(pause)


async def async_data(count: int, fail_at: int | None):
    for i in range(count):
        if i == fail_at:
            raise RuntimeError(f"sensor {i} broke, AccountKey=abc123==")
        with tracer.start_as_current_span(f"chunk {i}"):
            log.info("chunk %d", i)
        yield f"chunk {i}\n"
        await asyncio.sleep(0.05)


@app.route(route="stream", methods=[func.HttpMethod.GET])
async def stream(req: Request) -> StreamingResponse:
    count = int(req.query_params.get("count", "3"))
    return StreamingResponse(sensor_data(count, 0.05), media_type="text/event-stream")


@app.route(route="astream/{kind}", methods=[func.HttpMethod.GET])
async def astream(req: Request) -> StreamingResponse:
    fail_at = 2 if req.path_params.get("kind") == "broken" else None
    return StreamingResponse(async_data(4, fail_at), media_type="text/plain")


@app.route(route="upload", methods=[func.HttpMethod.POST])
async def upload(req: Request) -> JSONResponse:
    size = 0
    async for chunk in req.stream():
        size += len(chunk)
    return JSONResponse({"received": size}, status_code=201)
