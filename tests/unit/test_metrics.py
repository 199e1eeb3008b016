"""The metrics middleware: duration, invocations, errors, cold starts and in-flight, per function and trigger."""

from __future__ import annotations

import azure.functions as func
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from funcscope.runtime import get_runner

from .fakes import FakeContext

APP = object()


@pytest.fixture
def reader():
    reader = InMemoryMetricReader()
    get_runner().configure(metrics=True, meter_provider=MeterProvider(metric_readers=[reader]))
    return reader


def points(reader, name):
    data = reader.get_metrics_data()
    if data is None:  # nothing recorded at all
        return {}
    return {
        tuple(sorted(p.attributes.items())): p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.data.data_points
    }


def invoke(function_name, args, result=None, error=None):
    ctx = FakeContext(function_name=function_name)
    get_runner().start(ctx, args, APP)
    if error is not None:
        get_runner().fail(ctx, error)
    else:
        get_runner().finish(ctx, result, APP)


def test_counts_and_durations(reader):
    req = func.HttpRequest("GET", "http://h/api/a", body=b"")
    invoke("A", {"req": req}, result=func.HttpResponse("ok"))
    invoke("A", {"req": req}, result=func.HttpResponse("bad", status_code=500))
    invoke("A", {"req": req}, error=KeyError("k"))
    invoke("B", {"msg": func.QueueMessage(body=b"x")})
    http = (("faas.name", "A"), ("faas.trigger", "http"))
    queue = (("faas.name", "B"), ("faas.trigger", "pubsub"))
    invocations = points(reader, "faas.invocations")
    assert invocations[http].value == 1 and invocations[queue].value == 1  # successful ones only
    errors = points(reader, "faas.errors")
    assert {k: p.value for k, p in errors.items()} == {
        tuple(sorted(http + (("error.type", "500"),))): 1,
        tuple(sorted(http + (("error.type", "KeyError"),))): 1,
    }
    durations = points(reader, "faas.invoke_duration")
    assert durations[http].count == 3 and durations[http].sum > 0
    assert points(reader, "faas.coldstarts")[http].value == 1 and queue not in points(reader, "faas.coldstarts")
    assert {p.value for p in points(reader, "faas.active_invocations").values()} == {0}


def test_in_flight(reader):
    ctx = FakeContext(function_name="Slow")
    get_runner().start(ctx, {}, APP)
    assert [p.value for p in points(reader, "faas.active_invocations").values()] == [1]
    get_runner().finish(ctx, None, APP)
    assert [p.value for p in points(reader, "faas.active_invocations").values()] == [0]


def test_metrics_off(reader):
    get_runner().configure(metrics=False)
    invoke("A", {})
    assert points(reader, "faas.invocations") == {}


def test_a_duration_links_its_invocations_span(spans):
    # The duration is recorded while the invocation's span is current: its exemplar points at that span.
    reader = InMemoryMetricReader()
    get_runner().configure(metrics=True, tracing=True, meter_provider=MeterProvider(metric_readers=[reader]))
    ctx = FakeContext(function_name="A", trace_parent=f"00-{'ab' * 16}-{'cd' * 8}-01")
    get_runner().start(ctx, {}, APP)
    span_context = trace.get_current_span().get_span_context()
    get_runner().finish(ctx, None, APP)

    (duration,) = points(reader, "faas.invoke_duration").values()
    assert duration.count == 1 and duration.sum > 0
    (exemplar,) = duration.exemplars
    assert (exemplar.trace_id, exemplar.span_id) == (span_context.trace_id, span_context.span_id)
    assert span_context.span_id == spans.get_finished_spans()[-1].context.span_id
    (again,) = points(reader, "faas.invoke_duration").values()  # cumulative: recorded once, not again
    assert again.count == 1
