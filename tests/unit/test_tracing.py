"""The trace middleware through the runner: span shape, parentage, status, sampling and bad trace parents.
(The same through the worker emulator, on threads, tasks and processes, is in tests/integration.)"""

from __future__ import annotations

import logging

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import funcscope
from funcscope.runtime import get_runner
from funcscope.shared.settings import FunctionOptions

from .fakes import FakeContext

HOST_TRACE = "0af7651916cd43dd8448eb211c80319c"
HOST_SPAN = "b7ad6b7169203331"
SAMPLED = f"00-{HOST_TRACE}-{HOST_SPAN}-01"
NOT_SAMPLED = f"00-{HOST_TRACE}-{HOST_SPAN}-00"
APP = object()


class Retry:
    def __init__(self, count, max_count):
        self.retry_count, self.max_retry_count = count, max_count
        self.rpc_exception = type("E", (), {"message": "previous failure"})()


def run(ctx, args=None, result=None, error=None, body=None):
    runner = get_runner()
    runner.start(ctx, args or {}, APP)
    inside = trace.get_current_span()
    if body is not None:
        body()
    if error is not None:
        runner.fail(ctx, error)
    else:
        runner.finish(ctx, result, APP)
    return inside


def http_request(url="http://localhost:7071/api/orders?code=SECRET&x=1"):
    return func.HttpRequest("POST", url, body=b"", headers={"x-functions-key": "k"})


def test_http_span(spans):
    ctx = FakeContext(function_name="Orders", trace_parent=SAMPLED, retry_context=Retry(1, 3))
    inside = run(ctx, {"req": http_request()}, result=func.HttpResponse("ok", status_code=201))
    (span,) = spans.get_finished_spans()
    assert inside.get_span_context().span_id == span.context.span_id  # current inside the invocation
    assert span.name == "Orders" and span.kind is SpanKind.INTERNAL  # the host's span is the request
    assert format(span.context.trace_id, "032x") == HOST_TRACE
    assert format(span.parent.span_id, "016x") == HOST_SPAN and span.parent.is_remote
    a = span.attributes
    assert a["faas.invocation_id"] == ctx.invocation_id and a["faas.name"] == "Orders"
    assert a["faas.trigger"] == "http" and a["faas.coldstart"] is True
    assert "cloud.provider" not in a and "cloud.platform" not in a  # the resource's, not every span's
    assert a["http.request.method"] == "POST" and a["http.response.status_code"] == 201
    assert a["url.path"] == "/api/orders"
    assert "SECRET" not in a["url.full"] and "code=REDACTED" in a["url.full"]
    assert (a["azure.functions.retry.count"], a["azure.functions.retry.max_count"]) == (1, 3)
    assert a["azure.functions.retry.is_final"] is False
    assert span.status.status_code is StatusCode.UNSET
    assert trace.get_current_span() is trace.INVALID_SPAN  # the thread's context is restored


@pytest.mark.parametrize(
    "args, kind",
    [
        ({"req": http_request()}, SpanKind.SERVER),
        ({"msg": func.QueueMessage(id="m-1", body=b"x")}, SpanKind.CONSUMER),
        ({"blob": func.blob.InputStream(data=b"x", name="b")}, SpanKind.CONSUMER),
        ({"timer": TimerRequest()}, SpanKind.INTERNAL),
    ],
    ids=["http", "queue", "blob", "timer"],
)
@pytest.mark.parametrize("span_kind", ["internal", "trigger"])
def test_span_kind_setting(spans, args, kind, span_kind):
    funcscope.configure(span_kind=span_kind)
    run(FakeContext(), args)
    (span,) = spans.get_finished_spans()
    assert span.kind is (kind if span_kind == "trigger" else SpanKind.INTERNAL)


def test_http_5xx_is_error(spans):
    run(FakeContext(), {"req": http_request()}, result=func.HttpResponse("no", status_code=503))
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR and span.attributes["http.response.status_code"] == 503


def test_an_http_function_that_raises_answered_500(spans):
    """The host answers 500 for it: a request item (span_kind="trigger") shows that code, not 0."""
    run(FakeContext(function_name="Orders"), {"req": http_request()}, error=RuntimeError("failed"))
    run(FakeContext(function_name="Drain"), {"msg": func.QueueMessage(id="m-1", body=b"x")}, error=RuntimeError("no"))
    http, queue = spans.get_finished_spans()
    assert http.status.status_code is StatusCode.ERROR and http.attributes["http.response.status_code"] == 500
    assert "http.response.status_code" not in queue.attributes


def test_exception_is_recorded_redacted(spans):
    error = RuntimeError("cannot reach AccountKey=abc123== today")
    run(FakeContext(), {"msg": func.QueueMessage(id="m-1", body=b"x")}, error=error)
    (span,) = spans.get_finished_spans()
    assert span.attributes["messaging.system"] == "azure.storage.queue"
    assert span.attributes["messaging.message.id"] == "m-1"
    assert span.status.status_code is StatusCode.ERROR and "RuntimeError" in span.status.description
    (event,) = span.events
    assert event.name == "exception" and event.attributes["exception.type"] == "RuntimeError"
    assert "abc123" not in event.attributes["exception.message"]
    assert "abc123" not in span.status.description


def test_user_spans_are_children(spans):
    tracer = trace.get_tracer("user")

    def body():
        with tracer.start_as_current_span("user-work"):
            pass

    run(FakeContext(function_name="Timer"), {"timer": TimerRequest()}, body=body)
    user, invocation = spans.get_finished_spans()
    assert user.parent.span_id == invocation.context.span_id
    assert invocation.kind is SpanKind.INTERNAL and invocation.attributes["faas.trigger"] == "timer"


def test_host_not_sampled_creates_no_span_but_keeps_the_trace(spans):
    tracer = trace.get_tracer("user")
    seen = []

    def body():
        seen.append(trace.get_current_span().get_span_context())
        with tracer.start_as_current_span("user-work"):
            pass

    run(FakeContext(trace_parent=NOT_SAMPLED), body=body)
    assert spans.get_finished_spans() == ()
    assert format(seen[0].trace_id, "032x") == HOST_TRACE and not seen[0].trace_flags.sampled


@pytest.mark.parametrize("ratio, expected", [(0.0, 0), (1.0, 20)])
def test_root_ratio(spans, ratio, expected):
    get_runner().configure(sample_ratio=ratio)
    for _ in range(20):
        run(FakeContext(trace_parent=None))
    assert len(spans.get_finished_spans()) == expected


def test_root_ratio_is_a_ratio(spans):
    get_runner().configure(sample_ratio=0.5)
    for _ in range(400):
        run(FakeContext(trace_parent=None))
    assert 120 < len(spans.get_finished_spans()) < 280


def test_host_flag_wins_over_ratio(spans):
    get_runner().configure(sample_ratio=0.0)
    run(FakeContext(trace_parent=SAMPLED))
    assert len(spans.get_finished_spans()) == 1


def test_unsampled_root_still_has_ids(spans):
    get_runner().configure(sample_ratio=0.0)
    inside = run(FakeContext(trace_parent=None))
    assert inside.get_span_context().is_valid and not inside.get_span_context().trace_flags.sampled
    assert trace.get_current_span() is trace.INVALID_SPAN


@pytest.mark.parametrize(
    "trace_parent, problem",
    [
        ("garbage", "invalid"),
        (f"00-{'0' * 32}-{HOST_SPAN}-01", "invalid"),
        ("00-" + "f" * 1000, "oversized"),
        (f"00-{HOST_TRACE}-{HOST_SPAN}-01-extra", "invalid"),
    ],
)
def test_bad_traceparent_gives_a_marked_root_and_one_warning(spans, caplog, trace_parent, problem):
    caplog.set_level(logging.WARNING, logger="funcscope")
    for _ in range(3):
        run(FakeContext(trace_parent=trace_parent))
    finished = spans.get_finished_spans()
    assert len(finished) == 3
    for span in finished:
        assert span.parent is None and span.attributes["azure.functions.invalid_traceparent"] == problem
    assert len({s.context.trace_id for s in finished}) == 3
    assert len([r for r in caplog.records if r.name == "funcscope"]) == 1


def test_missing_traceparent_is_a_plain_root(spans, caplog):
    caplog.set_level(logging.WARNING, logger="funcscope")
    run(FakeContext(trace_parent=None))
    (span,) = spans.get_finished_spans()
    assert span.parent is None and "azure.functions.invalid_traceparent" not in span.attributes
    assert not [r for r in caplog.records if r.name == "funcscope"]


def test_odd_tracestate_keeps_the_parent(spans):
    run(FakeContext(trace_parent=SAMPLED, trace_state="=,==,\x00bad"))
    (span,) = spans.get_finished_spans()
    assert format(span.parent.span_id, "016x") == HOST_SPAN


def test_function_options(spans):
    get_runner().set_function_options("Quiet", FunctionOptions(tracing=False))
    get_runner().set_function_options("Tagged", FunctionOptions(attributes={"team": "billing"}, sample_ratio=0.0))
    inside = run(FakeContext(function_name="Quiet", trace_parent=SAMPLED))
    assert format(inside.get_span_context().span_id, "016x") == HOST_SPAN  # host's span stays current
    run(FakeContext(function_name="Tagged", trace_parent=None))  # sampled out by its own ratio
    run(FakeContext(function_name="Tagged", trace_parent=SAMPLED))
    (span,) = spans.get_finished_spans()
    assert span.name == "Tagged" and span.attributes["team"] == "billing"


def test_decorator_sets_options(spans):
    @funcscope.function(attributes={"k": "v"})
    def handler():
        return 1

    assert handler() == 1
    run(FakeContext(function_name="handler"))
    assert spans.get_finished_spans()[0].attributes["k"] == "v"


def test_tracing_off_globally(spans):
    get_runner().configure(tracing=False)
    run(FakeContext())
    assert spans.get_finished_spans() == ()


def test_retry_previous_failure_event(spans):
    run(FakeContext(retry_context=Retry(2, 3)))
    (span,) = spans.get_finished_spans()
    (event,) = span.events
    assert event.name == "azure.functions.retry.previous_failure"
    assert event.attributes["exception.message"] == "previous failure"


def test_final_attempt_failure_logs_once_and_counts(spans, caplog):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    get_runner().configure(meter_provider=MeterProvider(metric_readers=[reader]))
    caplog.set_level(logging.ERROR, logger="funcscope.retry")
    run(FakeContext(function_name="Job", retry_context=Retry(1, 2)), error=ValueError("first"))  # not final
    run(FakeContext(function_name="Job", retry_context=Retry(2, 2)), error=ValueError("last"))
    run(FakeContext(function_name="Job", retry_context=Retry(2, 2)), result=None)  # final but succeeded
    run(FakeContext(function_name="Plain"), error=ValueError("no policy"))  # no retry policy: no alert
    (record,) = [r for r in caplog.records if r.name == "funcscope.retry"]
    assert record.levelno == logging.ERROR and "Final attempt 2 of 2 for Job" in record.getMessage()
    points = [
        p
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "azure.functions.retry.exhausted"
        for p in m.data.data_points
    ]
    assert [(p.attributes["faas.name"], p.value) for p in points] == [("Job", 1)]
