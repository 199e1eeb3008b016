"""A v2 app on the real `azure-functions-runtime`, driven as the proxy worker drives it (gRPC proxy and R2P2's
native path): `funcscope.configure()` alone gives every function one span joined to the host's trace, children
from every kind of thread and task, logs attributed to their invocation, ERROR on raise, retry context."""

from __future__ import annotations

import inspect
import logging

import pytest
from opentelemetry import trace

from funcscope.runtime import get_runner
from funcscope.runtime.wrapper import TracedFunction
from funcscope.shared import attributes as attr
from funcscope.shared.settings import Settings

from .conftest import HOST_TRACE, V2_APP, host_parent
from .proxy import Call, Result

PATHS = ["grpc", "native"]
SYNC_CHILDREN = ["pool", "thread"]
ASYNC_CHILDREN = ["callback", "executor", "task", "thread", "to_thread"]
# Every function of the app, by the name the host knows it by, with the child work it starts.
FUNCTIONS = {
    "early": SYNC_CHILDREN,  # registered before configure()
    "blueprint_early": ASYNC_CHILDREN,  # on a blueprint registered before configure()
    "hello": SYNC_CHILDREN,
    "ahello": ASYNC_CHILDREN,
    "decorated": SYNC_CHILDREN,  # @funcscope.function(attributes=...)
    "adecorated": ASYNC_CHILDREN,  # bare @funcscope.function, takes context
    "renamed": SYNC_CHILDREN,  # on a blueprint registered after configure(), renamed, takes context
}


def invocation_span(spans, invocation_id):
    found = [s for s in spans if s.attributes.get("faas.invocation_id") == invocation_id]
    assert len(found) == 1, f"{len(found)} spans for invocation {invocation_id}"
    return found[0]


def children_of(spans, span):
    return sorted(s.name for s in spans if s.parent is not None and s.parent.span_id == span.context.span_id)


def attributed(line, invocation_id, path):
    # The gRPC proxy and the R2P2 bridge each file a record by their own rule; on the native path only R2P2 runs.
    rules = [line.bridge_id] if path == "native" else [line.dispatcher_id, line.bridge_id]
    return all(found == invocation_id for found in rules)


def assert_logs_attributed(result: Result, children, path):
    messages = sorted(line.message for line in result.user_logs())
    assert messages == sorted([f"log from {c}" for c in children] + ["log from the function"])
    strays = [line for line in result.user_logs() if not attributed(line, result.invocation_id, path)]
    assert strays == []


@pytest.mark.parametrize("path", PATHS)
def test_every_function_gets_one_span_in_the_hosts_trace(proxy, spans, path):
    app = proxy(V2_APP, path=path)
    assert sorted(app.function_ids) == sorted(FUNCTIONS)
    calls = [Call(name, trace_parent=host_parent(n)) for n, name in enumerate(FUNCTIONS)]
    results = [app.invoke_many([call])[0] for call in calls]
    finished = spans.get_finished_spans()
    for n, (call, result) in enumerate(zip(calls, results, strict=True)):
        assert result.ok, result.error
        span = invocation_span(finished, result.invocation_id)
        assert span.name == call.function_name and span.kind is trace.SpanKind.INTERNAL
        assert format(span.context.trace_id, "032x") == HOST_TRACE and span.parent.span_id == n + 1
        assert span.parent.is_remote and span.status.status_code is trace.StatusCode.UNSET
        assert children_of(finished, span) == sorted(FUNCTIONS[call.function_name])
        assert_logs_attributed(result, FUNCTIONS[call.function_name], path)
    assert invocation_span(finished, results[4].invocation_id).attributes["team"] == "orders"
    assert [line for line in app.unattributed if not line.logger.startswith("azure")] == []
    assert get_runner().in_flight() == 0


def test_the_runtime_loads_the_wrapper_as_the_users_function(proxy):
    """What the runtime inspects (signature, annotations, coroutine-ness) reads as the user's function."""
    app = proxy(V2_APP)
    module = __import__("function_app")
    loaded = {fi.name: fi for fi in app._handle_event._functions._functions.values()}
    for name, info in loaded.items():
        # The app's decorators leave a FunctionBuilder under the Python name; the callable is inside it.
        user = getattr(module, "blueprint_late" if name == "renamed" else name)._function._func
        assert isinstance(info.func, TracedFunction)
        own = user.__wrapped__ if isinstance(user, TracedFunction) else user  # the decorator's wrapper is kept
        assert info.func is user or info.func.__wrapped__ is own
        assert not isinstance(info.func.__wrapped__, TracedFunction)  # never a wrapper around a wrapper
        assert info.is_async == inspect.iscoroutinefunction(own)
        assert info.func.__name__ == own.__name__ and info.func.__annotations__ == own.__annotations__
        assert set(info.input_types) == {"req"} and info.return_type is not None
        assert info.requires_context  # the wrapper asks for the context, and hands it on only when asked
        assert "context" in inspect.signature(info.func).parameters


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["early", "blueprint_early", "hello", "ahello", "decorated"])
def test_a_raising_function_gives_an_error_span(proxy, spans, path, name):
    app = proxy(V2_APP, path=path)
    result = app.invoke(name, url="http://localhost/api/f?fail=1", trace_parent=host_parent(7))
    assert not result.ok and "failed as asked" in result.error  # the host still sees the failure
    span = invocation_span(spans.get_finished_spans(), result.invocation_id)
    assert span.status.status_code is trace.StatusCode.ERROR and span.parent.span_id == 8
    assert [e.attributes["exception.type"] for e in span.events if e.name == "exception"] == ["ValueError"]
    assert attr.ABANDONED not in span.attributes
    assert get_runner().in_flight() == 0


@pytest.mark.parametrize("path", PATHS)
def test_concurrent_sync_and_async_invocations_keep_apart(proxy, spans, path):
    app = proxy(V2_APP, path=path, env={"PYTHON_THREADPOOL_THREAD_COUNT": "4"})
    calls = [Call("hello" if n % 2 else "ahello", trace_parent=host_parent(n)) for n in range(24)]
    results = app.invoke_many(calls)
    finished = spans.get_finished_spans()
    for n, (call, result) in enumerate(zip(calls, results, strict=True)):
        assert result.ok, result.error
        span = invocation_span(finished, result.invocation_id)
        assert span.parent.span_id == n + 1
        assert children_of(finished, span) == sorted(FUNCTIONS[call.function_name])
        assert_logs_attributed(result, FUNCTIONS[call.function_name], path)
    assert get_runner().in_flight() == 0


@pytest.mark.parametrize("path", PATHS)
def test_retry_context_reaches_the_span(proxy, spans, caplog, path):
    app = proxy(V2_APP, path=path)
    retried = app.invoke("hello", trace_parent=host_parent(1), retry_count=1, max_retry_count=3, retry_message="boom")
    with caplog.at_level(logging.ERROR, logger="funcscope.retry"):
        last = app.invoke(
            "ahello", url="http://localhost/api/f?fail=1", retry_count=3, max_retry_count=3, retry_message="again"
        )
    finished = spans.get_finished_spans()
    span = invocation_span(finished, retried.invocation_id)
    assert retried.ok and '"retry_count": 1' in retried.body  # the function sees it too
    assert span.attributes[attr.RETRY_COUNT] == 1 and span.attributes[attr.RETRY_MAX_COUNT] == 3
    assert span.attributes[attr.RETRY_IS_FINAL] is False
    [previous] = [e for e in span.events if e.name == "azure.functions.retry.previous_failure"]
    assert previous.attributes["exception.message"] == "boom"
    final = invocation_span(finished, last.invocation_id)
    assert final.attributes[attr.RETRY_IS_FINAL] is True and final.status.status_code is trace.StatusCode.ERROR
    assert [r for r in caplog.records if r.name == "funcscope.retry"]  # the exhausted retries are told once


@pytest.mark.parametrize("path", PATHS)
def test_a_malformed_traceparent_starts_a_root_with_one_warning(proxy, spans, caplog, path):
    app = proxy(V2_APP, path=path)
    with caplog.at_level(logging.WARNING, logger="funcscope"):
        results = [app.invoke(name, trace_parent="00-not-a-traceparent-01") for name in ("hello", "ahello")]
    finished = spans.get_finished_spans()
    for result in results:
        assert result.ok, result.error
        span = invocation_span(finished, result.invocation_id)
        assert span.parent is None and attr.INVALID_TRACEPARENT in span.attributes
    assert len([r for r in caplog.records if "malformed traceparent" in r.getMessage()]) == 1


def test_no_invocation_leaks_into_the_next_on_a_reused_pool_thread(proxy, spans):
    app = proxy(V2_APP, env={"PYTHON_THREADPOOL_THREAD_COUNT": "1"})
    calls = [
        Call("hello", url="http://localhost/api/f" + ("?fail=1" if n % 2 else ""), trace_parent=host_parent(n))
        for n in range(40)
    ]
    results = [app.invoke_many([call])[0] for call in calls]
    assert [r.ok for r in results] == [n % 2 == 0 for n in range(40)]
    finished = spans.get_finished_spans()
    for n, result in enumerate(results):
        assert invocation_span(finished, result.invocation_id).parent.span_id == n + 1
    pool = app.runtime.get_threadpool_executor()

    def left_behind():
        import funcscope

        return trace.get_current_span().get_span_context().is_valid, funcscope.current()

    assert pool.submit(left_behind).result() == (False, None)
    assert get_runner().in_flight() == 0


def test_without_funcscope_the_runtime_drops_what_threads_log(proxy, spans):
    """The control: the runtime alone attributes a thread's records to no invocation under either proxy."""
    from funcscope.runtime import reset_runner

    reset_runner(Settings(enabled=False))
    app = proxy(V2_APP)
    results = app.invoke_many([Call("hello"), Call("ahello")])
    assert all(r.ok for r in results)
    assert [s for s in spans.get_finished_spans() if "faas.invocation_id" in s.attributes] == []
    assert [line.message for line in results[0].user_logs()] == ["log from the function"]
    lost = {line.message for line in app.unattributed if line.logger == "shop"}
    assert {"log from thread", "log from pool", "log from to_thread", "log from executor"} <= lost
    assert all(
        line.dispatcher_id is None and line.bridge_id is None for line in app.unattributed if line.logger == "shop"
    ), app.unattributed
