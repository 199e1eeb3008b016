"""The OpenCensus drop-in's tracer through the runner: `context.tracer` per invocation, its spans as OpenTelemetry
spans under the invocation span, in threads and tasks, with failures, sampling, and nothing outliving the invocation.
(The extension itself registers with the worker on import, so it is tested through the emulator, in
tests/integration/test_opencensus.py.)"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading

import pytest
import requests
from opencensus.trace import config_integration, execution_context, integrations
from opencensus.trace.link import Link
from opencensus.trace.span import SpanKind as OpenCensusSpanKind
from opencensus.trace.status import Status as OpenCensusStatus
from opencensus.trace.tracers.noop_tracer import NoopTracer
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from funcscope.extensions.opencensus.options import funcscope_options
from funcscope.extensions.opencensus.tracer import OpenCensusSpan, OpenCensusTracer
from funcscope.instrumentation import opencensus as opencensus_integrations
from funcscope.runtime import get_runner, reset_runner
from funcscope.shared.diagnostics import forget_reports

from ..conftest import PLAIN
from ..integration.receivers import Downstream
from .fakes import FakeContext

HOST_TRACE = "0af7651916cd43dd8448eb211c80319c"
HOST_SPAN = "b7ad6b7169203331"
APP = object()


@pytest.fixture(autouse=True)
def _opencensus_on():
    reset_runner(PLAIN.with_options(opencensus=True))
    yield
    execution_context.clean()


def start(ctx=None, **context):
    ctx = ctx or FakeContext(function_name="HttpTrigger", **context)
    get_runner().start(ctx, {}, APP)
    return ctx


def finish(ctx, error=None):
    if error is None:
        get_runner().finish(ctx, None, APP)
    else:
        get_runner().fail(ctx, error)


def by_name(spans):
    finished = spans.get_finished_spans()
    out = {s.name: s for s in finished}
    assert len(out) == len(finished), [s.name for s in finished]
    return out


def hex_id(span_context, width=16):
    return format(span_context.span_id if width == 16 else span_context.trace_id, f"0{width}x")


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "funcscope" and r.levelno >= logging.WARNING]


def test_the_seed_samples_span_is_an_opentelemetry_span_under_the_invocation(spans):
    ctx = start()
    tracer = ctx.tracer
    assert isinstance(tracer, OpenCensusTracer)
    assert execution_context.get_opencensus_tracer() is tracer  # what OpenCensus's integrations use
    with ctx.tracer.span("parent") as span:
        assert tracer.current_span() is span and execution_context.get_current_span() is span
        assert trace.get_current_span() is span.otel_span  # current for OpenTelemetry too
        span.add_attribute("orders", 3)
    finish(ctx)
    found = by_name(spans)
    invocation, parent = found["HttpTrigger"], found["parent"]
    assert hex_id(invocation.context, 32) == HOST_TRACE and hex_id(invocation.parent) == HOST_SPAN
    assert parent.parent.span_id == invocation.context.span_id
    assert parent.context.trace_id == invocation.context.trace_id
    assert parent.kind is SpanKind.INTERNAL and parent.status.status_code is StatusCode.UNSET
    assert parent.attributes["orders"] == 3
    assert parent.instrumentation_scope.name == "funcscope.opencensus"
    assert span.span_id == hex_id(parent.context) and span.parent_span.span_id == hex_id(invocation.context)
    # nothing of the invocation is current any more on this thread
    assert isinstance(execution_context.get_opencensus_tracer(), NoopTracer)
    assert execution_context.get_current_span() is None and trace.get_current_span() is trace.INVALID_SPAN


def test_nested_spans_end_span_and_the_span_context_for_propagation(spans):
    ctx = start()
    tracer = ctx.tracer
    outer = tracer.start_span("outer")
    inner = tracer.start_span("inner")
    assert inner.parent_span is outer and tracer.list_collected_spans() == [outer, inner]
    span_context = tracer.span_context
    assert (span_context.trace_id, span_context.span_id) == (HOST_TRACE, inner.span_id)
    assert span_context.trace_options.get_enabled()
    assert tracer.propagator.to_headers(span_context)["traceparent"] == f"00-{HOST_TRACE}-{inner.span_id}-01"
    tracer.add_attribute_to_current_span("where", "inner")
    assert tracer.end_span() is inner and tracer.current_span() is outer
    tracer.end_span()
    assert tracer.current_span() is None and tracer.list_collected_spans() == []
    finish(ctx)
    found = by_name(spans)
    assert found["inner"].parent.span_id == found["outer"].context.span_id
    assert found["outer"].parent.span_id == found["HttpTrigger"].context.span_id
    assert found["inner"].attributes["where"] == "inner"


def test_an_exception_in_the_span_and_the_invocations_failure(spans):
    ctx = start()
    error = RuntimeError("no stock (AccountKey=SECRET)")
    try:
        with ctx.tracer.span("parent"):
            left_open = ctx.tracer.start_span("left-open")
            raise error
    except RuntimeError as exc:
        finish(ctx, exc)
    found = by_name(spans)
    parent, left, invocation = found["parent"], found["left-open"], found["HttpTrigger"]
    # the with statement ended "parent" although "left-open" was still current inside it
    assert parent.status.status_code is StatusCode.ERROR and parent.events[0].name == "exception"
    assert "SECRET" not in parent.status.description
    assert left.status.status_code is StatusCode.ERROR and not left.events  # ended with the invocation
    assert left.end_time <= invocation.end_time and left_open.end_time is not None
    assert invocation.status.status_code is StatusCode.ERROR  # the on-error path, as without OpenCensus
    assert trace.get_current_span() is trace.INVALID_SPAN and execution_context.get_current_span() is None


def test_spans_left_open_are_ended_with_the_invocation_and_the_tracer_records_nothing_after(spans, caplog):
    ctx = start()
    ctx.tracer.start_span("forgotten")
    finish(ctx)
    assert by_name(spans)["forgotten"].end_time is not None
    assert trace.get_current_span() is trace.INVALID_SPAN  # the span left current is not current any more
    for _ in range(3):
        with ctx.tracer.span("too late") as span:
            span.add_attribute("ignored", True)
    assert "too late" not in by_name(spans)
    (warning,) = warnings_of(caplog)
    assert "'too late' was started after its invocation had ended" in warning


@pytest.mark.parametrize("mechanism", ["thread", "pool"])
def test_the_tracer_follows_the_work_into_threads(spans, mechanism):
    get_runner().configure(propagation=True)
    ctx = start()
    seen = {}

    def work():
        seen["tracer"] = execution_context.get_opencensus_tracer()
        with ctx.tracer.span(f"in-{mechanism}"):
            pass

    with ctx.tracer.span("parent"):
        if mechanism == "thread":
            thread = threading.Thread(target=work)
            thread.start()
            thread.join()
        else:
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pool.submit(work).result()
    finish(ctx)
    found = by_name(spans)
    assert found[f"in-{mechanism}"].parent.span_id == found["parent"].context.span_id
    assert seen["tracer"] is ctx.tracer


def test_async_invocations_each_get_their_own_tracer(spans):
    get_runner().configure(propagation=True)

    async def invocation(n):
        ctx = FakeContext(function_name=f"f{n}", trace_parent=f"00-{HOST_TRACE}-{n + 1:016x}-01")
        get_runner().start(ctx, {}, APP)
        with ctx.tracer.span(f"parent-{n}"):
            await asyncio.sleep(0.01)

            async def child():
                with ctx.tracer.span(f"task-{n}"):
                    await asyncio.sleep(0)

            await asyncio.create_task(child())
        get_runner().finish(ctx, None, APP)

    async def main():
        await asyncio.gather(*(invocation(n) for n in range(3)))

    asyncio.run(main())
    found = by_name(spans)
    for n in range(3):
        assert found[f"parent-{n}"].parent.span_id == found[f"f{n}"].context.span_id
        assert found[f"task-{n}"].parent.span_id == found[f"parent-{n}"].context.span_id


def test_sampling_follows_the_host(spans):
    ctx = start(trace_parent=f"00-{HOST_TRACE}-{HOST_SPAN}-00")
    with ctx.tracer.span("parent"):
        assert not ctx.tracer.span_context.trace_options.get_enabled()
        assert ctx.tracer.span_context.trace_id == HOST_TRACE
    finish(ctx)
    assert spans.get_finished_spans() == ()


def test_without_funcscopes_span_the_host_span_is_the_parent(spans):
    get_runner().configure(tracing=False)
    ctx = start()
    assert ctx.tracer.span_context.span_id == HOST_SPAN  # nothing open: the host's span, as in the original
    with ctx.tracer.span("parent"):
        pass
    finish(ctx)
    (parent,) = spans.get_finished_spans()
    assert hex_id(parent.parent) == HOST_SPAN and hex_id(parent.context, 32) == HOST_TRACE


def test_a_root_invocation_has_one_trace_for_propagation():
    get_runner().configure(tracing=False)
    ctx = start(trace_parent=None)
    first = ctx.tracer.span_context
    assert first.trace_id == ctx.tracer.span_context.trace_id and len(first.trace_id) == 32
    finish(ctx)


def test_a_pool_thread_reused_after_a_failure_the_worker_never_reported(spans):
    """The classic worker runs no post hook after a failure; nothing of that invocation leaks into the next."""
    first = start(FakeContext(function_name="First"))
    first.tracer.start_span("abandoned")  # the function raised here; no hook ran after it
    second = start(FakeContext(function_name="Second"))
    assert execution_context.get_current_span() is None and execution_context.get_opencensus_tracer() is second.tracer
    with second.tracer.span("next"):
        pass
    finish(second)
    found = by_name(spans)
    assert found["next"].parent.span_id == found["Second"].context.span_id
    assert found["abandoned"].parent.span_id == found["First"].context.span_id
    assert found["abandoned"].end_time <= found["First"].end_time  # ended with its invocation
    assert execution_context.get_current_span() is None and trace.get_current_span() is trace.INVALID_SPAN


def test_an_invocation_ended_from_elsewhere_closes_its_tracer_without_touching_that_context(spans):
    """The worker stops during an invocation: shutdown, on another thread, ends it and its open spans."""
    started, stopped, seen = threading.Event(), threading.Event(), {}

    def invocation():
        ctx = start()
        seen["span"] = ctx.tracer.start_span("open")
        started.set()
        stopped.wait(10)
        seen["current"] = execution_context.get_current_span()

    thread = threading.Thread(target=invocation)
    thread.start()
    assert started.wait(10)
    get_runner().shutdown()
    stopped.set()
    thread.join(10)
    assert by_name(spans)["open"].end_time is not None
    assert seen["current"] is seen["span"]  # that thread's context is not the shutdown's to reset


def test_the_span_api(spans, caplog):
    ctx = start()
    tracer = ctx.tracer
    link = Link(HOST_TRACE, HOST_SPAN, attributes={"why": "batch"})
    with tracer.span("first") as span:
        span.name = "renamed"
        span.add_attribute("http.url", "https://api.example/orders?code=SECRET&id=1")
        span.add_attribute("object", {"a": 1})
        span.add_annotation("reserved", items=3)
        span.add_link(link)
        span.add_link("not a link")
        span.set_status(OpenCensusStatus(5, "not found"))
        span.span_kind = OpenCensusSpanKind.CLIENT
        span.span_kind = OpenCensusSpanKind.SERVER
        child = span.span("child")
        assert tracer.current_span() is span  # a span's own child is not made current
        child.finish()
        assert [s.name for s in span] == ["child", "renamed"] and span.children == [child]
    decorated = tracer.trace_decorator()(lambda: tracer.current_span().name)
    assert decorated() == "<lambda>"
    tracer.end_span()  # nothing open
    finish(ctx)
    found = by_name(spans)
    renamed = found["renamed"]
    assert "SECRET" not in renamed.attributes["http.url"] and renamed.attributes["object"] == "{'a': 1}"
    assert [(e.name, dict(e.attributes)) for e in renamed.events] == [("reserved", {"items": 3})]
    assert [hex_id(lk.context) for lk in renamed.links] == [HOST_SPAN] and renamed.links[0].attributes["why"]
    assert renamed.status.status_code is StatusCode.ERROR and renamed.status.description == "not found"
    assert renamed.kind is SpanKind.INTERNAL and span.span_kind == OpenCensusSpanKind.SERVER
    assert found["child"].parent.span_id == renamed.context.span_id
    assert found["<lambda>"].parent.span_id == found["HttpTrigger"].context.span_id
    assert span.start_time.endswith("Z") and span.end_time >= span.start_time
    messages = warnings_of(caplog)
    assert len(messages) == 3, messages  # the link, the span kind, end_span: each once
    assert any("recorded as INTERNAL" in m for m in messages) and any("end_span()" in m for m in messages)


def test_exporter_options_are_mapped_and_the_rest_named_once(caplog):
    options = funcscope_options(
        {
            "instrumentation_key": "00000000-0000-0000-0000-000000000001",
            "enable_local_storage": False,
            "export_interval": 5,
            "max_batch_size": 10,
            "sample_ratio": 0.5,
        }
    )
    assert options == {
        "connection_string": "InstrumentationKey=00000000-0000-0000-0000-000000000001",
        "azure_monitor_storage": "none",
        "sample_ratio": 0.5,
    }
    assert funcscope_options({"connection_string": "InstrumentationKey=k", "instrumentation_key": "other"}) == {
        "connection_string": "InstrumentationKey=k"
    }
    assert funcscope_options({"storage_path": "/srv/retry"}) == {"azure_monitor_storage": "/srv/retry"}
    funcscope_options({"export_interval": 5, "max_batch_size": 10})
    (warning,) = warnings_of(caplog)
    assert "ignores export_interval, max_batch_size" in warning


@pytest.fixture
def routed():
    opencensus_integrations.instrument()
    yield
    opencensus_integrations.uninstrument()
    forget_reports()


def test_trace_integrations_is_served_by_funcscopes_instrumentation(spans, routed, caplog):
    """`trace_integrations(['requests'])` as the seed's sample calls it: requests is traced once, by funcscope's
    OpenTelemetry instrumentation, under the OpenCensus span open around the call, with its traceparent sent on."""
    assert get_runner().settings.instrument == ()
    before = integrations.get_integrations()
    assert config_integration.trace_integrations(["requests", "threading"]) == ["requests", "threading"]
    assert integrations.get_integrations() == before  # OpenCensus's own integration is not switched on
    assert "requests" in get_runner().settings.instrument and get_runner().settings.propagation
    assert opencensus_integrations.integrated_by_opencensus() == []
    assert warnings_of(caplog) == []
    with Downstream() as downstream:
        ctx = start()
        with ctx.tracer.span("parent"):
            response = requests.get(f"{downstream.url}/orders", timeout=10)
        finish(ctx)
        assert response.status_code == 200
        ((_, path, traceparent),) = downstream.calls
    found = by_name(spans)
    (client,) = [s for s in found.values() if s.kind is SpanKind.CLIENT]
    assert client.parent.span_id == found["parent"].context.span_id
    assert traceparent == f"00-{HOST_TRACE}-{hex_id(client.context)}-01" and path == "/orders"


def test_other_integrations_are_left_to_opencensus(routed, caplog):
    caplog.set_level(logging.WARNING)
    assert config_integration.trace_integrations(["no_such_library"]) == []
    assert any("opencensus.ext.no_such_library.trace" in r.getMessage() for r in caplog.records)
    opencensus_integrations.uninstrument()
    assert not opencensus_integrations.is_instrumented()
    assert not hasattr(config_integration.trace_integrations, "__wrapped__")


def test_an_opencensus_integration_through_the_tracer(spans, caplog):
    """What OpenCensus's integrations do with the tracer they find in the execution context."""
    ctx = start()
    tracer = execution_context.get_opencensus_tracer()
    span = tracer.start_span()
    span.name = "/inventory"
    headers = tracer.propagator.to_headers(tracer.span_context)
    tracer.add_attribute_to_current_span("component", "HTTP")
    span.set_status(OpenCensusStatus(0))
    tracer.end_span()
    finish(ctx)
    found = by_name(spans)
    assert headers["traceparent"] == f"00-{HOST_TRACE}-{hex_id(found['/inventory'].context)}-01"
    assert found["/inventory"].attributes["component"] == "HTTP"
    assert isinstance(span, OpenCensusSpan)
