"""What each piece of a funcscope invocation costs, one piece at a time (the attribution behind the overhead numbers).

Each benchmark times one piece in isolation, with garbage collection on, against the same benchmark providers the
overhead suite uses (a batch span processor with an exporter that drops everything, an in-memory metric reader).
In a full invocation the pieces cost more than here (a bigger heap to collect, colder caches), but their
proportions hold. Read them next to `test_overhead.py`.
"""

from __future__ import annotations

import itertools
import logging

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from funcscope.bench.configs import install, providers
from funcscope.bench.overhead import HookHarness
from funcscope.emulator.extension_manager import ExtensionManager
from funcscope.middleware.flush import IdleFlushMiddleware
from funcscope.middleware.tracing import TraceMiddleware
from funcscope.runtime.runner import get_runner
from funcscope.shared.invocation import Invocation
from funcscope.shared.redaction import redact_url
from funcscope.shared.triggers import classify_arguments
from funcscope.telemetry import drops

GROUP = "components (µs per call)"
PROPAGATOR = TraceContextTextMapPropagator()


@pytest.fixture(scope="module")
def invocations():
    """Plenty of distinct (context, args) pairs, built with the harness the overhead suite uses."""
    with HookHarness("bare") as harness:
        return harness.invocations(60000)


@pytest.fixture
def fresh(invocations):
    """A fresh invocation per call (a runner refuses an invocation id it has seen in flight)."""
    return itertools.cycle(invocations).__next__


def _quiet_logger(name):
    logger = logging.getLogger(name)
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def _bench(benchmark, fn):
    benchmark.group = GROUP
    benchmark.extra_info["gc"] = "on"
    benchmark.pedantic(fn, rounds=2000, iterations=10, warmup_rounds=50)


def test_worker_dispatch_nothing_registered(benchmark, fresh):
    with install("bare"):
        fn = lambda req, context: None  # noqa: E731

        def run():
            ctx, args = fresh()
            ExtensionManager.get_sync_invocation_wrapper(ctx, fn)(args)

        _bench(benchmark, run)


def test_runner_start_finish_no_middleware(benchmark, fresh):
    options = {"tracing": False, "metrics": False, "propagation": False, "log_enrichment": False}
    from funcscope.bench.configs import BenchConfig

    with install(BenchConfig("core", "runner only", funcscope=options)):
        runner = get_runner()

        def run():
            ctx, args = fresh()
            runner.start(ctx, args, None)
            runner.finish(ctx, None, None)

        _bench(benchmark, run)


def test_extension_hooks_through_the_worker(benchmark, fresh):
    """The worker's dispatch with funcscope's extension (runner, retry middleware only) registered."""
    options = {"tracing": False, "metrics": False, "propagation": False, "log_enrichment": False}
    from funcscope.bench.configs import BenchConfig

    with install(BenchConfig("core", "runner only", funcscope=options)):
        fn = lambda req, context: None  # noqa: E731

        def run():
            ctx, args = fresh()
            ExtensionManager.get_sync_invocation_wrapper(ctx, fn)(args)

        _bench(benchmark, run)


def test_invocation_snapshot(benchmark, fresh):
    ctx, args = fresh()
    trigger = classify_arguments(args)
    _bench(benchmark, lambda: Invocation(ctx, args, trigger))


def test_extract_host_context(benchmark, fresh):
    ctx, _ = fresh()
    tc = ctx.trace_context
    _bench(benchmark, lambda: PROPAGATOR.extract({"traceparent": tc.trace_parent, "tracestate": tc.trace_state}))


def test_span_without_attributes(benchmark, fresh):
    ctx, _ = fresh()
    parent = PROPAGATOR.extract({"traceparent": ctx.trace_context.trace_parent})
    tracer = providers().tracer
    _bench(benchmark, lambda: tracer.start_span("f", context=parent, kind=trace.SpanKind.SERVER).end())


def test_span_with_funcscope_attributes(benchmark, fresh):
    """The SDK's cost of the span with the attributes funcscope puts on an HTTP invocation (count in extra_info)."""
    ctx, args = fresh()
    invocation = Invocation(ctx, args, classify_arguments(args))
    attributes = TraceMiddleware(providers().tracer)._attributes(invocation)
    parent = invocation.host.parent
    tracer = providers().tracer
    benchmark.extra_info["attributes"] = len(attributes)
    _bench(
        benchmark,
        lambda: tracer.start_span("f", context=parent, kind=trace.SpanKind.SERVER, attributes=attributes).end(),
    )


def test_building_span_attributes(benchmark, fresh):
    ctx, args = fresh()
    invocation = Invocation(ctx, args, classify_arguments(args))
    middleware = TraceMiddleware(providers().tracer)
    _bench(benchmark, lambda: middleware._attributes(invocation))


def test_redact_url_nothing_to_redact(benchmark):
    _bench(benchmark, lambda: redact_url("http://localhost:7071/api/orders?id=42&name=bench"))


@pytest.mark.parametrize("in_span", [False, True], ids=["no-current-span", "in-sampled-span"])
@pytest.mark.parametrize("instrument", ["counter", "histogram"])
def test_one_metric_measurement(benchmark, instrument, in_span):
    """One synchronous measurement through the SDK; inside a sampled span the SDK also samples an exemplar."""
    meter = providers().meter_provider.get_meter("funcscope.perf")
    attributes = {"faas.name": "bench_http", "faas.trigger": "http"}
    if instrument == "counter":
        counter = meter.create_counter("perf.counter")
        fn = lambda: counter.add(1, attributes)  # noqa: E731
    else:
        histogram = meter.create_histogram("perf.histogram", explicit_bucket_boundaries_advisory=(0.001, 0.01, 0.1))
        fn = lambda: histogram.record(0.002, attributes)  # noqa: E731
    token = None
    if in_span:
        span = providers().tracer.start_span("current")
        token = otel_context.attach(trace.set_span_in_context(span))
    try:
        _bench(benchmark, fn)
    finally:
        if token is not None:
            otel_context.detach(token)


def test_a_log_record_in_an_invocation(benchmark, fresh):
    """A log record made while an invocation is current: the record factory adds the invocation's fields."""
    with install("funcscope-full"):
        runner = get_runner()
        ctx, args = fresh()
        runner.start(ctx, args, None)
        logger = _quiet_logger("funcscope.perf.in_invocation")
        try:
            _bench(benchmark, lambda: logger.warning("one record %s", 1))
        finally:
            runner.finish(ctx, None, None)


def test_a_log_record_outside_funcscope(benchmark):
    """The same record with no invocation current: what the record costs anyway."""
    logger = _quiet_logger("funcscope.perf.outside")
    _bench(benchmark, lambda: logger.warning("one record %s", 1))


def test_worker_dispatch_one_empty_extension(benchmark, fresh):
    """The worker's dispatch with one app extension whose hooks do nothing: what any extension costs."""
    import azure.functions as func

    with install("bare"):

        class EmptyExtension(func.AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls, logger, context, func_args=None, *args, **kwargs):
                return None

            @classmethod
            def post_invocation_app_level(cls, logger, context, func_args=None, func_ret=None, *args, **kwargs):
                return None

        fn = lambda req, context: None  # noqa: E731

        def run():
            ctx, args = fresh()
            ExtensionManager.get_sync_invocation_wrapper(ctx, fn)(args)

        _bench(benchmark, run)


@pytest.mark.parametrize("counted", [False, True], ids=["sdk-alone", "drops-counted"])
def test_span_end_into_the_batch_processor(benchmark, counted):
    """Ending a span into the batch span processor, with and without funcscope's count of what its full queue drops
    (one length check per span); the difference is what counting drops costs an invocation's span."""
    tracer = providers().tracer
    drops.uninstrument()
    if counted:
        drops.instrument()
    try:
        _bench(benchmark, lambda: tracer.start_span("f").end())
    finally:
        drops.uninstrument()


def test_noting_an_invocations_end_for_the_idle_flush(benchmark):
    """What the idle flush costs each invocation: the flush middleware's `after` (a clock read and a flag)."""
    telemetry = get_runner().telemetry
    middleware = IdleFlushMiddleware(telemetry, idle_ms=60_000)
    _bench(benchmark, lambda: middleware.after(None, None))


# -- redaction of what others record -------------------------------------------------------------------------------
# Each pair is timed interleaved (a round of one, then a round of the other), so a load that comes and goes on a
# shared machine weighs on both alike; the ratio of the medians is the number to read.

URLS = {
    "plain-url": "http://127.0.0.1:7071/api/orders?id=42&page=2",
    "keyed-url": "http://127.0.0.1:7071/api/orders?code=bench-function-key&id=42",
}


def _interleaved(fns, rounds=400, iterations=20):
    """Median µs per call of each of `fns`, timed in alternating rounds."""
    import statistics
    import time

    times = {name: [] for name in fns}
    for fn in fns.values():
        for _ in range(50):
            fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            started = time.perf_counter()
            for _ in range(iterations):
                fn()
            times[name].append((time.perf_counter() - started) / iterations * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def _with_and_without(perf_results, group, unit, make):
    """Time `make(redacting)`'s call with and without the redacting processor, interleaved; `make` returns the
    provider it set up (shut down after) and the call."""
    made = {redacting: make(redacting) for redacting in ("without", "with")}
    try:
        medians = _interleaved({redacting: fn for redacting, (_, fn) in made.items()})
    finally:
        for provider, _ in made.values():
            provider.shutdown()
    for name, value in medians.items():
        perf_results[("redaction", group, name)] = {"value": value, "unit": unit}


@pytest.mark.parametrize("url", URLS, ids=URLS)
def test_an_outgoing_call_span_with_the_redacting_processor(perf_results, url):
    """A CLIENT span as the HTTP client instrumentations start it (URL attributes given at start), ended into the
    batch processor, with and without funcscope's redacting span processor in front."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from funcscope.bench.configs import NoopSpanExporter
    from funcscope.telemetry.redacting import RedactingSpanProcessor

    attributes = {"http.method": "GET", "http.url": URLS[url], "server.address": "127.0.0.1", "server.port": 7071}

    def make(redacting):
        provider = TracerProvider(shutdown_on_exit=False)
        if redacting == "with":
            provider.add_span_processor(RedactingSpanProcessor())
        provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))
        tracer = provider.get_tracer("opentelemetry.instrumentation.requests")
        return provider, lambda: tracer.start_span("GET", kind=trace.SpanKind.CLIENT, attributes=attributes).end()

    _with_and_without(perf_results, f"client span, {url}", "µs/span", make)


class _DroppedLogs:
    def export(self, batch):
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        return LogRecordExportResult.SUCCESS

    def shutdown(self):
        return None

    def force_flush(self, timeout_millis=30000):
        return True


RECORDS = {"plain-record": False, "exception-record": True}


@pytest.mark.parametrize("record", RECORDS, ids=RECORDS)
def test_an_exported_log_record_with_the_redacting_processor(perf_results, record):
    """A record logged through the OpenTelemetry logging handler into the batch processor, with and without
    funcscope's redacting log record processor in front; `exception-record` carries a traceback."""
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    from funcscope.telemetry.redacting import RedactingLogRecordProcessor

    try:
        raise ValueError("order 42 refused by the downstream service")
    except ValueError as exc:
        exc_info = (type(exc), exc, exc.__traceback__) if RECORDS[record] else None

    def make(redacting):
        provider = LoggerProvider(shutdown_on_exit=False)
        if redacting == "with":
            provider.add_log_record_processor(RedactingLogRecordProcessor())
        provider.add_log_record_processor(BatchLogRecordProcessor(_DroppedLogs()))
        logger = _quiet_logger(f"bench.redaction.{record}.{redacting}")
        logger.handlers[:] = [LoggingHandler(logger_provider=provider)]
        return provider, lambda: logger.warning("order %s: %s", 42, "refused", exc_info=exc_info)

    _with_and_without(perf_results, f"log record, {record}", "µs/record", make)
