"""The worker emulator against the real worker: one app (`apps/traced_v1`, v1, funcscope between recording
extensions), the same invocations through both, and what each records compared.

Compared, per invocation: the hooks that ran and in what order; on which kind of thread each hook, the function
and every piece of work ran (the event loop, the worker's pool, the loop's default executor, a thread the app
named); the worker's thread-local `invocation_id`, the task's invocation mark, funcscope's current invocation and
the current span at each of those points, as whose they are (this invocation's, another's, none); where the host
filed each of the app's log records; the spans and their parents; and the load hooks. Ids, thread numbers and
timings differ by nature and are left out.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from funcscope.bench.realworker.client import RealWorker
from funcscope.bench.realworker.worker_side.probe import span_dict  # noqa
from funcscope.emulator import Call, RetryContext, RpcException, Worker
from funcscope.runtime import reset_runner
from funcscope.shared.settings import Settings

from ..conftest import PLAIN, SPAN_EXPORTER
from .conftest import APPS, LIB, new_trace

APP = APPS / "traced_v1"

#: (function, action) run one after another, then the two overlapping async invocations at once.
SEQUENCE = [
    ("Sync", "plain"),
    ("Sync", "log"),
    ("Sync", "threads"),
    ("Sync", "raise"),
    ("Sync", "plain"),  # on a pool thread a failed invocation ran on
    ("Sync", "cv"),
    ("Sync", "cv"),  # the pool thread's context variables survive from the previous invocation
    ("Async", "plain"),
    ("Async", "log"),
    ("Async", "threads"),
    ("Async", "raise"),
    ("Async", "cv"),
    ("Async", "cv"),  # each task starts from a fresh context
]
OVERLAP = [("Async", "first"), ("Async", "second")]
#: One more: what the function's `context` looks like, with a trace state, attributes and a retry context.
SHAPE_RETRY = RetryContext(1, 3, RpcException(source="Host", stack_trace="Traceback ...", message="it failed"))


def _calls(pairs: list[tuple[str, str]]) -> list[Call]:
    return [Call(fn, {"params": {"action": action}}, trace_parent=new_trace()[2]) for fn, action in pairs]


def _shape_call() -> Call:
    return Call(
        "Sync",
        {"params": {"action": "shape"}},
        trace_parent=new_trace()[2],
        trace_state="congo=t61rcWkgMzE",
        trace_attributes={"host.attribute": "1"},
        retry_context=SHAPE_RETRY,
    )


def _role(record: dict[str, Any]) -> str:
    name = record["thread"]
    if record["on_loop"]:
        return "event loop"
    if name.startswith("ThreadPoolExecutor-"):
        return "worker pool"
    if name.startswith("asyncio_"):
        return "default executor"
    if name.startswith("rw-"):
        return name.split("_")[0]
    return name


class Transcript:
    """What one run recorded, with every id replaced by whose it is."""

    def __init__(
        self, calls: list[Call], results: list[Any], bodies: list[Any], records: list[dict], logs: list, spans: list
    ):
        self.ids = [r.invocation_id for r in results]
        self.calls = calls
        self.results = results
        self.bodies = bodies
        self.records = records
        self.logs = logs
        self.spans = spans

    def whose(self, value: Any, index: int) -> str | None:
        if value is None:
            return None
        if value == self.ids[index]:
            return "own"
        if value in self.ids:
            return f"invocation {self.ids.index(value) - index:+d}"  # relative: -1 is the one before
        return "unknown"

    def _function_record(self, index: int) -> dict[str, Any] | None:
        return next(
            (r for r in self.records if r["where"] == "function" and r.get("invocation_id") == self.ids[index]), None
        )

    def cv_whose(self, value: Any, index: int) -> str | None:
        # Which pool thread runs an invocation is the pool's choice (usually the one the previous invocation
        # ran on, not always, in both), so a context variable is compared by what that thread last had.
        mine = self._function_record(index)
        earlier = [
            self.ids[j]
            for j in range(index)
            if "cv_before" in (self._function_record(j) or {})
            and (mine is None or mine["on_loop"] or self._function_record(j)["thread"] == mine["thread"])
        ]
        if mine is not None and not mine["on_loop"]:
            expected = earlier[-1] if earlier else None
            return "what this pool thread last had" if value == expected else self.whose(value, index)
        return self.whose(value, index)

    def invocation(self, index: int) -> dict[str, Any]:
        own = self.ids[index]
        host_span = self.calls[index].trace_parent.split("-")[2]
        trace_id = self.calls[index].trace_parent.split("-")[1]
        spans = [s for s in self.spans if s["trace_id"] == trace_id]
        mine = [s for s in spans if s["attributes"].get("faas.invocation_id") == own]
        span_id = mine[0]["span_id"] if len(mine) == 1 else None

        def span_whose(value: str | None) -> str | None:
            if value is None:
                return None
            return "invocation span" if value == span_id else "host span" if value == host_span else "other span"

        records = [
            {
                "where": r["where"],
                "thread": _role(r),
                "tls": self.whose(r["tls"], index),
                "task_mark": self.whose(r["task_mark"], index),
                "in_task": r["in_task"],
                "current": self.whose(r["current"], index),
                "span": span_whose(r["span_id"]),
                **({"cv_before": self.cv_whose(r["cv_before"], index)} if "cv_before" in r else {}),
                **({"logger": r["logger"]} if "logger" in r else {}),
            }
            for r in self.records
            if r.get("invocation_id") == own
        ]
        # Work on threads and tasks of its own runs concurrently: compare it as a set, in a stable order.
        records = [r for r in records if not r["where"].startswith("work:")] + sorted(
            (r for r in records if r["where"].startswith("work:")), key=lambda r: (r["where"], r["thread"])
        )
        logs = sorted(
            (message.replace(own, "<own>"), self.whose(attributed, index))
            for message, attributed in self.logs
            if own in message
        )
        result = self.results[index]
        return {
            "ok": result.ok,
            "shape": (self.bodies[index] or {}).get("shape"),
            "records": records,
            "logs": logs,
            "spans": sorted((s["name"], span_whose(s["parent_span_id"]), s["status"]) for s in spans),
        }

    def loads(self) -> list[dict[str, Any]]:
        return [
            {"where": r["where"], "function": r["function"], "thread": _role(r)}
            for r in self.records
            if r["where"].startswith("post_function_load")
        ]


def _take_records() -> list[dict]:
    return importlib.import_module("rwrecord").take()


@pytest.fixture(scope="module")
def real(location):
    with RealWorker(APP, python_path=[LIB], location=location) as worker:
        records = worker.run_in_each_process("rwrecord:take")[0]
        worker.spans()
        calls = [*_calls(SEQUENCE), _shape_call()]
        results = worker.invoke_many(calls, concurrency=1)
        overlap = _calls(OVERLAP)
        results += worker.invoke_many(overlap)
        records += worker.run_in_each_process("rwrecord:take")[0]
        logs = [(log.message, log.invocation_id) for log in worker.logs() if log.category == "rwapp"]
        bodies = [r.json_body() if r.ok else None for r in results]
        yield Transcript(calls + overlap, results, bodies, records, logs, worker.spans())


@pytest.fixture(scope="module")
def emulated():
    SPAN_EXPORTER.clear()
    reset_runner(Settings(metrics=False))  # funcscope as the app gets it (no meter provider in this process)
    with Worker(APP, extensions_enabled=True) as worker:
        calls = [*_calls(SEQUENCE), _shape_call()]
        results = worker.invoke_many(calls, concurrency=1)
        overlap = _calls(OVERLAP)
        results += worker.invoke_many(overlap)
        records = worker.run_in_each_process(_take_records)[0]
        bodies = [json.loads(r.value.get_body()) if r.ok else None for r in results]
        entries = [e for r in results for e in r.logs] + worker.unattributed_logs + worker.late_logs
    logs = [(e.message, e.invocation_id) for e in entries if e.logger_name == "rwapp"]
    spans = [span_dict(s) for s in SPAN_EXPORTER.get_finished_spans()]
    SPAN_EXPORTER.clear()
    reset_runner(PLAIN)
    yield Transcript(calls + overlap, results, bodies, records, logs, spans)


@pytest.mark.parametrize("index", range(len(SEQUENCE) + 1 + len(OVERLAP)))
def test_an_invocation_records_the_same_in_the_emulator_and_the_real_worker(real, emulated, index):
    assert emulated.invocation(index) == real.invocation(index)


def test_load_hooks_run_alike(real, emulated):
    assert emulated.loads() == real.loads()
    # The one difference left: the worker's event loop is the process's main thread (`asyncio.run` in its entry
    # script), so load hooks, async hooks and async functions run on "MainThread", where e.g. `signal.signal`
    # works. The emulator's loop runs on a thread of its own ("worker-event-loop"): the caller owns the main one.
    loop_threads = {(r["thread"], r["main_thread"]) for r in real.records if r.get("on_loop")}
    assert loop_threads == {("MainThread", True)}
    assert {(r["thread"], r["main_thread"]) for r in emulated.records if r.get("on_loop")} == {
        ("worker-event-loop", False)
    }
    assert [r["where"] for r in real.loads()] == [
        f"{hook}:{ext}"
        for _ in ("Async", "Sync")
        for hook, ext in (
            ("post_function_load", "FuncFirst"),
            ("post_function_load", "FuncLast"),
            ("post_function_load_app_level", "AppFirst"),
            ("post_function_load_app_level", "AppLast"),
        )
    ]
