"""funcscope through the worker emulator: a span per invocation joined to the host's trace, on the sync pool,
the event loop, v1 and v2 apps; ERROR paths with and without the classic worker's patch; no leaks."""

from __future__ import annotations

import ast
import logging

import pytest

from funcscope.emulator import Call, RetryContext, RpcException, Worker
from funcscope.emulator.extension_manager import ExtensionManager
from funcscope.instrumentation import classic_worker
from funcscope.runtime import get_runner, reset_runner
from funcscope.shared.settings import Settings

from . import capture
from .conftest import HOST_TRACE, V1_APP, V2_APP, host_parent


def by_name(spans, name):
    return [s for s in spans if s["name"] == name]


@pytest.mark.parametrize("function", ["hello", "ahello"])
def test_v2_span_joins_the_host_trace(function):
    tp = host_parent(7)
    with Worker(V2_APP, extensions_enabled=True, thread_count=2) as worker:
        result = worker.invoke(
            function, {"method": "GET", "url": f"http://localhost/api/{function}?code=KEY"}, trace_parent=tp
        )
    result.raise_for_exception()
    observed = ast.literal_eval(result.value.get_body().decode())
    spans = capture.finished_spans()
    (span,) = by_name(spans, function)
    (child,) = by_name(spans, f"{function}-child")
    assert span["trace_id"] == HOST_TRACE and span["parent_span_id"] == f"{8:016x}"
    assert span["kind"] == "INTERNAL" and span["status"] == "UNSET"
    assert child["parent_span_id"] == span["span_id"]
    assert observed["current"] == result.invocation_id  # funcscope.current() inside the function
    assert observed["span_id"] == span["span_id"]  # the invocation span is current inside the function
    a = span["attributes"]
    assert a["faas.invocation_id"] == result.invocation_id and a["faas.trigger"] == "http"
    assert a["http.request.method"] == "GET" and a["http.response.status_code"] == 200
    assert "KEY" not in a["url.full"]


@pytest.mark.parametrize("function", ["hello", "ahello"])
@pytest.mark.parametrize("patched", [True, False], ids=["classic-patch", "no-patch"])
def test_exception_sets_error(function, patched):
    with Worker(V2_APP, extensions_enabled=True, thread_count=1) as worker:
        if not patched:
            classic_worker.uninstrument(ExtensionManager)
        assert classic_worker.is_instrumented(ExtensionManager) is patched
        failed = worker.invoke(
            function, {"url": f"http://localhost/api/{function}?fail=1"}, trace_parent=host_parent(1)
        )
        assert isinstance(failed.exception, ValueError)  # re-raised unchanged to the worker
        worker.invoke(function, {"url": f"http://localhost/api/{function}"}, trace_parent=host_parent(2))
    spans = by_name(capture.finished_spans(), function)
    assert len(spans) == 2 and all(s["ended"] for s in spans)
    failed_span = next(s for s in spans if s["attributes"]["faas.invocation_id"] == failed.invocation_id)
    assert failed_span["status"] == "ERROR" and failed_span["parent_span_id"] == f"{2:016x}"
    if patched:
        assert failed_span["events"][0][0] == "exception"
        assert failed_span["events"][0][1]["exception.type"] == "ValueError"
    else:
        # No post hook came: funcscope ended it itself (next invocation on the thread, or the task's end).
        assert "azure.functions.invocation.abandoned" in failed_span["attributes"]
    ok_span = next(s for s in spans if s is not failed_span)
    assert ok_span["status"] == "UNSET" and ok_span["parent_span_id"] == f"{3:016x}"


def test_http_5xx_is_error():
    with Worker(V2_APP, extensions_enabled=True) as worker:
        worker.invoke("hello", {"url": "http://localhost/api/hello?status=502"})
    (span,) = by_name(capture.finished_spans(), "hello")
    assert span["status"] == "ERROR" and span["attributes"]["http.response.status_code"] == 502


@pytest.mark.parametrize("span_kind", ["internal", "trigger"])
def test_message_and_timer_kinds(span_kind):
    reset_runner(Settings(metrics=False, span_kind=span_kind))
    with Worker(V2_APP, extensions_enabled=True) as worker:
        worker.invoke("on_order", {"body": "one", "id": "order-1"}).raise_for_exception()
        worker.invoke("tick", {}).raise_for_exception()
    (order,) = by_name(capture.finished_spans(), "on_order")
    (tick,) = by_name(capture.finished_spans(), "tick")
    assert order["kind"] == ("CONSUMER" if span_kind == "trigger" else "INTERNAL")
    assert order["attributes"]["messaging.message.id"] == "order-1"
    assert order["attributes"]["messaging.system"] == "azure.storage.queue"
    assert tick["kind"] == "INTERNAL" and tick["attributes"]["faas.trigger"] == "timer"


def test_retry_attributes_and_final_failure(caplog):
    caplog.set_level(logging.ERROR, logger="funcscope.retry")
    final = RetryContext(retry_count=3, max_retry_count=3, rpc_exception=RpcException("", "", "earlier failure"))
    with Worker(V2_APP, extensions_enabled=True) as worker:
        result = worker.invoke("on_order", {"body": "poison"}, retry_context=final)
    assert isinstance(result.exception, RuntimeError)
    (span,) = by_name(capture.finished_spans(), "on_order")
    a = span["attributes"]
    assert (a["azure.functions.retry.count"], a["azure.functions.retry.max_count"]) == (3, 3)
    assert a["azure.functions.retry.is_final"] is True
    assert (
        "azure.functions.retry.previous_failure",
        {"exception.message": "earlier failure", "azure.functions.retry.count": 3},
    ) in span["events"]
    assert len([r for r in caplog.records if r.name == "funcscope.retry"]) == 1


def test_v1_app_with_function_scope():
    with Worker(V1_APP, extensions_enabled=True, thread_count=2) as worker:
        worker.invoke(
            "Hello", {"url": "http://localhost/api/greet/ann"}, trace_parent=host_parent(3)
        ).raise_for_exception()
        quiet = worker.invoke("Quiet", {}, trace_parent=host_parent(4))
        worker.invoke("Drain", {"body": "x", "message_id": "sb-1"}).raise_for_exception()
        boom = worker.invoke("Boom", {"body": "x", "id": "q-1"})
        ahello = worker.invoke("AsyncHello", {"url": "http://localhost/api/AsyncHello"})
    spans = capture.finished_spans()
    (hello,) = by_name(spans, "Hello")
    assert hello["attributes"]["team"] == "v1" and hello["attributes"]["http.route"] == "/api/greet/{name?}"
    assert hello["parent_span_id"] == f"{4:016x}" and hello["trace_id"] == HOST_TRACE
    assert by_name(spans, "Quiet") == [] and quiet.value == f"{5:016x}"  # tracing off: the host's span is current
    (drain,) = by_name(spans, "Drain")
    assert (
        drain["attributes"]["messaging.system"] == "servicebus"
        and drain["attributes"]["messaging.message.id"] == "sb-1"
    )
    (boom_span,) = by_name(spans, "Boom")
    assert isinstance(boom.exception, RuntimeError) and boom_span["status"] == "ERROR"
    (async_span,) = by_name(spans, "AsyncHello")
    assert ahello.value.get_body().decode() == async_span["span_id"]


def test_function_scope_alone_runs_the_pipeline():
    """Without the app-level extension registered, a v1 function's FunctionScope traces it by itself."""
    with Worker(V1_APP, extensions_enabled=True) as worker:
        from azure.functions import ExtensionMeta

        hooks = ExtensionMeta.get_application_hooks()
        saved = {name: list(getattr(hooks, name)) for name in hooks._fields}
        for name in hooks._fields:  # unregister the app-level extension for this test
            getattr(hooks, name).clear()
        try:
            worker.invoke("Hello", {"url": "http://localhost/api/greet"}).raise_for_exception()
            worker.invoke("Drain", {"body": "x"}).raise_for_exception()  # no FunctionScope there: not traced
        finally:
            for name, metas in saved.items():
                getattr(hooks, name)[:] = metas
    spans = capture.finished_spans()
    assert len(by_name(spans, "Hello")) == 1 and by_name(spans, "Drain") == []


@pytest.mark.parametrize("function", ["observe", "aobserve"])
def test_extensions_off_and_no_hook_worker_trace_every_function(function):
    """No decorator in this app: configure() alone has every function wrapped where no hook runs."""
    for n, options in enumerate(({"extensions_enabled": False}, {"extensions_enabled": True, "hooks": "none"})):
        with Worker(V2_APP, **options) as worker:
            result = worker.invoke(function, {"url": "http://localhost/api/x"}, trace_parent=host_parent(n))
        result.raise_for_exception()
        observed = ast.literal_eval(result.value)
        assert observed["current"] == result.invocation_id and observed["trace_id"] == HOST_TRACE
    spans = by_name(capture.finished_spans(), function)
    assert len(spans) == 2 and [s["parent_span_id"] for s in spans] == [f"{1:016x}", f"{2:016x}"]


@pytest.mark.parametrize("patched", [True, False], ids=["classic-patch", "no-patch"])
def test_no_leak_on_one_pool_thread(patched):
    """1,000 invocations alternating success and exception on a 1-thread pool."""
    with Worker(V2_APP, extensions_enabled=True, thread_count=1) as worker:
        if not patched:
            classic_worker.uninstrument(ExtensionManager)
        calls = []
        for n in range(1000):
            url = "http://localhost/api/hello" + ("?fail=1" if n % 2 else "")
            calls.append(Call("hello", {"url": url}, trace_parent=host_parent(n)))
        results = [worker.invoke(c.function_name, c.payload, trace_parent=c.trace_parent) for c in calls]
        observed = worker.invoke("observe", {"url": "http://localhost/api/observe"}, trace_parent=host_parent(5000))
        get_runner().shutdown()  # ends the last failed invocation when no patch reported it
    assert [r.ok for r in results] == [n % 2 == 0 for n in range(1000)]
    spans = {s["attributes"]["faas.invocation_id"]: s for s in by_name(capture.finished_spans(), "hello")}
    assert len(spans) == 1000 and get_runner().in_flight() == 0
    for n, result in enumerate(results):
        span = spans[result.invocation_id]
        assert span["ended"] and span["parent_span_id"] == f"{n + 1:016x}"
        assert span["status"] == ("UNSET" if result.ok else "ERROR")
    # every child span hangs under its own invocation's span, never a stale one
    children = by_name(capture.finished_spans(), "hello-child")
    own = sorted(spans[r.invocation_id]["span_id"] for r in results if r.ok)
    assert sorted(c["parent_span_id"] for c in children) == own
    after = ast.literal_eval(observed.value)
    assert after["current"] == observed.invocation_id


def test_thread_context_is_restored_after_each_invocation():
    """With the classic patch (as in the real worker) the pool thread carries nothing between invocations."""
    from opentelemetry import trace

    import funcscope

    seen = []
    with Worker(V2_APP, extensions_enabled=True, thread_count=1) as worker:
        pool = worker._local._pool  # the worker's own sync pool thread
        for n in range(20):
            url = "http://localhost/api/hello" + ("?fail=1" if n % 2 else "")
            worker.invoke("hello", {"url": url}, trace_parent=host_parent(n))
            seen.append(pool.submit(lambda: (funcscope.current(), trace.get_current_span())).result())
    assert all(current is None and span is trace.INVALID_SPAN for current, span in seen)


def test_async_no_leak():
    calls = [
        Call(
            "ahello", {"url": "http://localhost/api/ahello" + ("?fail=1" if n % 2 else "")}, trace_parent=host_parent(n)
        )
        for n in range(400)
    ]
    for patched in (True, False):
        capture.clear()
        with Worker(V2_APP, extensions_enabled=True) as worker:
            if not patched:
                classic_worker.uninstrument(ExtensionManager)
            results = worker.invoke_many(calls, concurrency=64)
        spans = {s["attributes"]["faas.invocation_id"]: s for s in by_name(capture.finished_spans(), "ahello")}
        assert len(spans) == 400 and get_runner().in_flight() == 0
        for n, result in enumerate(results):
            span = spans[result.invocation_id]
            assert span["ended"] and span["parent_span_id"] == f"{n + 1:016x}"
            assert span["status"] == ("UNSET" if n % 2 == 0 else "ERROR")
        children = by_name(capture.finished_spans(), "ahello-child")
        own = {spans[r.invocation_id]["span_id"] for r in results if r.ok}
        assert len(children) == 200 and {c["parent_span_id"] for c in children} == own


@pytest.mark.parametrize(
    "trace_parent, problem",
    [("garbage", "invalid"), (f"00-{'0' * 32}-{'1' * 16}-01", "invalid"), ("00-" + "9" * 900, "oversized")],
)
def test_bad_traceparent_through_the_worker(trace_parent, problem, caplog):
    caplog.set_level(logging.WARNING, logger="funcscope")
    with Worker(V2_APP, extensions_enabled=True) as worker:
        results = [
            worker.invoke(
                "hello", {"url": "http://localhost/api/hello"}, trace_parent=trace_parent, trace_state="!!odd,,="
            )
            for _ in range(3)
        ]
    assert all(r.ok for r in results)
    spans = by_name(capture.finished_spans(), "hello")
    assert len(spans) == 3 and all(s["parent_span_id"] is None for s in spans)
    assert {s["attributes"]["azure.functions.invalid_traceparent"] for s in spans} == {problem}
    assert len([r for r in caplog.records if r.name == "funcscope"]) == 1


@pytest.mark.parametrize(
    "retry_context", [None, "odd", object(), RetryContext(retry_count=-3, max_retry_count=None, rpc_exception=None)]
)
def test_odd_retry_context_gives_defaults(retry_context):
    with Worker(V2_APP, extensions_enabled=True) as worker:
        worker.invoke("hello", {"url": "http://localhost/api/hello"}, retry_context=retry_context).raise_for_exception()
    (span,) = by_name(capture.finished_spans(), "hello")
    assert span["status"] == "UNSET"
    assert [k for k in span["attributes"] if k.startswith("azure.functions.retry.")] == []  # no retry to tell of


def test_sampling_follows_the_host():
    with Worker(V2_APP, extensions_enabled=True) as worker:
        sampled = worker.invoke("observe", {"url": "http://localhost/api/observe"}, trace_parent=host_parent(1))
        unsampled = worker.invoke(
            "observe", {"url": "http://localhost/api/observe"}, trace_parent=host_parent(2, sampled=False)
        )
    spans = by_name(capture.finished_spans(), "observe")
    assert [s["attributes"]["faas.invocation_id"] for s in spans] == [sampled.invocation_id]
    inside = ast.literal_eval(unsampled.value)
    assert inside["trace_id"] == HOST_TRACE and inside["span_id"] == f"{3:016x}"  # the host's span, not sampled


def test_root_ratio_through_the_worker():
    get_runner().configure(sample_ratio=0.0)
    with Worker(V2_APP, extensions_enabled=True) as worker:
        for _ in range(10):
            worker.invoke("observe", {"url": "http://localhost/api/observe"}, trace_parent="")
    # the app's funcscope.configure() keeps earlier options: the ratio still applies
    assert by_name(capture.finished_spans(), "observe") == []


def test_two_worker_processes():
    """Each worker process traces its own invocations, joined to the host's trace, sync and async."""
    calls = [
        Call(name, {"url": f"http://localhost/api/{name}" + ("?fail=1" if n % 4 == 3 else "")}, host_parent(n))
        for n, name in enumerate(["hello", "ahello"] * 20)
    ]
    with Worker(V2_APP, extensions_enabled=True, process_count=2, thread_count=2) as worker:
        results = worker.invoke_many(calls, concurrency=8)
        per_process = worker.run_in_each_process(capture.finished_spans)
        pids = worker.pids
    assert len(per_process) == 2 and {r.pid for r in results} == set(pids)
    spans = {
        s["attributes"]["faas.invocation_id"]: s
        for part in per_process
        for s in part
        if s["name"] in ("hello", "ahello")
    }
    assert len(spans) == 40
    for n, (call, result) in enumerate(zip(calls, results, strict=True)):
        span = spans[result.invocation_id]
        assert span["name"] == call.function_name and span["parent_span_id"] == f"{n + 1:016x}"
        assert span["status"] == ("ERROR" if n % 4 == 3 else "UNSET") and span["ended"]


def test_metrics_through_the_worker():
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    get_runner().configure(metrics=True, meter_provider=MeterProvider(metric_readers=[reader]))
    with Worker(V2_APP, extensions_enabled=True, thread_count=4) as worker:
        calls = [
            Call("hello", {"url": "http://localhost/api/hello" + ("?fail=1" if n % 3 == 0 else "")}) for n in range(9)
        ]
        calls += [Call("ahello", {"url": "http://localhost/api/ahello"}) for _ in range(5)]
        worker.invoke_many(calls, concurrency=6)
    points = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    key = (metric.name, p.attributes["faas.name"], p.attributes.get("error.type"))
                    points[key] = p
    assert points[("faas.invocations", "hello", None)].value == 6  # successful ones; the 3 failures are errors
    assert points[("faas.invocations", "ahello", None)].value == 5
    assert points[("faas.errors", "hello", "ValueError")].value == 3
    assert points[("faas.invoke_duration", "ahello", None)].count == 5
    assert points[("faas.active_invocations", "hello", None)].value == 0
