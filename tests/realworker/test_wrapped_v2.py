"""Extension hooks off (`PYTHON_ENABLE_WORKER_EXTENSIONS` unset) in the real worker: `@funcscope.function`.

The app (`apps/wrapped_v2`) runs in two worker processes behind one host, as `FUNCTIONS_WORKER_PROCESS_COUNT=2`
would have it; the host hands invocations to them in turn.
"""

from __future__ import annotations

import pytest

from funcscope.bench.realworker.client import RealWorker

from .conftest import APPS, LIB, new_trace
from .helpers import the_span, work_logs, work_spans

MODES = {"sync": "plain", "async": "asks"}


@pytest.fixture(scope="module")
def worker(location):
    with RealWorker(
        APPS / "wrapped_v2", python_path=[LIB], processes=2, extensions_enabled=False, location=location
    ) as w:
        yield w


def _records(worker: RealWorker) -> list[dict]:
    return [r for per_process in worker.run_in_each_process("rwrecord:take") for r in per_process]


@pytest.mark.parametrize("mode", MODES)
def test_decorated_functions_are_traced_with_hooks_off(worker, mode):
    traces = [new_trace() for _ in range(4)]
    results = worker.invoke_many(
        [
            {"function_name": MODES[mode], "payload": {"params": {"action": "threads"}}, "trace_parent": t[2]}
            for t in traces
        ]
    )
    assert {r.pid for r in results} == set(worker.pids)  # both worker processes served
    spans = worker.spans()
    for (trace_id, host_span, _), result in zip(traces, results, strict=True):
        observed = result.json_body()
        span = the_span(spans, result.invocation_id)
        assert (span["trace_id"], span["parent_span_id"]) == (trace_id, host_span)
        assert span["pid"] == result.pid
        assert span["attributes"].get("flavour") == ("sync" if mode == "sync" else None)  # the decorator's options
        assert observed["current"] == result.invocation_id and observed["span_id"] == span["span_id"]
        assert {s["parent_span_id"] for s in work_spans(spans, result.invocation_id)} == {span["span_id"]}
        logs = work_logs(result.logs, result.invocation_id)
        assert logs and {log.invocation_id for log in logs.values()} == {result.invocation_id}
    # The worker ran no hook: the recording extension registered, and recorded nothing.
    assert [r["where"] for r in _records(worker) if not r["where"].startswith(("function", "work:"))] == []


@pytest.mark.parametrize("mode", MODES)
def test_decorated_function_that_raises_is_an_error(worker, mode):
    result = worker.invoke(MODES[mode], {"params": {"action": "raise"}}, trace_parent=new_trace()[2])
    assert not result.ok
    span = the_span(worker.spans(), result.invocation_id)
    assert span["status"] == "ERROR"


def test_decorated_function_without_a_context_parameter(worker):
    ok = worker.invoke("nocontext", trace_parent=new_trace()[2])
    failed = worker.invoke("nocontext", {"params": {"action": "raise"}}, trace_parent=new_trace()[2])
    assert ok.ok and ok.value["body"] == "ok" and not failed.ok
    spans = worker.spans()
    assert the_span(spans, ok.invocation_id)["status"] == "UNSET"
    assert the_span(spans, failed.invocation_id)["status"] == "ERROR"


def test_an_undecorated_function_is_traced_by_configure_alone(worker):
    # With hooks off, `funcscope.configure()` wraps every function where the worker reads it: the undecorated
    # one gets its span, and the logs of the threads and pools it starts carry its invocation id (the worker alone
    # would file them under none).
    trace_id, host_span, trace_parent = new_trace()
    result = worker.invoke("bare", {"params": {"action": "threads"}}, trace_parent=trace_parent)
    result.raise_for_exception()
    span = the_span(worker.spans(), result.invocation_id)
    assert (span["trace_id"], span["parent_span_id"]) == (trace_id, host_span)
    logs = [log for log in worker.logs() if log.category == "rwapp" and result.invocation_id in log.message]
    by_kind = {log.message.split(" for ")[0]: log.invocation_id for log in logs}
    assert {by_kind[k] for k in ("main", "thread", "nested", "timer", "subclass", "submit", "map")} == {
        result.invocation_id
    }
