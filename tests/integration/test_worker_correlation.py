"""Correlation through the worker emulator: the invocation follows its work into threads, timers, thread pools,
executors and tasks, so every log record the host receives names its own invocation and every child span sits in
its own invocation's trace; reused pool threads carry nothing stale; switching propagation off gives back the
worker's plain behaviour; the retry context reaches code, log fields and spans.

The app (apps/correlated_v2) puts the worker's invocation id (`context.invocation_id`, not funcscope's view) into
every message and child span, so a record attributed to the wrong invocation, or a span under the wrong parent,
shows up as a mismatch rather than as a missing count.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import wrapt
from opentelemetry import trace

import funcscope
from funcscope.emulator import Call, InvocationResult, LogEntry, RetryContext, RpcException, Worker
from funcscope.emulator.context import invocation_local
from funcscope.emulator.extension_manager import ExtensionManager
from funcscope.instrumentation import classic_worker
from funcscope.instrumentation import threads as propagation
from funcscope.runtime import get_runner

from . import capture
from .conftest import APPS

APP = APPS / "correlated_v2"
APP_LOGGER = "correlated_v2"
PROBE_LOGGER = "correlated_v2.probe"
# The kinds of work each function fans out to (as in the app, which the worker imports itself).
SYNC_KINDS = ("main", "thread", "nested", "timer", "subclass", "submit", "map-0", "map-1", "map-2")
ASYNC_KINDS = ("main", "to_thread", "default_executor", "custom_executor", "task")
ENRICHMENT = (
    "invocation_id",
    "function_name",
    "trace_id",
    "span_id",
    "retry_count",
    "retry_max_count",
    "retry_is_final",
)
PREVIOUS_FAILURE = "azure.functions.retry.previous_failure"

_MESSAGE = re.compile(r"^(?P<kind>.+) for (?P<id>[0-9a-f-]{36})$")


# -- helpers -------------------------------------------------------------------------------------------------------


def parsed(entry: LogEntry) -> tuple[str, str]:
    """(kind, invocation id named in the message) of one of the app's records."""
    match = _MESSAGE.match(entry.message)
    assert match, entry.message
    return match["kind"], match["id"]


def user_logs(entries: Iterable[LogEntry], logger: str = APP_LOGGER) -> list[LogEntry]:
    return [e for e in entries if e.logger_name == logger]


def app_module() -> Any:
    """The app's module as the in-process worker imported it (v2 scripts are imported under their own name)."""
    module = sys.modules["function_app"]
    assert Path(module.__file__).resolve() == (APP / "function_app.py").resolve()
    return module


@contextlib.contextmanager
def app_worker(**options: Any) -> Iterator[Worker]:
    """An in-process Worker on the app; the app's module-level pools are stopped before it closes."""
    with Worker(APP, extensions_enabled=True, **options) as worker:
        try:
            yield worker
        finally:
            app_module().shutdown_pools()


def invocation_spans(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["attributes"]["faas.invocation_id"]: s for s in spans if "faas.invocation_id" in s["attributes"]}


def work_spans(spans: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Child spans by (invocation id the app gave them, kind of work)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for s in spans:
        if s["name"].startswith("work."):
            key = (s["attributes"]["test.invocation_id"], s["name"].removeprefix("work."))
            assert key not in found, key
            found[key] = s
    return found


def assert_correlated(
    results: list[InvocationResult], kinds: Iterable[str], spans: list[dict[str, Any]], worker: Worker
) -> None:
    """Every record of every invocation reached the host attributed to it (none lost, none crossed, enriched with
    its own invocation's fields), and every child span is a child of its own invocation's span."""
    by_invocation = invocation_spans(spans)
    children = work_spans(spans)
    ids = {r.invocation_id for r in results}
    assert len(ids) == len(results)
    # the host's trace parents are random per invocation, so a span in the wrong trace cannot go unnoticed
    assert len({by_invocation[i]["trace_id"] for i in ids}) == len(ids)
    assert {key for key in children if key[0] in ids} == {(r.invocation_id, kind) for r in results for kind in kinds}
    for r in results:
        own = user_logs(r.logs)
        assert sorted(parsed(e)[0] for e in own) == sorted(kinds), r.invocation_id  # none lost
        span = by_invocation[r.invocation_id]
        assert span["name"] == r.function_name and span["ended"]
        for e in own:
            kind, named = parsed(e)
            assert e.invocation_id == named == r.invocation_id  # none crossed
            assert e.fields["invocation_id"] == named and e.fields["function_name"] == r.function_name
            child = children[(named, kind)]
            assert child["trace_id"] == span["trace_id"] and child["parent_span_id"] == span["span_id"]
            assert (e.fields["trace_id"], e.fields["span_id"]) == (child["trace_id"], child["span_id"])
    for where in (worker.unattributed_logs, worker.late_logs):
        assert [e.message for e in user_logs(where) if parsed(e)[1] in ids] == []


def probe(label: str) -> dict[str, Any]:
    """What a piece of work sees on a thread when it was started outside any invocation; logs one record."""
    logging.getLogger(PROBE_LOGGER).info("probe %s", label)
    return {
        "current": funcscope.current(),
        "thread_local": getattr(invocation_local, "invocation_id", None),
        "span_valid": trace.get_current_span().get_span_context().is_valid,
        "thread": threading.current_thread().name,
    }


def assert_clean(seen: dict[str, Any]) -> None:
    assert (seen["current"], seen["thread_local"], seen["span_valid"]) == (None, None, False)


def probe_logs(worker: Worker) -> dict[str, LogEntry]:
    """The probes' records, by label: each reached the host without an invocation id."""
    probes = user_logs(worker.unattributed_logs, PROBE_LOGGER)
    assert all(e.invocation_id is None for e in probes)
    return {e.message.removeprefix("probe "): e for e in probes}


def assert_not_enriched(entry: LogEntry) -> None:
    assert not set(ENRICHMENT) & set(entry.fields), entry.fields  # no stale invocation's fields either


# -- 1, 2: many concurrent invocations -----------------------------------------------------------------------------


def test_64_concurrent_sync_invocations_fanning_out_to_threads_timers_and_pools():
    calls = [Call("fanout", {"body": str(n)}) for n in range(64)]
    with app_worker(thread_count=16) as worker:
        results = worker.invoke_many(calls, concurrency=64)
        assert all(r.ok for r in results), [r.exception for r in results if not r.ok][:3]
        assert_correlated(results, SYNC_KINDS, capture.finished_spans(), worker)
    # they really ran side by side on the worker's pool, which reused its threads
    mains = [e for r in results for e in user_logs(r.logs) if parsed(e)[0] == "main"]
    assert 1 < len({e.thread_name for e in mains}) <= 16


def test_1000_concurrent_async_invocations_with_to_thread_executors_and_tasks():
    calls = [Call("afanout", {"body": str(n)}) for n in range(1000)]
    with app_worker() as worker:
        results = worker.invoke_many(calls, concurrency=256)
        assert all(r.ok for r in results), [r.exception for r in results if not r.ok][:3]
        assert_correlated(results, ASYNC_KINDS, capture.finished_spans(), worker)
    threads = {e.thread_name for r in results for e in user_logs(r.logs) if parsed(e)[0] == "custom_executor"}
    assert 1 < len(threads) <= 4  # the app's one 4-thread executor served every invocation


# -- 3: pool threads reused across invocations ---------------------------------------------------------------------


def test_app_pool_thread_reused_across_invocations_and_outside_calls_shows_no_stale_id():
    """The app's module-level 1-thread pool serves successive invocations (some of whose work raises there), calls
    made outside any invocation, and then 16 concurrent invocations: each sees exactly its own invocation."""
    with app_worker(thread_count=4) as worker:
        pool = app_module().SHARED_POOL
        results, outside = [], []
        for n in range(6):
            results.append(worker.invoke("shared", {"body": "fail" if n % 2 else "ok"}))
            outside.append(pool.submit(probe, f"outside {n}").result())
        results += worker.invoke_many([Call("shared", {"body": "ok"}) for _ in range(16)], concurrency=16)
        outside.append(pool.submit(probe, "outside last").result())
        assert [r.ok for r in results] == [True, False] * 3 + [True] * 16
        assert_correlated(results, ["shared"], capture.finished_spans(), worker)
        probes = probe_logs(worker)
    assert sorted(probes) == sorted([f"outside {n}" for n in range(6)] + ["outside last"])
    for entry in probes.values():
        assert_not_enriched(entry)
    for seen in outside:
        assert_clean(seen)
    shared_threads = {e.thread_name for r in results for e in user_logs(r.logs)}
    assert shared_threads == {seen["thread"] for seen in outside} and len(shared_threads) == 1


@pytest.mark.parametrize("patched", [True, False], ids=["classic-patch", "no-patch"])
def test_worker_pool_thread_after_a_failing_invocation(patched):
    """thread_count=1: the invocation after a failing one runs on the same pool thread and sees only itself; work on
    that thread outside any invocation sees nothing (with the classic patch already right after the failure; without
    it, from the next invocation's start, where funcscope ends the abandoned one)."""
    with app_worker(thread_count=1) as worker:
        if not patched:
            classic_worker.uninstrument(ExtensionManager)
        pool = worker._local._pool  # the worker's own sync pool thread
        failed = worker.invoke("fanout", {"body": "fail"})
        after_failure = pool.submit(probe, "after failure").result()
        ok = worker.invoke("fanout", {"body": "ok"})
        after_ok = pool.submit(probe, "after ok").result()
        assert isinstance(failed.exception, RuntimeError) and ok.ok
        assert_correlated([failed, ok], SYNC_KINDS, capture.finished_spans(), worker)
        probes = probe_logs(worker)
    assert sorted(probes) == ["after failure", "after ok"]
    assert_not_enriched(probes["after ok"])
    (failed_main,) = [e for e in user_logs(failed.logs) if parsed(e)[0] == "main"]
    (ok_main,) = [e for e in user_logs(ok.logs) if parsed(e)[0] == "main"]
    assert failed_main.thread_name == ok_main.thread_name == after_ok["thread"]
    assert_clean(after_ok)
    if patched:
        assert_clean(after_failure)
        assert_not_enriched(probes["after failure"])
    else:
        # No post hook and no on-error report: until the next start on this thread funcscope cannot know the
        # invocation ended; the worker itself has already cleared its thread-local.
        assert after_failure["thread_local"] is None


# -- 4: propagation off is the worker's plain behaviour -----------------------------------------------------------


def _switch_off(how: str) -> None:
    if how == "configure":
        get_runner().configure(propagation=False)
    else:
        propagation.uninstrument()


def _switch_on(how: str) -> None:
    if how == "configure":
        get_runner().configure(propagation=True)
    else:
        propagation.instrument()


def _patched() -> bool:
    return isinstance(threading.Thread.__dict__["start"], wrapt.FunctionWrapper)


@pytest.mark.parametrize("how", ["configure", "uninstrument"])
def test_propagation_off_loses_thread_logs_as_the_worker_does_and_on_fixes_them(how):
    with app_worker(thread_count=2) as worker:
        _switch_off(how)
        assert not propagation.is_instrumented() and not _patched()
        plain = worker.invoke("fanout", {"body": "ok"})
        aplain = worker.invoke("afanout", {"body": "ok"})
        lost: dict[str, dict[str, LogEntry]] = {plain.invocation_id: {}, aplain.invocation_id: {}}
        for e in user_logs(worker.unattributed_logs):
            kind, named = parsed(e)
            lost[named][kind] = e
        spans = capture.finished_spans()

        _switch_on(how)
        assert propagation.is_instrumented() and _patched()
        capture.clear()
        fixed = worker.invoke_many([Call("fanout", {"body": "ok"}), Call("afanout", {"body": "ok"})])
        assert_correlated(fixed[:1], SYNC_KINDS, capture.finished_spans(), worker)
        assert_correlated(fixed[1:], ASYNC_KINDS, capture.finished_spans(), worker)

    assert plain.ok and aplain.ok
    by_invocation = invocation_spans(spans)
    children = work_spans(spans)

    # sync: only the record from the invocation's own pool thread is attributed; the threads' records reach the
    # host without an invocation id and without funcscope's fields, and their spans start new traces
    assert [parsed(e)[0] for e in user_logs(plain.logs)] == ["main"]
    assert sorted(lost[plain.invocation_id]) == sorted(set(SYNC_KINDS) - {"main"})
    for kind, e in lost[plain.invocation_id].items():
        assert e.invocation_id is None and "invocation_id" not in e.fields
        assert children[(plain.invocation_id, kind)]["parent_span_id"] is None

    # async: tasks carry the worker's mark, so "task" is attributed; executor threads are not. asyncio.to_thread
    # copies context variables (funcscope's fields and the span are there), yet the host still gets no id.
    assert sorted(parsed(e)[0] for e in user_logs(aplain.logs)) == ["main", "task"]
    assert sorted(lost[aplain.invocation_id]) == ["custom_executor", "default_executor", "to_thread"]
    aspan = by_invocation[aplain.invocation_id]
    for kind, e in lost[aplain.invocation_id].items():
        assert e.invocation_id is None
        child = children[(aplain.invocation_id, kind)]
        if kind == "to_thread":
            assert e.fields["invocation_id"] == aplain.invocation_id and child["parent_span_id"] == aspan["span_id"]
        else:
            assert "invocation_id" not in e.fields and child["parent_span_id"] is None


# -- plain event-loop callbacks: no task, so the host goes by the loop thread's thread-local -------------------


def test_loop_callback_of_an_async_invocation_is_attributed_to_it():
    with app_worker() as worker:
        first, second = worker.invoke_many(
            [Call("acallback", {"body": "first"}), Call("acallback", {"body": "second"})], concurrency=2
        )
        assert first.ok and second.ok
        spans = capture.finished_spans()
    entries = [e for r in (first, second) for e in user_logs(r.logs)]
    (entry,) = [e for e in entries if parsed(e) == ("callback", first.invocation_id)]
    # funcscope's own view is right: context variables follow the callback
    assert entry.fields["invocation_id"] == first.invocation_id
    child = work_spans(spans)[(first.invocation_id, "callback")]
    assert child["parent_span_id"] == invocation_spans(spans)[first.invocation_id]["span_id"]
    # and so is the host's: the record is not filed under the invocation that started last
    assert entry.invocation_id == first.invocation_id, (
        f"attributed to {entry.invocation_id} (second: {second.invocation_id})"
    )


# -- 5: retry context ----------------------------------------------------------------------------------------------


class SdkStyleRetryContext:
    """Shaped as the SDK documents it: the previous failure under `exception`, no `rpc_exception`."""

    def __init__(self, retry_count: Any, max_retry_count: Any, exception: Any) -> None:
        self.retry_count = retry_count
        self.max_retry_count = max_retry_count
        self.exception = exception


class ExplodingRetryContext:
    """Every attribute read raises."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name} here")


RETRY_CASES = {
    "first": (RetryContext(0, 3), (0, 3, False, None)),
    "middle": (RetryContext(1, 3, RpcException("", "", "attempt 1 failed")), (1, 3, False, "attempt 1 failed")),
    "final": (RetryContext(3, 3, RpcException("", "", "attempt 3 failed")), (3, 3, True, "attempt 3 failed")),
    "forever": (RetryContext(7, -1, RpcException("", "", "again")), (7, -1, False, "again")),
    "no-policy": (RetryContext(), (0, 0, True, None)),
    # None: the emulator sends what the host sends a first attempt of these functions, their policy's maximum.
    "missing": (None, (0, 3, False, None)),
    "bare-object": (object(), (0, 0, True, None)),
    "string": ("retry please", (0, 0, True, None)),
    "sdk-exception-attribute": (
        SdkStyleRetryContext(2, 5, RpcException("", "", "sdk style")),
        (2, 5, False, "sdk style"),
    ),
    "string-counts-no-failure": (RetryContext("2", "2", None), (2, 2, True, None)),  # type: ignore[arg-type]
    "negative-and-none": (RetryContext(-3, None, None), (0, 0, True, None)),  # type: ignore[arg-type]
    "exploding": (ExplodingRetryContext(), (0, 0, True, None)),
}


@pytest.mark.parametrize("function", ["retried", "aretried"])
@pytest.mark.parametrize("case", list(RETRY_CASES))
def test_retry_context_reaches_code_threads_log_fields_and_spans(function, case):
    retry_context, (count, max_count, is_final, previous) = RETRY_CASES[case]
    with app_worker(thread_count=2) as worker:
        result = worker.invoke(function, {"body": "ok"}, retry_context=retry_context)
        retry_logs = user_logs(worker.unattributed_logs + worker.late_logs + result.logs, "funcscope.retry")
    result.raise_for_exception()
    view = {"count": count, "max_count": max_count, "is_final": is_final, "previous_failure": previous}
    records = {parsed(e)[0]: e for e in user_logs(result.logs)}
    assert sorted(records) == ["retry view main", "retry view thread"]  # the thread's record is attributed too
    for e in records.values():
        assert e.fields["retry_view"] == view  # funcscope.current().retry, on the function's thread and its own
        fields = (e.fields["retry_count"], e.fields["retry_max_count"], e.fields["retry_is_final"])
        assert fields == (count, max_count, is_final)
    (span,) = [s for s in capture.finished_spans() if s["name"] == function]
    retry_attributes = {k: v for k, v in span["attributes"].items() if k.startswith("azure.functions.retry.")}
    if (count, max_count) == (0, 0):  # no retry policy and no retry: nothing to tell on the span
        assert retry_attributes == {}
    else:
        assert retry_attributes == {
            "azure.functions.retry.count": count,
            "azure.functions.retry.max_count": max_count,
            "azure.functions.retry.is_final": is_final,
        }
    events = [attrs for name, attrs in span["events"] if name == PREVIOUS_FAILURE]
    expected = [] if previous is None else [{"exception.message": previous, "azure.functions.retry.count": count}]
    assert events == expected
    assert retry_logs == []  # success never signals an exhausted retry policy


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    "function, case, signals",
    [
        ("retried", "final", True),
        ("retried", "forever", False),
        ("retried", "first", False),
        ("retried", "middle", False),
        ("once", "no-policy", False),
        ("once", "missing", False),
        ("once", "string", False),
        ("once", "bare-object", False),
        ("once", "exploding", False),
    ],
)
def test_only_a_failing_final_attempt_of_a_retry_policy_logs_one_error(asynchronous, function, case, signals):
    function = f"a{function}" if asynchronous else function
    retry_context, (count, max_count, is_final, _) = RETRY_CASES[case]
    with app_worker(thread_count=2) as worker:
        result = worker.invoke(function, {"body": "fail"}, retry_context=retry_context)
        elsewhere = user_logs(worker.unattributed_logs + worker.late_logs, "funcscope.retry")
    assert isinstance(result.exception, RuntimeError)
    assert elsewhere == []
    signalled = user_logs(result.logs, "funcscope.retry")  # attributed to the invocation by the host
    if not signals:
        assert signalled == []
        return
    (record,) = signalled
    assert record.levelname == "ERROR" and record.invocation_id == result.invocation_id
    assert f"Final attempt {count} of {max_count} for {function} failed" in record.message
    assert result.invocation_id in record.message and "RuntimeError: attempt failed" in record.message
    assert (record.fields["invocation_id"], record.fields["retry_is_final"]) == (result.invocation_id, True)
    (span,) = [s for s in capture.finished_spans() if s["name"] == function]
    assert span["status"] == "ERROR" and span["attributes"]["azure.functions.retry.is_final"] is True


# -- 6: several worker processes -----------------------------------------------------------------------------------


def test_two_worker_processes_attribute_thread_logs_in_each():
    calls = [Call("fanout" if n % 2 else "afanout", {"body": str(n)}) for n in range(32)]
    with Worker(APP, extensions_enabled=True, process_count=2, thread_count=4) as worker:
        pids = worker.pids
        results = worker.invoke_many(calls, concurrency=32)
        parts = worker.run_in_each_process(capture.finished_spans)
        assert all(r.ok for r in results), [r.exception for r in results if not r.ok][:3]
        spans = [s for part in parts for s in part]
        assert_correlated([r for r in results if r.function_name == "fanout"], SYNC_KINDS, spans, worker)
        assert_correlated([r for r in results if r.function_name == "afanout"], ASYNC_KINDS, spans, worker)
    assert len(set(pids)) == 2 and os.getpid() not in pids and {r.pid for r in results} == set(pids)
    spans_by_pid = dict(zip(pids, parts, strict=True))
    for r in results:  # each invocation's span and its children were made in the process that ran it
        local = spans_by_pid[r.pid]
        assert r.invocation_id in invocation_spans(local)
        assert {k for k in work_spans(local) if k[0] == r.invocation_id} == {
            (r.invocation_id, kind) for kind in (SYNC_KINDS if r.function_name == "fanout" else ASYNC_KINDS)
        }
