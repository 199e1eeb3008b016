"""A v1 app on the real `azure-functions-runtime-v1`: each function folder's entry point is wrapped when the runtime
loads it, so the module every function imports (`funcscope.configure()`) is all it takes."""

from __future__ import annotations

import inspect

import pytest
from opentelemetry import trace

from funcscope.runtime import get_runner
from funcscope.runtime.wrapper import TracedFunction

from .conftest import HOST_TRACE, V1_APP, host_parent
from .test_runtime_v2 import PATHS, assert_logs_attributed, children_of, invocation_span

CHILDREN = {"Hello": ["pool", "thread"], "AsyncHello": ["executor", "task", "to_thread"]}


@pytest.mark.parametrize("path", PATHS)
def test_every_entry_point_gets_one_span_in_the_hosts_trace(proxy, spans, path):
    app = proxy(V1_APP, path=path)
    names = sorted(app.function_ids)  # the first one loaded is the one whose import configures funcscope
    assert names == ["AsyncHello", "Boom", "Hello", "Options", "Renamed"]
    results = {name: app.invoke(name, trace_parent=host_parent(n)) for n, name in enumerate(names)}
    finished = spans.get_finished_spans()
    for n, name in enumerate(names):
        result = results[name]
        span = invocation_span(finished, result.invocation_id)
        assert span.name == name and span.parent.span_id == n + 1
        assert format(span.context.trace_id, "032x") == HOST_TRACE
        assert result.ok == (name != "Boom"), result.error
    boom = invocation_span(finished, results["Boom"].invocation_id)
    assert boom.status.status_code is trace.StatusCode.ERROR and "Boom failed" in results["Boom"].error
    assert results["Hello"].body == results["Hello"].invocation_id  # its own context parameter, unchanged
    for name, children in CHILDREN.items():
        assert children_of(finished, invocation_span(finished, results[name].invocation_id)) == children
        assert_logs_attributed(results[name], children, path)
    options = invocation_span(finished, results["Options"].invocation_id)
    assert options.attributes["team"] == "v1"  # FunctionScope(__file__, ...) options, without any hook running
    renamed = invocation_span(finished, results["Renamed"].invocation_id)
    assert renamed.attributes["decorated"] is True  # the decorator's options under the host's name
    assert get_runner().in_flight() == 0


def test_the_runtime_loads_each_entry_point_wrapped_once(proxy):
    app = proxy(V1_APP)
    loaded = {fi.name: fi for fi in app._handle_event._functions._functions.values()}
    for name, info in loaded.items():
        assert isinstance(info.func, TracedFunction)
        own = info.func.__wrapped__
        assert not isinstance(own, TracedFunction)  # the decorated Renamed keeps its one wrapper
        assert info.is_async == inspect.iscoroutinefunction(own) == (name in ("AsyncHello", "Options"))
        assert info.func.__module__ == own.__module__ and info.func.__qualname__ == own.__qualname__
        assert set(info.input_types) == {"req"} and info.requires_context
    assert loaded["Renamed"].func.__name__ == "handle"  # `entryPoint` in function.json


def test_concurrent_v1_invocations_keep_apart(proxy, spans):
    from .proxy import Call

    app = proxy(V1_APP, env={"PYTHON_THREADPOOL_THREAD_COUNT": "3"})
    calls = [Call("Hello" if n % 2 else "AsyncHello", trace_parent=host_parent(n)) for n in range(16)]
    results = app.invoke_many(calls)
    finished = spans.get_finished_spans()
    for n, (call, result) in enumerate(zip(calls, results, strict=True)):
        span = invocation_span(finished, result.invocation_id)
        assert result.ok and span.parent.span_id == n + 1
        assert children_of(finished, span) == CHILDREN[call.function_name]
        assert_logs_attributed(result, CHILDREN[call.function_name], "grpc")
