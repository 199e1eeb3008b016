"""Flushes are bounded by flush_timeout_ms, also when the exporter never returns and no new thread can be started
(at interpreter exit, Python 3.12.0 and 3.12.1 refuse to start threads); the idle flush comes once per burst; the
export delay follows the app's setting; flush="invocation" waits for each flush until the backend stops answering."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest
from opentelemetry import metrics, trace

from funcscope.middleware.flush import IdleFlushMiddleware, InvocationFlushMiddleware
from funcscope.shared.diagnostics import forget_reports
from funcscope.shared.invocation import Invocation
from funcscope.shared.settings import DEFAULT_FUNCTION_OPTIONS, export_delay_ms
from funcscope.telemetry import drops, flush
from funcscope.telemetry.setup import Telemetry

from . import fakes


class StuckProvider:
    """A provider whose force_flush blocks until released, as the SDK's does behind an exporter that hangs."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.calls += 1
        self.release.wait(30)
        return True


class QuickProvider:
    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _telemetry(provider: object) -> Telemetry:
    return Telemetry(
        trace.NoOpTracer(), metrics.NoOpMeter("test"), "given", flush_timeout_ms=50, _tracer_provider=provider
    )


@pytest.fixture
def warnings(caplog):
    forget_reports()
    caplog.set_level(logging.WARNING, logger="funcscope")
    yield caplog
    forget_reports()


def _wait_until_idle(provider: StuckProvider, tel: Telemetry) -> None:
    provider.release.set()
    assert tel._last_job is not None and tel._last_job.done.wait(10)


def test_a_flush_stuck_in_the_exporter_is_given_up_after_the_timeout(warnings):
    provider = StuckProvider()
    tel = _telemetry(provider)
    try:
        assert tel.flush() is False
        assert tel.flush() is False  # still stuck: not queued behind it again
        assert provider.calls == 1
        messages = [r.getMessage() for r in warnings.records if "flush_timeout_ms=50" in r.getMessage()]
        assert len(messages) == 1
    finally:
        _wait_until_idle(provider, tel)
    assert tel.flush() is True  # the exporter answered: flushing works again


def test_the_flush_stays_bounded_when_no_thread_can_be_started(monkeypatch, warnings):
    assert flush._flusher.start()  # what setting the providers up does, while threads can be started
    refused = []

    def no_new_threads(self):
        refused.append(self.name)
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", no_new_threads)
    provider = StuckProvider()
    tel = _telemetry(provider)
    try:
        assert tel.flush() is False
        assert provider.calls == 1
    finally:
        monkeypatch.undo()
        _wait_until_idle(provider, tel)
    assert refused == []  # the flusher was running already: nothing needed a new thread


def test_without_any_flush_thread_the_flush_runs_in_place(monkeypatch):
    monkeypatch.setattr(flush, "_flusher", flush._Flusher())  # never started

    def no_new_threads(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", no_new_threads)
    assert _telemetry(QuickProvider()).flush() is True


class CountingProvider:
    def __init__(self) -> None:
        self.flushes: list[float] = []

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.flushes.append(time.monotonic())
        return True


def test_an_idle_gap_flushes_once_per_burst():
    provider = CountingProvider()
    tel = _telemetry(provider)
    burst_end = time.monotonic()
    for _ in range(20):  # a burst of invocations ending 10 ms apart: no flush while it lasts
        tel.flush_when_idle(0.2)
        burst_end = time.monotonic()
        time.sleep(0.01)
    assert provider.flushes == [] or provider.flushes[0] >= burst_end
    deadline = time.monotonic() + 10
    while not provider.flushes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(provider.flushes) == 1 and provider.flushes[0] - burst_end >= 0.2 - 0.01
    time.sleep(0.3)
    assert len(provider.flushes) == 1  # nothing ended since: no second flush
    tel.flush_when_idle(0.05)
    deadline = time.monotonic() + 10
    while len(provider.flushes) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(provider.flushes) == 2


def test_flush_zero_starts_a_flush_without_waiting_for_it(warnings):
    provider = StuckProvider()
    tel = _telemetry(provider)
    try:
        assert tel.flush(0) is False and tel.delivered() is None
        deadline = time.monotonic() + 10
        while provider.calls == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert provider.calls == 1
        assert [r for r in warnings.records if "flush_timeout_ms" in r.getMessage()] == []  # no one waited
    finally:
        _wait_until_idle(provider, tel)
    assert tel.delivered() is True


def test_export_delay_defaults_leave_the_apps_own_settings(monkeypatch):
    for name in flush.EXPORT_DELAY_SETTINGS:  # monkeypatch puts back what was there before whatever the code sets
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    flush.set_export_delay_defaults(export_delay_ms())
    assert os.environ["OTEL_BSP_SCHEDULE_DELAY"] == "250"
    assert os.environ["OTEL_BLRP_SCHEDULE_DELAY"] == "250"  # the span delay the app chose goes for logs too
    monkeypatch.delenv("OTEL_BSP_SCHEDULE_DELAY")
    monkeypatch.delenv("OTEL_BLRP_SCHEDULE_DELAY")
    flush.set_export_delay_defaults(export_delay_ms())
    assert os.environ["OTEL_BSP_SCHEDULE_DELAY"] == os.environ["OTEL_BLRP_SCHEDULE_DELAY"] == "1000"


@pytest.mark.parametrize("raw, expected", [(None, 1000), ("", 1000), ("300", 300), ("soon", 1000), ("-5", 0)])
def test_export_delay_follows_the_sdk_setting(raw, expected):
    assert export_delay_ms({} if raw is None else {"OTEL_BSP_SCHEDULE_DELAY": raw}) == expected


def _invocation() -> Invocation:
    return Invocation(fakes.FakeContext("fn"), {}, "http", DEFAULT_FUNCTION_OPTIONS, cold_start=False)


def test_invocation_flush_stops_waiting_for_a_backend_that_does_not_answer(warnings):
    """Only the invocation that finds the backend stuck waits; the next ones start no second flush behind it, and
    once a flush gets through the invocations wait for theirs again."""
    provider = StuckProvider()
    tel = _telemetry(provider)
    middleware = InvocationFlushMiddleware(tel)
    invocation = _invocation()
    try:
        started = time.monotonic()
        middleware.after(invocation, None)  # waits flush_timeout_ms=50, then gives up
        assert time.monotonic() - started >= 0.05 and provider.calls == 1
        for _ in range(3):
            middleware.after(invocation, None)
            middleware.on_error(invocation, RuntimeError("boom"))
        assert provider.calls == 1  # nothing was queued behind the stuck flush
    finally:
        _wait_until_idle(provider, tel)
    quick = QuickProvider()
    tel._tracer_provider = quick
    middleware.after(invocation, None)  # the stuck flush got through: wait again
    assert middleware._waiting is True


class FailingProvider:
    """Flushes in time, but its exporter reports the batch as failed (what a backend answering 500 looks like)."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        drops._lost(drops.SPANS, drops.EXPORT_FAILED, 1)
        return True


def test_invocation_flush_stops_waiting_for_a_backend_that_answers_with_errors():
    tel = _telemetry(FailingProvider())
    middleware = InvocationFlushMiddleware(tel)
    try:
        assert tel.flush() is True and tel.delivered() is False  # in time, but not delivered
        middleware.after(_invocation(), None)
        assert middleware._waiting is False
    finally:
        drops.reset_counts()


def test_invocation_flush_waits_for_every_invocation_while_the_backend_answers():
    provider = CountingProvider()
    middleware = InvocationFlushMiddleware(_telemetry(provider))
    for _ in range(5):
        middleware.after(_invocation(), None)
    assert len(provider.flushes) == 5


def test_idle_flush_middleware_never_flushes_in_the_invocation():
    provider = CountingProvider()
    tel = _telemetry(provider)
    middleware = IdleFlushMiddleware(tel, idle_ms=60_000)
    for _ in range(5):
        middleware.after(_invocation(), None)
        middleware.on_error(_invocation(), RuntimeError("boom"))
    assert provider.flushes == [] and tel._idle_pending
