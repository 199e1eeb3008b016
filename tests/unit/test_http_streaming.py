"""A streamed HTTP response's invocation span, through the runner, with Starlette's own StreamingResponse and its
body driven as Starlette's `stream_response` drives it (the same through the emulator's web server is in
tests/integration/test_http_streaming_worker.py)."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse

from funcscope.instrumentation import http_streaming
from funcscope.runtime import get_runner
from funcscope.shared.triggers import declare_function, trigger_from_bindings

from .fakes import FakeContext

APP = object()


def starlette_request(path="/api/stream", query=b"code=SECRET&x=1"):
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "server": ("127.0.0.1", 7071),
        "path": path,
        "query_string": query,
        "headers": [(b"host", b"localhost:7071")],
    }
    return Request(scope)


@pytest.fixture(autouse=True)
def http_function():
    get_runner().configure(metrics=False)  # funcscope's patches on, as an app's configure() puts them
    declare_function("Stream", trigger_from_bindings([{"type": "httpTrigger", "name": "req"}], "Stream"))
    yield
    declare_function("Stream", None)


def invoke(make_response):
    """One invocation whose function returns `make_response()`, as the hooks or the wrapper run it."""
    ctx = FakeContext(function_name="Stream")
    runner = get_runner()
    runner.start(ctx, {"req": starlette_request()}, APP)
    response = make_response()
    runner.finish(ctx, response, APP)
    return response


async def drain(response):
    chunks = []
    async for chunk in response.body_iterator:
        chunks.append(chunk)
    return chunks


def test_span_ends_when_the_body_ends(spans):
    def body():
        for i in range(3):
            logging.getLogger("stream.test").info("chunk %d", i)
            yield f"{i}"

    response = invoke(lambda: StreamingResponse(body(), media_type="text/plain"))
    assert spans.get_finished_spans() == ()  # the function returned; the body has not been sent yet
    assert isinstance(response.body_iterator, http_streaming.InvocationStream)
    assert asyncio.run(drain(response)) == ["0", "1", "2"]
    (span,) = spans.get_finished_spans()
    a = span.attributes
    assert a["http.request.method"] == "GET" and "SECRET" not in a["url.full"] and a["url.path"] == "/api/stream"
    assert a["http.response.status_code"] == 200 and a["azure.functions.http.stream.outcome"] == "completed"
    assert 0 <= a["azure.functions.http.stream.time_to_first_byte"] <= (span.end_time - span.start_time) / 1e9


def test_a_failing_body_is_an_error(spans):
    async def body():
        yield b"a"
        raise ValueError("broke with AccountKey=abc123==")

    response = invoke(lambda: StreamingResponse(body()))
    with pytest.raises(ValueError):
        asyncio.run(drain(response))
    (span,) = spans.get_finished_spans()
    assert span.status.status_code.name == "ERROR" and "abc123" not in span.status.description
    assert span.attributes["azure.functions.http.stream.outcome"] == "failed"


def test_a_closed_body_is_cancelled_and_a_dropped_one_abandoned(spans):
    async def body():
        yield b"a"
        yield b"b"

    async def read_one_and_close(response):
        iterator = response.body_iterator
        await iterator.__anext__()
        await iterator.aclose()

    asyncio.run(read_one_and_close(invoke(lambda: StreamingResponse(body()))))
    invoke(lambda: StreamingResponse(body()))  # nobody ever reads it
    gc.collect()
    cancelled, abandoned = spans.get_finished_spans()
    assert cancelled.attributes["azure.functions.http.stream.outcome"] == "cancelled"
    assert cancelled.status.status_code.name == "UNSET"
    assert abandoned.attributes["azure.functions.http.stream.outcome"] == "abandoned"
    assert abandoned.status.status_code.name == "ERROR"


def test_a_plain_response_ends_the_span_at_once(spans):
    invoke(lambda: JSONResponse({"ok": True}, status_code=503))
    (span,) = spans.get_finished_spans()
    assert span.attributes["http.response.status_code"] == 503 and span.status.status_code.name == "ERROR"
    assert "azure.functions.http.stream.outcome" not in span.attributes


def test_outside_an_invocation_nothing_changes():
    response = StreamingResponse(iter([b"x"]))
    assert not isinstance(response.body_iterator, http_streaming.InvocationStream)


def test_uninstrument_restores_starlette():
    http_streaming.uninstrument()
    try:
        assert not hasattr(StreamingResponse.__init__, "__wrapped__")
    finally:
        http_streaming.instrument()
    assert hasattr(StreamingResponse.__init__, "__wrapped__")
