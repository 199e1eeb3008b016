"""Flushes are bounded by flush_timeout_ms, also when the exporter never returns and no new thread can be started
(at interpreter exit, Python 3.12.0 and 3.12.1 refuse to start threads)."""

from __future__ import annotations

import logging
import threading

import pytest
from opentelemetry import metrics, trace

from funcscope.shared.diagnostics import forget_reports
from funcscope.telemetry import flush
from funcscope.telemetry.setup import Telemetry


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
    assert tel._stuck is not None and tel._stuck.done.wait(10)


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
