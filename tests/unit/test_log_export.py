"""Log export through a logger provider funcscope is given: every record of an invocation, from its thread and
from a thread it started, with its invocation fields and the invocation span's trace and span ids; one handler
whoever configures twice; nothing while an exporter exports; `logs="host"` exports nothing."""

from __future__ import annotations

import logging
import threading

import pytest
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

import funcscope
from funcscope.runtime import get_runner
from funcscope.telemetry.logs import exports_logs, records_handler

from .fakes import FakeContext

APP = object()
log = logging.getLogger("test.app")


@pytest.fixture
def exported():
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    log.setLevel(logging.INFO)
    yield provider, exporter
    funcscope.configure(logs="host")
    assert records_handler() is None


def invoke(body):
    runner = get_runner()
    ctx = FakeContext(function_name="logger")
    runner.start(ctx, {}, APP)
    try:
        body()
    finally:
        runner.finish(ctx, None, APP)
    return ctx


def test_every_record_with_its_invocation(spans, exported):
    provider, exporter = exported
    funcscope.configure(logs="export", logger_provider=provider, propagation=True, log_enrichment=True)
    funcscope.configure(logs="export", logger_provider=provider, propagation=True, log_enrichment=True)

    def body():
        log.info("from the body")
        thread = threading.Thread(target=lambda: log.warning("from a thread"))
        thread.start()
        thread.join()

    ctx = invoke(body)
    log.info("outside any invocation")
    (span,) = spans.get_finished_spans()
    records = {r.log_record.body: r.log_record for r in exporter.get_finished_logs() if r.log_record.body}
    assert set(records) == {"from the body", "from a thread", "outside any invocation"}  # each once
    for body in ("from the body", "from a thread"):
        record = records[body]
        assert record.attributes["invocation_id"] == ctx.invocation_id
        assert record.attributes["function_name"] == "logger"
        assert (record.trace_id, record.span_id) == (span.context.trace_id, span.context.span_id)
    assert records["outside any invocation"].span_id == 0
    assert records["from a thread"].severity_text == "WARN"


def test_nothing_logged_during_an_export_is_exported(exported):
    provider, exporter = exported
    funcscope.configure(logs="export", logger_provider=provider)
    token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))  # how the SDK's processors export
    try:
        log.warning("the exporter's HTTP client says something")
    finally:
        detach(token)
    assert exporter.get_finished_logs() == ()


def test_host_mode_exports_nothing(exported):
    provider, exporter = exported
    funcscope.configure(logs="host", logger_provider=provider)
    invoke(lambda: log.warning("for the host only"))
    assert records_handler() is None and exporter.get_finished_logs() == ()


@pytest.mark.parametrize(
    "logs, worker_mode, exported",
    [
        ("export", None, True),
        ("host", "true", False),
        ("auto", "true", True),
        ("auto", "false", False),
        ("auto", None, False),
    ],
)
def test_auto_follows_the_worker_opentelemetry_mode(monkeypatch, logs, worker_mode, exported):
    if worker_mode is None:
        monkeypatch.delenv("PYTHON_ENABLE_OPENTELEMETRY", raising=False)
    else:
        monkeypatch.setenv("PYTHON_ENABLE_OPENTELEMETRY", worker_mode)
    assert exports_logs(logs) is exported


def test_export_without_a_logger_provider_says_so_once(caplog, monkeypatch):
    caplog.set_level(logging.WARNING, logger="funcscope")
    for _ in range(2):
        funcscope.configure(logs="export")  # the test process has a global tracer provider, no logger provider
    (warning,) = [r.getMessage() for r in caplog.records if "logger provider" in r.getMessage()]
    assert "no log record is exported" in warning
