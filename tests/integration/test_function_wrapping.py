"""configure() alone traces every function on every worker: hooks running or not x decorator or not x sync or
async x v1 or v2 x blueprints, exactly one span per invocation. Where the hooks run, nothing is wrapped.

The same apps run on the real Python 3.13+ runtimes in tests/runtime313."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from opentelemetry import trace

from funcscope.emulator import Worker
from funcscope.runtime import get_runner
from funcscope.runtime.wrapper import TracedFunction

from .conftest import HOST_TRACE, host_parent

APPS = Path(__file__).resolve().parents[1] / "apps"
WORKERS = {
    "hooks": {"extensions_enabled": True},  # the classic worker with PYTHON_ENABLE_WORKER_EXTENSIONS=1
    "extensions-off": {"extensions_enabled": False},
    "no-hooks": {"extensions_enabled": True, "hooks": "none"},  # the Python 3.13+ worker
}
APPS_CALLED = {
    # function: (child spans, decorated)
    "every_function_v2": {
        "early": (["pool", "thread"], False),
        "blueprint_early": (["callback", "executor", "task", "thread", "to_thread"], False),
        "hello": (["pool", "thread"], False),
        "ahello": (["callback", "executor", "task", "thread", "to_thread"], False),
        "decorated": (["pool", "thread"], True),
        "adecorated": (["callback", "executor", "task", "thread", "to_thread"], True),
        "renamed": (["pool", "thread"], False),
    },
    "every_function_v1": {
        "AsyncHello": (["executor", "task", "to_thread"], False),
        "Hello": (["pool", "thread"], False),
        "Options": ([], False),
        "Renamed": ([], True),
    },
}


def children_of(finished, span):
    return sorted(s.name for s in finished if s.parent is not None and s.parent.span_id == span.context.span_id)


@pytest.mark.parametrize("worker_kind", list(WORKERS))
@pytest.mark.parametrize("app", list(APPS_CALLED))
def test_exactly_one_span_per_invocation_on_every_path(spans, worker_kind, app):
    functions = APPS_CALLED[app]
    with Worker(APPS / app, thread_count=2, **WORKERS[worker_kind]) as worker:
        results = [
            worker.invoke(name, {"url": "http://localhost/api/f"}, trace_parent=host_parent(n))
            for n, name in enumerate(functions)
        ]
        failed = worker.invoke("hello" if app.endswith("v2") else "Boom", {"url": "http://localhost/api/f?fail=1"})
        loaded = {name: worker._local.functions[name].func for name in functions}
    finished = spans.get_finished_spans()
    for n, (name, result) in enumerate(zip(functions, results, strict=True)):
        result.raise_for_exception()
        [span] = [s for s in finished if s.attributes.get("faas.invocation_id") == result.invocation_id]
        assert span.name == name and span.parent.span_id == n + 1
        assert format(span.context.trace_id, "032x") == HOST_TRACE
        assert children_of(finished, span) == functions[name][0]
        user_logs = [e.message for e in result.logs if not e.is_system]
        assert sorted(user_logs) == sorted([f"log from {c}" for c in functions[name][0]] + ["log from the function"])
    [error] = [s for s in finished if s.attributes.get("faas.invocation_id") == failed.invocation_id]
    assert failed.exception is not None and error.status.status_code is trace.StatusCode.ERROR
    # Where hooks run, only the decorator's own wrapper is there; elsewhere every function is wrapped.
    for name, fn in loaded.items():
        assert isinstance(fn, TracedFunction) == (worker_kind != "hooks" or functions[name][1])
    assert get_runner().in_flight() == 0


def test_the_worker_sees_the_users_function(spans):
    with Worker(APPS / "every_function_v2", hooks="none") as worker:
        for name, info in worker.functions.items():
            fn = worker._local.functions[name].func
            assert isinstance(fn, TracedFunction) and not isinstance(fn.__wrapped__, TracedFunction)
            assert info.is_async == inspect.iscoroutinefunction(fn.__wrapped__)
            assert info.requires_context  # the wrapper asks for the context it needs
            assert inspect.signature(fn).parameters.keys() - {"context"} == {"req"}
