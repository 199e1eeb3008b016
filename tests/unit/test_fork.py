"""A forked child starts from clean state: funcscope's locks free though another thread held them at the fork,
no invocation of the parent in flight, no tally of the parent's. (Children of multiprocessing, exporting through
the real exporters, are in tests/integration/test_processes.py; 500 forks under load in perf/test_soak.py.)"""

from __future__ import annotations

import multiprocessing.process
import os
import signal
import threading
import time

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from funcscope.instrumentation import processes
from funcscope.middleware import metrics as metrics_middleware
from funcscope.runtime import get_runner
from funcscope.shared import diagnostics

from .fakes import FakeContext

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
APP = object()


HANG_S = 15  # far longer than any check here takes, even on a loaded machine


def _in_child(check) -> int:
    """Fork; run `check()` in the child (which must return True); the child's exit code. A child still running
    after HANG_S is hung (a lock left held at the fork): it is killed and the test fails."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 3
        try:
            code = 0 if check() else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the child hung")


def test_locks_held_by_another_thread_at_the_fork_are_free_in_the_child():
    reader = InMemoryMetricReader()
    runner = get_runner()
    runner.configure(metrics=True, meter_provider=MeterProvider(metric_readers=[reader]))
    runner.start(ctx := FakeContext(function_name="warm"), {}, APP)
    runner.finish(ctx, None, APP)
    tallies = metrics_middleware._tallies[runner.telemetry.meter]
    held, release = threading.Event(), threading.Event()

    def hold():
        with diagnostics._lock, tallies.lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:

        def check():
            diagnostics.report_once(("test", "fork"), "funcscope: reported in the child")
            child_ctx = FakeContext(function_name="in-child")
            runner.start(child_ctx, {}, APP)
            runner.finish(child_ctx, None, APP)
            return runner.in_flight() == 0

        assert _in_child(check) == 0
    finally:
        release.set()
        holder.join(10)


def _sdk_metric_locks(meter_provider):
    # Where the SDK keeps its measurements, and the locks a measurement in progress holds.
    for storage in meter_provider._measurement_consumer._reader_storages.values():
        for matches in storage._instrument_view_instrument_matches.values():
            for match in matches:
                yield match._lock
                for aggregation in match._attributes_aggregation.values():
                    yield aggregation._lock


def test_a_measurement_in_progress_at_the_fork_does_not_hang_the_child():
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    runner = get_runner()
    runner.configure(metrics=True, meter_provider=meter_provider)
    runner.start(ctx := FakeContext(function_name="warm"), {}, APP)
    runner.finish(ctx, None, APP)
    locks = list(_sdk_metric_locks(meter_provider))
    assert locks
    held, release = threading.Event(), threading.Event()

    def measuring():  # as another thread recording a duration at the moment of the fork
        for lock in locks:
            lock.acquire()
        held.set()
        release.wait(30)
        for lock in locks:
            lock.release()

    holder = threading.Thread(target=measuring)
    holder.start()
    held.wait(10)
    try:

        def check():
            child_ctx = FakeContext(function_name="warm")  # the same series: the same aggregation
            runner.start(child_ctx, {}, APP)
            runner.finish(child_ctx, None, APP)
            return True

        assert _in_child(check) == 0
    finally:
        release.set()
        holder.join(10)


def test_the_child_has_none_of_the_parents_invocations_or_counts():
    reader = InMemoryMetricReader()
    runner = get_runner()
    runner.configure(metrics=True, meter_provider=MeterProvider(metric_readers=[reader]))
    done = FakeContext(function_name="done")
    runner.start(done, {}, APP)
    runner.finish(done, None, APP)
    flying = FakeContext(function_name="flying")
    runner.start(flying, {}, APP)  # in flight at the fork
    try:

        def check():
            every = list(metrics_middleware._tallies.values())
            nothing = every and not any(t.active or t.succeeded or t.failed for t in every)
            runner.shutdown()  # what a child's exit does: nothing of the parent's is ended (and exported) here
            return nothing and runner.in_flight() == 0

        assert _in_child(check) == 0
        assert runner.in_flight() == 1  # the parent's own is untouched
    finally:
        runner.finish(flying, None, APP)


def test_multiprocessing_patches_are_undone():
    processes.uninstrument()
    base = multiprocessing.process.BaseProcess
    originals = (base.__dict__["start"], base.__dict__["_bootstrap"])
    processes.instrument()
    processes.instrument()  # once
    assert (
        base.__dict__["start"].__wrapped__ is originals[0] and base.__dict__["_bootstrap"].__wrapped__ is originals[1]
    )
    processes.uninstrument()
    assert (base.__dict__["start"], base.__dict__["_bootstrap"]) == originals
