"""The emulator's no-hook mode (`Worker(hooks="none")`, its model of the Python 3.13+ worker) checked against the
real runtimes: the same apps, the same calls, the same telemetry, the same log attribution, the same view of each
function (sync or async, context asked for or not)."""

from __future__ import annotations

import pytest

from funcscope.emulator import Worker
from funcscope.runtime import reset_runner
from funcscope.shared.settings import Settings

from .conftest import V1_APP, V2_APP, host_parent
from .proxy import Call
from .test_runtime_v2 import children_of, invocation_span

V2_CALLS = [
    ("hello", ""),
    ("ahello", ""),
    ("early", "?fail=1"),
    ("blueprint_early", ""),
    ("decorated", ""),
    ("adecorated", ""),
    ("renamed", ""),
    ("ahello", "?fail=1"),
]
V1_CALLS = [("Hello", ""), ("AsyncHello", ""), ("Boom", ""), ("Options", ""), ("Renamed", "")]
# What differs per run by design: ids, times, the first invocation of the process.
VARYING = {"faas.invocation_id", "faas.coldstart"}


def observed(finished, invocation_id, ok, logs, n):
    span = invocation_span(finished, invocation_id)
    return {
        "ok": ok,
        "name": span.name,
        "kind": span.kind.name,
        "status": span.status.status_code.name,
        "exceptions": [e.attributes["exception.type"] for e in span.events if e.name == "exception"],
        "parent_is_the_host": span.parent.span_id == n + 1,
        "attributes": {k: v for k, v in span.attributes.items() if k not in VARYING},
        "children": children_of(finished, span),
        "logs": sorted(logs),
    }


def on_the_runtime(proxy, spans, app_dir, calls):
    app = proxy(app_dir)
    results = [
        app.invoke_many([Call(name, url=f"http://localhost/api/f{query}", trace_parent=host_parent(n))])[0]
        for n, (name, query) in enumerate(calls)
    ]
    finished = spans.get_finished_spans()
    seen = [
        observed(finished, r.invocation_id, r.ok, [line.message for line in r.user_logs()], n)
        for n, r in enumerate(results)
    ]
    loaded = {fi.name: (fi.is_async, fi.requires_context) for fi in app._handle_event._functions._functions.values()}
    app.close()
    spans.clear()
    return seen, loaded


def on_the_emulator(spans, app_dir, calls):
    with Worker(app_dir, hooks="none", thread_count=4) as worker:
        results = [
            worker.invoke(name, {"url": f"http://localhost/api/f{query}"}, trace_parent=host_parent(n))
            for n, (name, query) in enumerate(calls)
        ]
        loaded = {name: (info.is_async, info.requires_context) for name, info in worker.functions.items()}
    finished = spans.get_finished_spans()
    seen = [
        observed(finished, r.invocation_id, r.ok, [e.message for e in r.logs if not e.is_system], n)
        for n, r in enumerate(results)
    ]
    return seen, loaded


@pytest.mark.parametrize("app_dir, calls", [(V2_APP, V2_CALLS), (V1_APP, V1_CALLS)], ids=["v2", "v1"])
def test_the_emulators_no_hook_mode_matches_the_real_runtime(proxy, spans, app_dir, calls):
    real, real_loaded = on_the_runtime(proxy, spans, app_dir, calls)
    emulated, emulated_loaded = on_the_emulator(spans, app_dir, calls)
    assert emulated_loaded == real_loaded
    for call, want, got in zip(calls, real, emulated, strict=True):
        assert got == want, call


@pytest.mark.parametrize("app_dir, calls", [(V2_APP, V2_CALLS), (V1_APP, V1_CALLS)], ids=["v2", "v1"])
def test_without_funcscope_the_emulator_drops_the_same_records(proxy, app_dir, calls):
    """The worker alone: which records reach their invocation, and which reach none."""
    reset_runner(Settings(enabled=False))
    app = proxy(app_dir)
    real = [app.invoke_many([Call(name, url=f"http://localhost/api/f{query}")])[0] for name, query in calls]
    real_seen = [(r.ok, sorted(line.message for line in r.user_logs())) for r in real]
    real_lost = sorted(line.message for line in app.unattributed if line.logger in ("shop", "v1app"))
    app.close()
    with Worker(app_dir, hooks="none", thread_count=4) as worker:
        emulated = [worker.invoke(name, {"url": f"http://localhost/api/f{query}"}) for name, query in calls]
        emulated_lost = sorted(e.message for e in worker.unattributed_logs if e.logger_name in ("shop", "v1app"))
    emulated_seen = [(r.ok, sorted(e.message for e in r.logs if not e.is_system)) for r in emulated]
    assert emulated_seen == real_seen
    assert emulated_lost == real_lost and "log from thread" in real_lost
