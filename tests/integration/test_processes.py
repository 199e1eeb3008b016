"""Child processes: forked children start from clean state, and multiprocessing's processes and pool workers
(fork and spawn) export what they record, before they exit, through the real OTLP exporter to a receiver on
127.0.0.1. Each test drives funcscope in a fresh process (see test_export.run_child): the test process has its
own global providers already."""

from __future__ import annotations

import os
import sys

import pytest

from .test_export import FUNCTIONS_ENV, run_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")

CHILDREN = """
import multiprocessing, os, threading
from concurrent.futures import ProcessPoolExecutor
from opentelemetry import trace
import funcscope
from funcscope.emulator.context import Context, RetryContext, TraceContext
from funcscope.telemetry import resource
from tests.integration import process_work

funcscope.configure()
runner = get_runner()
method = ARGS["method"]
ctx_mp = multiprocessing.get_context(method)


def context(n):
    return Context("parent", "/app/parent", f"inv-{n}", threading.local(),
                   TraceContext(host_parent(n), "", {}), RetryContext())


# An invocation in flight on another thread when the children are made: theirs to leave alone.
other = context(9)
started, release = threading.Event(), threading.Event()
def in_flight():
    runner.start(other, {}, "app")
    started.set()
    release.wait(60)
    runner.finish(other, "done", "app")
thread = threading.Thread(target=in_flight)
thread.start()
started.wait(60)

ctx = context(1)
runner.start(ctx, {}, "app")
invocation_span = format(trace.get_current_span().get_span_context().span_id, "016x")
child = ctx_mp.Process(target=process_work.make_span, args=("process-child",))
child.start()
child.join(60)
with ctx_mp.Pool(2) as pool:  # leaving the block terminates the workers (SIGTERM)
    pids = pool.map(process_work.pool_task, range(4), chunksize=1)
with ProcessPoolExecutor(1, mp_context=ctx_mp) as executor:
    executor.submit(process_work.pool_task, 10).result(60)
runner.finish(ctx, "ok", "app")
release.set()
thread.join(60)
report(exitcode=child.exitcode, pool_pids=sorted(set(pids)), invocation_span=invocation_span,
       instance=resource.PROCESS_INSTANCE_ID, pid=os.getpid())
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_children_export_what_they_record(method, otlp, tmp_path):
    if method == "fork" and sys.platform == "darwin":
        pytest.skip("fork is not safe with the macOS system libraries")
    env = {
        **FUNCTIONS_ENV,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
        "OTEL_BSP_SCHEDULE_DELAY": "600000",
        "OTEL_METRIC_EXPORT_INTERVAL": "600000",
        "FUNCSCOPE_FLUSH_TIMEOUT_MS": "30000",
    }
    child = run_child(CHILDREN, tmp_path, env, method=method)
    assert child["exitcode"] == 0 and child["warnings"] == []
    spans = otlp.spans()
    by_name = {}
    for span in spans:
        name = span["name"] if span["name"] != "parent" else span["attributes"]["faas.invocation_id"]
        assert name not in by_name, f"{name} exported twice"
        by_name[name] = span
    # The Process's span is a child of the invocation that started it, in the host's trace.
    process_span = by_name["process-child"]
    assert process_span["parent_span_id"] == child["invocation_span"]
    assert process_span["trace_id"] == by_name["inv-1"]["trace_id"]
    # Every pool task's span left its worker, though `with Pool()` killed the workers; a pool worker serves
    # every invocation, so its tasks carry none.
    for n in (0, 1, 2, 3, 10):
        assert by_name[f"pool-task-{n}"]["parent_span_id"] is None
    # Each invocation exported once, by its own process: the one in flight at the fork was not exported again
    # (as abandoned) by a child.
    invocations = [s for s in spans if s["name"] == "parent"]
    assert sorted(s["attributes"]["faas.invocation_id"] for s in invocations) == ["inv-1", "inv-9"]
    assert all(s["status"] == "UNSET" for s in invocations)
    parent_instance = child["instance"]
    assert {s["resource"]["service.instance.id"] for s in invocations} == {parent_instance}
    children = {s["resource"]["service.instance.id"] for s in spans if s["name"] != "parent"}
    assert parent_instance not in children  # each child process is an instance of its own
    # The parent's counts are reported by the parent alone: no child re-reports them.
    for point in otlp.metrics():
        if point["name"].startswith("faas."):
            assert point["resource"]["service.instance.id"] == parent_instance, point
    invocation_counts = [p["value"] for p in otlp.metrics() if p["name"] == "faas.invocations"]
    assert invocation_counts and set(invocation_counts) == {2}
