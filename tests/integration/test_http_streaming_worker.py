"""HTTP streaming through the worker emulator, with the extension's own web server on 127.0.0.1: the FastAPI
request's HTTP attributes, the span ending with the response stream (or failing with it), the time to the first
byte, and the spans and logs made while streaming inside the invocation; hook path and Python 3.13+ model."""

from __future__ import annotations

import pytest

from funcscope.emulator import Worker
from funcscope.emulator.http_streaming import StreamedResponse

from . import capture
from .conftest import APPS, HOST_TRACE, host_parent

APP = APPS / "streaming_v2"
ENV = {"PYTHON_ENABLE_INIT_INDEXING": "1"}
MODELS = {"hooks": {"extensions_enabled": True}, "3.13": {"extensions_enabled": True, "hooks": "none"}}


def span_named(name):
    (span,) = [s for s in capture.finished_spans() if s["name"] == name]
    return span


def spans_under(parent):
    return [s for s in capture.finished_spans() if s["parent_span_id"] == parent["span_id"]]


@pytest.fixture(params=sorted(MODELS))
def worker(request):
    with Worker(APP, thread_count=2, env=ENV, **MODELS[request.param]) as w:
        yield w


def test_span_ends_with_the_stream_and_holds_what_was_streamed(worker):
    result = worker.invoke(
        "stream", {"url": "http://localhost:7071/api/stream?count=3&code=SECRET"}, trace_parent=host_parent(1)
    )
    result.raise_for_exception()
    streamed = result.value
    assert isinstance(streamed, StreamedResponse) and streamed.status_code == 200
    assert streamed.body.count(b"data:") == 3 and len(streamed.chunks) >= 1
    span = span_named("stream")
    assert span["trace_id"] == HOST_TRACE and span["parent_span_id"] == f"{2:016x}"
    a = span["attributes"]
    assert a["http.request.method"] == "GET" and a["url.path"] == "/api/stream" and "SECRET" not in a["url.full"]
    assert a["http.route"] == "/api/stream" and a["http.response.status_code"] == 200
    assert a["azure.functions.http.stream.outcome"] == "completed"
    ttfb = a["azure.functions.http.stream.time_to_first_byte"]
    assert 0 < ttfb < span_duration(span)
    # The readings were traced and logged while the body streamed: inside the invocation.
    assert sorted(s["name"] for s in spans_under(span)) == ["reading 0", "reading 1", "reading 2"]
    logged = [e for e in worker.late_logs + result.logs if e.logger_name == "streaming_v2"]
    assert [e.message for e in logged] == ["reading 0", "reading 1", "reading 2"]
    assert {e.invocation_id for e in logged} == {result.invocation_id}
    assert {e.fields.get("invocation_id") for e in logged} == {result.invocation_id}


def span_duration(span):
    return (span["end_ns"] - span["start_ns"]) / 1e9


def test_async_body_and_a_body_that_fails(worker):
    def call(kind, n):  # the host sends the route parameters with the invocation; the worker syncs them
        payload = {"url": f"http://localhost/api/astream/{kind}", "route_params": {"kind": kind}}
        return worker.invoke("astream", payload, trace_parent=host_parent(n))

    ok, broken = call("ok", 3), call("broken", 4)
    ok.raise_for_exception()
    broken.raise_for_exception()  # the function returned; its body failed while the server sent it
    assert ok.value.body == b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n"
    assert broken.value.body == b"chunk 0\nchunk 1\n"
    spans = [s for s in capture.finished_spans() if s["name"] == "astream"]
    good, bad = sorted(spans, key=lambda s: s["parent_span_id"])
    assert good["status"] == "UNSET" and good["attributes"]["azure.functions.http.stream.outcome"] == "completed"
    assert len(spans_under(good)) == 4
    assert bad["status"] == "ERROR" and bad["attributes"]["azure.functions.http.stream.outcome"] == "failed"
    assert "RuntimeError" in bad["status_description"] and "abc123" not in bad["status_description"]
    (event,) = [e for e in bad["events"] if e[0] == "exception"]
    assert "abc123" not in event[1]["exception.message"]
    assert bad["attributes"]["http.route"] == "/api/astream/{kind}"


def test_streamed_upload_and_a_plain_response(worker):
    result = worker.invoke("upload", {"method": "POST", "url": "http://localhost/api/upload", "body": b"x" * 100_000})
    result.raise_for_exception()
    assert result.value.status_code == 201 and result.value.body == b'{"received":100000}'
    span = span_named("upload")
    a = span["attributes"]
    assert a["http.request.method"] == "POST" and a["http.response.status_code"] == 201
    assert "azure.functions.http.stream.outcome" not in a  # not a streamed response: it ends as the function returns
