"""funcscope in the real classic worker, v2 app (`apps/traced_v2`): one worker process started for the module.

The worker runs `PYTHON_ENABLE_WORKER_EXTENSIONS=1` and a pool of 4 threads (`PYTHON_THREADPOOL_THREAD_COUNT`).
Every test uses host traces of its own, so what earlier tests left in the worker does not matter.
"""

from __future__ import annotations

import pytest

from funcscope.bench.realworker.client import RealWorker

from .conftest import APPS, LIB, new_trace
from .helpers import children, invocation_spans, records_of, the_span, work_logs, work_spans

MODES = {"sync": "hello", "async": "ahello"}
SYNC_WORK = {"main", "thread", "nested", "timer", "subclass", "submit", "map"}
ASYNC_WORK = {"main", "to_thread", "default_executor", "app_executor", "task", "thread"}


@pytest.fixture(scope="module")
def worker(location):
    with RealWorker(APPS / "traced_v2", python_path=[LIB], thread_count=4, location=location) as w:
        yield w


@pytest.mark.parametrize("mode", MODES)
def test_one_span_per_invocation_joined_to_the_host_trace(worker, mode):
    trace_id, host_span, traceparent = new_trace()
    result = worker.invoke(
        MODES[mode], {"params": {"action": "log"}}, trace_parent=traceparent, trace_state="congo=t61rcWkgMzE"
    )
    observed = result.json_body()
    spans = worker.spans()
    span = the_span(spans, result.invocation_id)
    assert span["name"] == MODES[mode]
    assert span["kind"] == "INTERNAL"  # the host's span is the request
    assert (span["trace_id"], span["parent_span_id"], span["parent_is_remote"]) == (trace_id, host_span, True)
    assert span["trace_state"] == "congo=t61rcWkgMzE"
    assert span["status"] == "UNSET"
    assert span["attributes"]["faas.trigger"] == "http"
    assert span["attributes"]["http.response.status_code"] == 200
    assert [s for s in spans if s["trace_id"] == trace_id] == [span]
    # The function ran inside it, as funcscope's current invocation.
    assert (observed["span_id"], observed["current"]) == (span["span_id"], result.invocation_id)
    assert [log.invocation_id for log in result.user_logs] == [result.invocation_id]


@pytest.mark.parametrize("mode", MODES)
def test_hooks_run_in_registration_order_around_funcscope(worker, mode):
    result = worker.invoke(MODES[mode], trace_parent=new_trace()[2])
    result.raise_for_exception()
    span = the_span(worker.spans(), result.invocation_id)
    records = records_of(worker, result.invocation_id)
    assert [r["where"] for r in records] == [
        "pre_invocation_app_level:AppFirst",
        "pre_invocation_app_level:AppLast",
        "function",
        "post_invocation_app_level:AppFirst",  # post hooks are not reversed: AppFirst again runs first
        "post_invocation_app_level:AppLast",
    ]
    # FuncScopeExtension registered between the two: its span is open from AppLast's pre hook to its own post hook.
    assert [r["span_id"] == span["span_id"] for r in records] == [False, True, True, True, False]
    assert [r["current"] == result.invocation_id for r in records] == [False, True, True, True, False]
    thread = {r["thread"] for r in records}
    assert len(thread) == 1  # hooks and function on one thread: a pool thread (sync) or the loop (async)
    assert all(r["on_loop"] == (mode == "async") for r in records)
    assert {r["logger"] for r in records if "logger" in r} == {
        "azure_functions_worker.extension.AppFirst",
        "azure_functions_worker.extension.AppLast",
    }


@pytest.mark.parametrize("mode", MODES)
def test_error_when_the_function_raises_and_no_post_hook_runs(worker, mode):
    trace_id, host_span, traceparent = new_trace()
    failed = worker.invoke(MODES[mode], {"params": {"action": "raise"}}, trace_parent=traceparent)
    assert not failed.ok and "failed as asked" in failed.exception.message
    records = records_of(worker, failed.invocation_id)
    assert [r["where"] for r in records] == [
        "pre_invocation_app_level:AppFirst",
        "pre_invocation_app_level:AppLast",
        "function",
    ]
    span = the_span(worker.spans(), failed.invocation_id)
    assert span["status"] == "ERROR" and "ValueError" in span["status_description"]
    assert (span["trace_id"], span["parent_span_id"]) == (trace_id, host_span)
    exception = [e for e in span["events"] if e["name"] == "exception"]
    assert len(exception) == 1 and exception[0]["attributes"]["exception.type"] == "ValueError"
    # The next invocations (on the same pool threads, or the loop) start clean: nothing of the failed one leaks.
    later = worker.invoke_many([{"function_name": MODES[mode], "trace_parent": new_trace()[2]} for _ in range(6)])
    spans = worker.spans()
    for result in later:
        observed = result.json_body()
        span = the_span(spans, result.invocation_id)
        assert span["parent_span_id"] == result.trace_parent.split("-")[2]
        assert observed["current"] == result.invocation_id


def test_http_5xx_is_an_error(worker):
    result = worker.invoke("hello", {"params": {"status": "503"}}, trace_parent=new_trace()[2])
    assert result.ok and result.value["status_code"] == 503
    span = the_span(worker.spans(), result.invocation_id)
    assert span["status"] == "ERROR"
    assert span["attributes"]["http.response.status_code"] == 503


@pytest.mark.parametrize(("mode", "kinds"), [("sync", SYNC_WORK), ("async", ASYNC_WORK)])
def test_logs_and_spans_from_threads_pools_and_tasks_belong_to_the_invocation(worker, mode, kinds):
    trace_id, _, traceparent = new_trace()
    result = worker.invoke(MODES[mode], {"params": {"action": "threads"}}, trace_parent=traceparent)
    result.raise_for_exception()
    # The host files every log under the invocation, though the worker alone knows none of these threads.
    logs = work_logs(result.logs, result.invocation_id)
    assert set(logs) == kinds
    assert {log.invocation_id for log in logs.values()} == {result.invocation_id}
    spans = worker.spans()
    span = the_span(spans, result.invocation_id)
    work = work_spans(spans, result.invocation_id)
    assert {s["name"] for s in work} == {f"work.{k}" for k in kinds}
    assert {s["parent_span_id"] for s in work} == {span["span_id"]}
    assert {s["trace_id"] for s in work} == {trace_id}
    assert children(spans, span) == sorted(work, key=lambda s: spans.index(s))
    threads = {r["where"]: r for r in records_of(worker, result.invocation_id)}
    assert {r["tls"] for w, r in threads.items() if w.startswith("work:")} == {result.invocation_id}


def test_concurrent_sync_invocations_keep_their_own_trace_and_ids(worker):
    traces = [new_trace() for _ in range(12)]
    calls = [
        {"function_name": "hello", "payload": {"params": {"action": "sleep", "seconds": "0.05"}}, "trace_parent": t[2]}
        for t in traces
    ]
    results = worker.invoke_many(calls)
    spans = worker.spans()
    threads = set()
    for (trace_id, host_span, _), result in zip(traces, results, strict=True):
        observed = result.json_body()
        threads.add(observed["thread"])
        assert (observed["current"], observed["tls"]) == (result.invocation_id, result.invocation_id)
        span = the_span(spans, result.invocation_id)
        assert (span["trace_id"], span["parent_span_id"]) == (trace_id, host_span)
        (work,) = work_spans(spans, result.invocation_id)
        assert work["parent_span_id"] == span["span_id"]
        assert work_logs(result.logs, result.invocation_id)["sleep"].invocation_id == result.invocation_id
    assert len(threads) > 1 and all(t.startswith("ThreadPoolExecutor-") for t in threads)
    assert len(threads) <= 4  # PYTHON_THREADPOOL_THREAD_COUNT


def test_concurrent_async_invocations_keep_their_own_trace_and_ids(worker):
    worker.run_in_each_process("rwwork:take_peak")
    traces = [new_trace() for _ in range(24)]
    calls = [
        {"function_name": "ahello", "payload": {"params": {"action": "sleep", "seconds": "0.2"}}, "trace_parent": t[2]}
        for t in traces
    ]
    results = worker.invoke_many(calls)
    assert worker.run_in_each_process("rwwork:take_peak")[0] >= 20  # really in flight together
    spans = worker.spans()
    for (trace_id, host_span, _), result in zip(traces, results, strict=True):
        observed = result.json_body()
        assert observed["current"] == result.invocation_id and observed["task_mark"] == result.invocation_id
        span = the_span(spans, result.invocation_id)
        assert (span["trace_id"], span["parent_span_id"]) == (trace_id, host_span)
        work = work_spans(spans, result.invocation_id)
        assert {s["name"] for s in work} == {"work.sleep", "work.sleep_thread"}
        assert {s["parent_span_id"] for s in work} == {span["span_id"]}
        logs = work_logs(result.logs, result.invocation_id)
        assert {k: log.invocation_id for k, log in logs.items()} == dict.fromkeys(
            ("sleep", "sleep_thread"), result.invocation_id
        )


def _event(body: str) -> dict:
    return {"body": body, "partition_key": "p0", "sequence_number": 7}


@pytest.mark.parametrize("function", ["retried", "aretried"])
def test_retry_context_in_telemetry(worker, function):
    previous = {"message": "RuntimeError: attempt 1 failed", "stack_trace": "...", "source": "Worker"}
    middle = worker.invoke(
        function,
        _event("ok"),
        trace_parent=new_trace()[2],
        retry_context={"retry_count": 1, "max_retry_count": 3, "exception": previous},
    )
    final = worker.invoke(
        function,
        _event("fail"),
        trace_parent=new_trace()[2],
        retry_context={"retry_count": 3, "max_retry_count": 3, "exception": previous},
    )
    assert middle.ok and not final.ok
    spans = worker.spans()
    span = the_span(spans, middle.invocation_id)
    assert span["attributes"]["azure.functions.retry.count"] == 1
    assert span["attributes"]["azure.functions.retry.max_count"] == 3
    assert span["attributes"]["azure.functions.retry.is_final"] is False
    (event,) = [e for e in span["events"] if e["name"] == "azure.functions.retry.previous_failure"]
    assert event["attributes"]["exception.message"] == previous["message"]
    final_span = the_span(spans, final.invocation_id)
    assert final_span["attributes"]["azure.functions.retry.is_final"] is True
    assert final_span["status"] == "ERROR"
    exhausted = [log for log in final.logs if log.category == "funcscope.retry"]
    assert len(exhausted) == 1 and exhausted[0].level == "Error"
    assert "Final attempt 3 of 3" in exhausted[0].message


def test_the_workers_retry_context_has_rpc_exception_not_exception(worker):
    result = worker.invoke(
        "retried",
        _event("ok"),
        retry_context={"retry_count": 2, "max_retry_count": 3, "exception": {"message": "earlier failure"}},
    )
    result.raise_for_exception()
    assert [log.invocation_id for log in result.user_logs] == [result.invocation_id]
    (record,) = [r for r in records_of(worker, result.invocation_id) if r["where"] == "function"]
    shape = record["retry_seen"]
    assert shape["worker_retry_type"] == "RetryContext"
    assert shape["worker_failure_message"] == "earlier failure"
    assert shape["worker_has_exception_attr"] is False
    assert (shape["count"], shape["max_count"], shape["is_final"]) == (2, 3, False)
    assert shape["previous_failure"] == "earlier failure"


@pytest.mark.parametrize(
    "traceparent",
    ["garbage", "00-not-hex-01", "00-00000000000000000000000000000000-0000000000000000-01", "ff-" + "a" * 32 + "-b"],
)
def test_malformed_traceparent_gives_a_root_span_and_the_invocation_runs(worker, traceparent):
    result = worker.invoke("hello", trace_parent=traceparent)
    observed = result.json_body()
    span = the_span(worker.spans(), result.invocation_id)
    assert span["parent_span_id"] is None
    assert "azure.functions.invalid_traceparent" in span["attributes"]
    assert observed["span_id"] == span["span_id"]


def test_a_malformed_traceparent_is_reported_at_most_once(worker):
    worker.logs()  # forget what came before
    results = worker.invoke_many([{"function_name": "hello", "trace_parent": f"garbage-{i}"} for i in range(5)])
    assert all(r.ok for r in results)
    warnings = [log for log in worker.logs() if log.category.startswith("funcscope") and log.level == "Warning"]
    assert len(warnings) <= 1


def test_queue_and_timer_triggers(worker):
    trace_id, host_span, traceparent = new_trace()
    order = worker.invoke("on_order", {"body": "order-1", "id": "m-1"}, trace_parent=traceparent)
    poison = worker.invoke("on_order", {"body": "poison"}, trace_parent=new_trace()[2])
    tick = worker.invoke("tick", {"past_due": True}, trace_parent=new_trace()[2])
    assert order.ok and tick.ok and not poison.ok
    spans = worker.spans()
    span = the_span(spans, order.invocation_id)
    assert (span["trace_id"], span["parent_span_id"]) == (trace_id, host_span)
    assert span["attributes"]["faas.trigger"] == "pubsub"
    assert span["attributes"]["messaging.message.id"] == "m-1"
    assert the_span(spans, poison.invocation_id)["status"] == "ERROR"
    assert the_span(spans, tick.invocation_id)["attributes"]["faas.trigger"] == "timer"
    assert invocation_spans(spans, "nobody") == []
