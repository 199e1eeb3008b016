"""Log enrichment: records made while an invocation is current (on its thread, its tasks and the threads it
starts) carry its fields; other records are untouched; the factory chain is installed and removed cleanly."""

from __future__ import annotations

import asyncio
import copy
import io
import logging
import pickle
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs import export as log_export
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from funcscope.instrumentation import logging as logs
from funcscope.instrumentation import threads as propagation
from funcscope.instrumentation.logging import (
    LOG_FIELD_DEFAULTS,
    LOG_FIELDS,
    InvocationFormatter,
    install_log_enrichment,
    uninstall_log_enrichment,
)
from funcscope.runtime import get_runner, reset_runner
from funcscope.shared.settings import Settings

from .fakes import FakeContext

InMemoryLogExporter = getattr(log_export, "InMemoryLogRecordExporter", None) or log_export.InMemoryLogExporter
APP = object()
FORMAT = "%(invocation_id)s|%(function_name)s|%(trace_id)s|%(span_id)s|%(retry_count)s|%(message)s"


class Retry:
    retry_count, max_retry_count = 2, 5


@pytest.fixture(autouse=True)
def enrichment():
    original = logging.getLogRecordFactory()
    install_log_enrichment()
    yield original
    uninstall_log_enrichment()
    assert logging.getLogRecordFactory() is original


@pytest.fixture
def capture():
    """A logger whose records are kept, and formatted with FORMAT into a stream."""
    logger = logging.getLogger("tests.log_enrichment")
    records: list[logging.LogRecord] = []
    keep = logging.Handler()
    keep.emit = records.append  # type: ignore[method-assign]
    stream = io.StringIO()
    formatted = logging.StreamHandler(stream)
    formatted.setFormatter(InvocationFormatter(FORMAT))
    logger.addHandler(keep)
    logger.addHandler(formatted)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield SimpleNamespace(logger=logger, records=records, lines=lambda: stream.getvalue().splitlines())
    logger.removeHandler(keep)
    logger.removeHandler(formatted)


def start(ctx):
    get_runner().start(ctx, {}, APP)
    return trace.get_current_span().get_span_context()


def expected(ctx, span):
    return {
        "invocation_id": ctx.invocation_id,
        "function_name": ctx.function_name,
        "trace_id": format(span.trace_id, "032x"),
        "span_id": format(span.span_id, "016x"),
        "retry_count": 2,
        "retry_max_count": 5,
        "retry_is_final": False,
    }


def fields(record):
    return {name: getattr(record, name) for name in LOG_FIELDS if hasattr(record, name)}


def test_records_inside_an_invocation_carry_its_fields_and_formatters_can_use_them(capture):
    ctx = FakeContext(function_name="Orders", retry_context=Retry())
    span = start(ctx)
    capture.logger.info("inside")
    get_runner().finish(ctx, None, APP)
    capture.logger.info("outside")
    inside, outside = capture.records
    assert fields(inside) == expected(ctx, span)
    assert fields(outside) == {} and type(outside.__dict__) is dict  # untouched
    want = expected(ctx, span)
    assert capture.lines() == [
        f"{ctx.invocation_id}|Orders|{want['trace_id']}|{want['span_id']}|2|inside",
        "||||0|outside",
    ]


def test_plain_formatter_with_the_defaults_recipe():
    formatter = logging.Formatter(FORMAT, defaults=LOG_FIELD_DEFAULTS)
    record = logging.getLogRecordFactory()("x", logging.INFO, __file__, 1, "plain", (), None)
    assert formatter.format(record) == "||||0|plain"


def test_no_span_gives_empty_ids():
    reset_runner(Settings(metrics=False, tracing=False))
    ctx = FakeContext(trace_parent=None)
    get_runner().start(ctx, {}, APP)
    try:
        record = logging.getLogger("tests.log_enrichment").makeRecord("n", logging.INFO, "f", 1, "m", (), None)
    finally:
        get_runner().finish(ctx, None, APP)
    assert (record.invocation_id, record.trace_id, record.span_id, record.retry_count) == (ctx.invocation_id, "", "", 0)


def test_records_from_threads_and_pools_started_inside_an_invocation(capture):
    propagation.instrument()
    try:
        ctx = FakeContext(retry_context=Retry())
        span = start(ctx)
        thread = threading.Thread(target=capture.logger.info, args=("thread",))
        thread.start()
        thread.join()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(capture.logger.info, "pool").result()
            get_runner().finish(ctx, None, APP)
            pool.submit(capture.logger.info, "pool, outside").result()
    finally:
        propagation.uninstrument()
    by_message = {r.getMessage(): r for r in capture.records}
    assert fields(by_message["thread"]) == expected(ctx, span)
    assert fields(by_message["pool"]) == expected(ctx, span)
    assert fields(by_message["pool, outside"]) == {}


def test_records_in_an_async_invocations_tasks(capture):
    ctx = FakeContext(retry_context=Retry())

    async def main():
        span = start(ctx)
        await asyncio.gather(asyncio.create_task(asyncio.to_thread(capture.logger.info, "to_thread")))
        capture.logger.info("task")
        get_runner().finish(ctx, None, APP)
        return span

    span = asyncio.run(main())
    assert [fields(r) for r in capture.records] == [expected(ctx, span)] * 2


def test_extra_with_the_same_names_is_not_an_error_and_wins(capture):
    ctx = FakeContext()
    start(ctx)
    try:
        capture.logger.info("m", extra={"invocation_id": "given", "trace_id": "t"})
    finally:
        get_runner().finish(ctx, None, APP)
    (record,) = capture.records
    assert (record.invocation_id, record.trace_id, record.function_name) == ("given", "t", ctx.function_name)
    with pytest.raises(KeyError):  # the usual protection of the record's own attributes still holds
        capture.logger.info("m", extra={"message": "x"})


def test_enriched_records_copy_and_pickle_as_plain_records(capture):
    ctx = FakeContext()
    start(ctx)
    capture.logger.info("m")
    get_runner().finish(ctx, None, APP)
    (record,) = capture.records
    for clone in (copy.copy(record), pickle.loads(pickle.dumps(record))):
        assert type(clone.__dict__) is dict and clone.invocation_id == ctx.invocation_id


def test_install_is_idempotent_and_uninstall_restores_the_previous_factory(enrichment, capture):
    ours = logging.getLogRecordFactory()
    install_log_enrichment()
    install_log_enrichment()
    assert logging.getLogRecordFactory() is ours
    assert logs._layer_of(ours).previous is enrichment  # one layer, over the original
    assert logs.is_log_enrichment_installed()
    uninstall_log_enrichment()
    assert logging.getLogRecordFactory() is enrichment and not logs.is_log_enrichment_installed()
    uninstall_log_enrichment()  # again: nothing to do
    install_log_enrichment()
    ctx = FakeContext()
    start(ctx)
    capture.logger.info("m")
    get_runner().finish(ctx, None, APP)
    assert capture.records[0].invocation_id == ctx.invocation_id


def test_uninstall_under_another_factory_leaves_the_chain_and_passes_through(enrichment, capture):
    ours = logging.getLogRecordFactory()

    def theirs(*args, **kwargs):
        record = ours(*args, **kwargs)
        record.theirs = True
        return record

    logging.setLogRecordFactory(theirs)
    try:
        uninstall_log_enrichment()
        assert logging.getLogRecordFactory() is theirs
        ctx = FakeContext()
        start(ctx)
        capture.logger.info("passed through")
        install_log_enrichment()  # a fresh layer on top; the old one stays a pass-through
        capture.logger.info("enriched once")
        get_runner().finish(ctx, None, APP)
        assert logs._layer_of(logging.getLogRecordFactory()).previous is theirs
    finally:
        uninstall_log_enrichment()
        logging.setLogRecordFactory(enrichment)
        install_log_enrichment()  # for the fixture's own uninstall
    passed, enriched = capture.records
    assert fields(passed) == {} and passed.theirs
    assert enriched.invocation_id == ctx.invocation_id and enriched.theirs


def test_a_retired_layer_that_becomes_the_factory_again_is_reused(enrichment):
    ours = logging.getLogRecordFactory()

    def theirs(*args, **kwargs):
        return ours(*args, **kwargs)

    logging.setLogRecordFactory(theirs)
    uninstall_log_enrichment()  # ours stays under theirs, passing through
    logging.setLogRecordFactory(ours)  # they remove theirs
    install_log_enrichment()
    assert logging.getLogRecordFactory() is ours  # enabled again, not stacked
    ctx = FakeContext()
    start(ctx)
    record = logging.getLogger("tests.log_enrichment").makeRecord("n", logging.INFO, "f", 1, "m", (), None)
    get_runner().finish(ctx, None, APP)
    assert record.invocation_id == ctx.invocation_id


def test_a_failure_to_enrich_never_reaches_logging(capture, monkeypatch, caplog):
    def broken():
        raise RuntimeError("no span")

    monkeypatch.setattr(logs, "trace", SimpleNamespace(get_current_span=broken))
    ctx = FakeContext()
    get_runner().start(ctx, {}, APP)
    try:
        with caplog.at_level(logging.WARNING, logger="funcscope"):
            capture.logger.info("first")
            capture.logger.info("second")
    finally:
        get_runner().finish(ctx, None, APP)
    assert [r.getMessage() for r in capture.records] == ["first", "second"]
    assert len([r for r in caplog.records if "could not add invocation fields" in r.getMessage()]) == 1


def test_opentelemetry_logging_handler_exports_the_fields_as_attributes():
    exporter = InMemoryLogExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's handler is deprecated in newer versions
        handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger("tests.log_enrichment.otel")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        ctx = FakeContext(retry_context=Retry())
        span = start(ctx)
        logger.info("exported")
        get_runner().finish(ctx, None, APP)
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    inside, outside = exporter.get_finished_logs()
    attributes = dict(inside.log_record.attributes)
    assert {name: attributes.get(name) for name in LOG_FIELDS} == expected(ctx, span)
    assert inside.log_record.trace_id == span.trace_id  # the handler's own correlation agrees
    assert not set(LOG_FIELDS) & set(outside.log_record.attributes or {})
