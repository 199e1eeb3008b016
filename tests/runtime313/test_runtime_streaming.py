"""HTTP streaming on the real `azure-functions-runtime` (the FastAPI extension): the runtime starts the extension's
web server, the proxy sends the request there as the host does and reads the response as it streams. The
invocation span ends with the stream, in the host's trace; the app is the emulator's (tests/integration)."""

from __future__ import annotations

from ..integration.conftest import APPS
from .conftest import HOST_TRACE, host_parent
from .proxy import Call


def _span(spans, invocation_id):
    (span,) = [s for s in spans if s.attributes.get("faas.invocation_id") == invocation_id]
    return span


def test_the_span_ends_with_the_stream_on_the_runtime(proxy, spans):
    app = proxy(APPS / "streaming_v2")
    assert app.http_uri is not None  # the runtime streams: it runs the extension's web server
    call = Call("stream", url="http://localhost/api/stream?count=3", trace_parent=host_parent(1))
    (result,) = app.invoke_many([call])
    assert result.ok, result.error
    assert "".join(result.streamed or []) == "".join(f"data: {{'temperature': {20 + i}}}\n\n" for i in range(3))
    finished = spans.get_finished_spans()
    span = _span(finished, result.invocation_id)
    assert (format(span.context.trace_id, "032x"), span.parent.span_id) == (HOST_TRACE, 2)
    a = span.attributes
    assert (a["http.request.method"], a["url.path"], a["http.response.status_code"]) == ("GET", "/api/stream", 200)
    assert a["azure.functions.http.stream.outcome"] == "completed"
    assert 0 < a["azure.functions.http.stream.time_to_first_byte"] < (span.end_time - span.start_time) / 1e9
    assert span.end_time - span.start_time >= 0.1e9  # three chunks 50 ms apart: the span lasted as the body did
    readings = sorted(s.name for s in finished if s.parent is not None and s.parent.span_id == span.context.span_id)
    assert readings == ["reading 0", "reading 1", "reading 2"]
    lines = [line for line in result.user_logs() if line.logger == "streaming_v2"]
    assert [line.message for line in lines] == ["reading 0", "reading 1", "reading 2"]


def test_a_failing_body_ends_the_span_in_error_on_the_runtime(proxy, spans):
    app = proxy(APPS / "streaming_v2")
    url, route = "http://localhost/api/astream/broken", {"kind": "broken"}
    call = Call("astream", url=url, route_params=route, trace_parent=host_parent(2))
    (result,) = app.invoke_many([call])
    assert result.ok, result.error  # the function returned; the body failed while the server sent it
    assert "".join(result.streamed or []) == "chunk 0\nchunk 1\n"
    span = _span(spans.get_finished_spans(), result.invocation_id)
    assert span.status.status_code.name == "ERROR" and "sensor 2 broke" in (span.status.description or "")
    assert "abc123" not in (span.status.description or "")  # the account key is redacted
    assert span.attributes["azure.functions.http.stream.outcome"] == "failed"
