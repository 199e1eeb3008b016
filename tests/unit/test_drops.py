"""Drop counting with the real SDK processors: exact counts for a full queue and failed exports, one summary line
a minute, the exporters' repeated lines held back, the running totals as a metric, and everything undone."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from opentelemetry.sdk._shared_internal import BatchProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from funcscope.shared.diagnostics import forget_reports
from funcscope.telemetry import drops

EXPORT_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


class GatedExporter(SpanExporter):
    """Answers FAILURE or SUCCESS, or raises; holds every export until `gate` is set."""

    def __init__(self, result: SpanExportResult = SpanExportResult.SUCCESS, raises: bool = False) -> None:
        self.result = result
        self.raises = raises
        self.gate = threading.Event()
        self.gate.set()
        self.received = 0
        self.entered = threading.Event()

    def export(self, spans):
        self.entered.set()
        self.gate.wait(30)
        self.received += len(spans)
        if self.raises:
            raise ConnectionError("backend gone")
        return self.result

    def shutdown(self):
        self.gate.set()


@pytest.fixture
def counted(caplog):
    """A fresh tally, funcscope's patches on, its report lines captured; all undone afterwards."""
    drops.uninstrument()
    drops.reset_counts()
    forget_reports()
    caplog.set_level(logging.WARNING)
    yield caplog
    drops.uninstrument()
    drops.reset_counts()


def _providers(exporter: SpanExporter, **batch: int) -> tuple[TracerProvider, BatchSpanProcessor, InMemoryMetricReader]:
    tracer_provider = TracerProvider()
    processor = BatchSpanProcessor(exporter, **batch)
    tracer_provider.add_span_processor(processor)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    drops.watch(tracer_provider, meter_provider, meter_provider.get_meter("test"))
    return tracer_provider, processor, reader


def _end_spans(provider: TracerProvider, count: int) -> None:
    tracer = provider.get_tracer("test")
    for n in range(count):
        tracer.start_span(f"s{n}").end()


def _records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "funcscope" and "not delivered" in r.getMessage()]


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in _records(caplog)]


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_a_full_queue_counts_every_span_it_drops(counted):
    exporter = GatedExporter()
    exporter.gate.clear()
    provider, processor, _ = _providers(exporter, max_queue_size=10, max_export_batch_size=5, schedule_delay_millis=10)
    _end_spans(provider, 5)
    assert exporter.entered.wait(10)  # one batch is stuck in the exporter; the queue takes 10 more, then drops
    _end_spans(provider, 35)
    queued = len(processor._batch_processor._queue)
    exporter.gate.set()
    processor.force_flush()
    assert queued == 10
    assert drops.totals()["lost"] == {"spans/queue_full": 40 - 5 - queued}
    assert exporter.received == 40 - drops.totals()["lost"]["spans/queue_full"]


@pytest.mark.parametrize("raises", [False, True], ids=["failure", "exception"])
def test_a_failed_export_counts_its_batch(counted, raises):
    provider, processor, _ = _providers(
        GatedExporter(SpanExportResult.FAILURE, raises=raises), max_export_batch_size=7, schedule_delay_millis=60_000
    )
    _end_spans(provider, 23)
    processor.force_flush()
    assert drops.totals()["lost"] == {"spans/export_failed": 23} and drops.export_failures() == 4  # 7+7+7+2


def test_a_successful_export_counts_nothing(counted):
    provider, processor, _ = _providers(GatedExporter(), schedule_delay_millis=60_000)
    _end_spans(provider, 10)
    processor.force_flush()
    assert drops.totals() == {"lost": {}, "kept": {}} and _lines(counted) == []


def test_spans_ended_after_shutdown_are_counted(counted):
    provider, processor, _ = _providers(GatedExporter())
    processor.shutdown()
    _end_spans(provider, 3)
    assert drops.totals()["lost"] == {"spans/after_shutdown": 3}


def test_one_summary_line_a_minute_with_what_was_lost_since(counted, monkeypatch):
    monkeypatch.setattr(drops, "REPORT_INTERVAL_S", 1.0)  # a short "minute"
    provider, processor, _ = _providers(GatedExporter(SpanExportResult.FAILURE), schedule_delay_millis=60_000)
    _end_spans(provider, 3)
    processor.force_flush()
    assert _wait_for(lambda: len(_lines(counted)) == 1)
    first_at = time.monotonic()
    for _ in range(5):  # within the interval: counted, not written yet
        _end_spans(provider, 2)
        processor.force_flush()
    assert len(_lines(counted)) == 1 or time.monotonic() - first_at >= 1.0
    assert _wait_for(lambda: len(_lines(counted)) == 2)
    # When the lines were written, not when this thread saw them (a loaded machine sees the first one late).
    written = [r.created for r in _records(counted)]
    assert written[1] - written[0] >= 1.0 - 0.05
    first, second = _lines(counted)
    assert "3 spans lost (3 export failed)" in first and "at most once a minute" in first
    assert "10 spans lost (10 export failed)" in second
    time.sleep(1.2)
    assert len(_lines(counted)) == 2  # nothing new, nothing said
    assert drops.totals()["lost"] == {"spans/export_failed": 13}


def test_the_exporters_repeated_lines_are_held_back_and_counted(counted):
    log = logging.getLogger(EXPORT_LOGGER)
    drops.instrument()
    for code in (500, 502, 503, 504, 500):
        log.warning("Failed to export span batch code: %s, reason: %s", code, "busy")
    log.error("Failed to export span batch due to timeout, max retries or shutdown.")
    log.info("Transmission succeeded")  # below warning: never held
    exporter_lines = [r.getMessage() for r in counted.records if r.name == EXPORT_LOGGER]
    assert exporter_lines == [
        "Failed to export span batch code: 500, reason: busy",
        "Failed to export span batch due to timeout, max retries or shutdown.",
    ]
    drops.report_pending()
    (line,) = _lines(counted)
    assert "4 more lines the exporters logged about it held back" in line


def test_the_totals_are_a_metric(counted):
    provider, processor, reader = _providers(GatedExporter(SpanExportResult.FAILURE), schedule_delay_millis=60_000)
    _end_spans(provider, 4)
    processor.force_flush()
    points = {
        (dict(p.attributes)["signal"], dict(p.attributes)["error.type"]): p.value
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == drops.DROPPED_METRIC
        for p in m.data.data_points
    }
    assert points == {("spans", "export_failed"): 4}


def test_at_stop_what_is_still_queued_or_being_exported_is_lost_and_said(counted):
    exporter = GatedExporter()
    exporter.gate.clear()
    provider, processor, _ = _providers(exporter, max_export_batch_size=4, schedule_delay_millis=10)
    _end_spans(provider, 4)
    assert exporter.entered.wait(10)
    _end_spans(provider, 3)
    drops.report_pending()  # the flush at stop ran out of time with this still out
    assert drops.totals()["lost"] == {"spans/unsent_at_stop": 7}
    (line,) = _lines(counted)
    assert "7 spans lost (7 still queued or being exported when the process stopped)" in line
    exporter.gate.set()


def test_uninstrument_undoes_every_patch(counted):
    exporter = GatedExporter()
    original_emit = BatchProcessor.__dict__["emit"]
    _providers(exporter)
    drops.instrument()
    assert BatchProcessor.__dict__["emit"] is not original_emit and "export" in exporter.__dict__
    assert logging.getLogger(EXPORT_LOGGER).filters
    drops.uninstrument()
    assert BatchProcessor.__dict__["emit"] is original_emit and "export" not in exporter.__dict__
    assert not [f for f in logging.getLogger(EXPORT_LOGGER).filters if isinstance(f, drops._OncePerMinute)]


@pytest.mark.parametrize(
    "sent, accepted, stored, failed, expected",
    [
        (101, 0, 101, True, (0, 100)),  # down: all kept in the offline storage (one item was about the resource)
        (101, 0, 0, True, (100, 0)),  # refused for good (400): all lost
        (101, 51, 0, True, (50, 0)),  # accepted in part (206), the rest refused for good
        (60, 60, 41, False, (0, 41)),  # rate limited: part sent, the rest stored without being sent
        (0, 0, 0, True, (100, 0)),  # failed before any request
    ],
)
def test_azure_monitor_items_map_back_onto_the_batch(sent, accepted, stored, failed, expected):
    call = drops._call
    call.requests, call.sent, call.accepted, call.stored = int(sent > 0), sent, accepted, stored
    assert drops._azure_outcome(100, failed) == expected
