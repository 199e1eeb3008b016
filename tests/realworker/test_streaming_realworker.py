"""HTTP streaming in the real classic worker (`PYTHON_ENABLE_INIT_INDEXING=1`, the FastAPI extension installed):
the worker starts the extension's web server, the driver forwards each request there as the host does and reads
the response as it streams. The invocation span ends with the stream, logs made while streaming reach the host
under the invocation's id; hooks and wrapping alike."""

from __future__ import annotations

import pytest

from funcscope.bench.realworker.client import RealWorker

from .conftest import APPS, new_trace
from .helpers import children, the_span

APP = APPS / "streaming_v2"


@pytest.fixture(scope="module", params=[True, False], ids=["hooks", "wrapping"])
def worker(request, location):
    env = {"PYTHON_ENABLE_INIT_INDEXING": "1"}
    with RealWorker(APP, extensions_enabled=request.param, thread_count=2, env=env, location=location) as w:
        yield w


def test_the_span_ends_with_the_stream(worker):
    trace_id, host_span, traceparent = new_trace()
    result = worker.invoke("stream", {"url": "http://localhost/api/stream?count=3"}, trace_parent=traceparent)
    result.raise_for_exception()
    streamed = result.streamed
    assert streamed is not None and streamed["status_code"] == 200
    assert "".join(streamed["chunks"]) == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    spans = worker.spans()
    span = the_span(spans, result.invocation_id)
    assert (span["trace_id"], span["parent_span_id"]) == (trace_id, host_span)
    a = span["attributes"]
    assert a["http.request.method"] == "GET" and a["url.path"] == "/api/stream"
    assert a["http.response.status_code"] == 200 and a["azure.functions.http.stream.outcome"] == "completed"
    assert 0 < a["azure.functions.http.stream.time_to_first_byte"] < (span["end_ns"] - span["start_ns"]) / 1e9
    # The span lasted as long as the body: past the invocation's answer to the host.
    assert span["end_ns"] - span["start_ns"] >= 0.1e9
    assert sorted(s["name"] for s in children(spans, span)) == ["reading 0", "reading 1", "reading 2"]
    lines = [log for log in worker.logs() if log.category == "rwapp"]
    assert [log.message for log in lines] == ["reading 0", "reading 1", "reading 2"]
    assert {log.invocation_id for log in lines} == {result.invocation_id}  # attributed, from Starlette's thread


def test_a_failing_body_ends_the_span_in_error(worker):
    trace_id, _, traceparent = new_trace()
    payload = {"url": "http://localhost/api/astream/broken", "route_params": {"kind": "broken"}}
    result = worker.invoke("astream", payload, trace_parent=traceparent)
    result.raise_for_exception()  # the function returned; the body failed while the server sent it
    assert "".join(result.streamed["chunks"]) == "chunk 0\nchunk 1\n"
    span = the_span(worker.spans(), result.invocation_id)
    assert span["status"] == "ERROR" and "chunk 2 broke" in span["status_description"]
    assert span["attributes"]["azure.functions.http.stream.outcome"] == "failed"
    lines = [log for log in worker.logs() if log.category == "rwapp"]
    assert {log.invocation_id for log in lines} == {result.invocation_id}
