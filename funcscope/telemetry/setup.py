"""Where funcscope's spans, metrics and logs go: the OpenTelemetry providers, set up once per process.

Order of preference, first match wins:
1. providers passed to `configure(tracer_provider=..., meter_provider=..., logger_provider=...)`;
2. global providers someone already configured (the user, or the worker itself when
   `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY` is on) - reused, never configured twice;
3. providers funcscope configures and installs globally (see `exporters`): through the Azure Monitor distro when
   a connection string is given (`configure(connection_string=...)`, else `APPLICATIONINSIGHTS_CONNECTION_STRING`;
   see `azure_monitor`), else the SDK's; exporting to Azure Monitor, to OTLP when an OTLP endpoint is set (see
   `otlp`), to the console when asked (`exporter="console"`); when nothing would export, one warning says so.

Whichever they are, a tracer provider whose sampler does not follow the host's sampled flag gets one warning (see
`sampling`), and log records are exported through the logger provider when the `logs` setting asks (see `logs`).

Secrets others record are redacted on the way (see `redacting`): on the providers funcscope sets up, the URL of
every span and every log record exported; on providers it reuses, the URLs of the spans of the instrumentations
it switched on. Spans leave through a `BatchSpanProcessor`, so exporting never blocks an invocation; flushing
them, bounded by `flush_timeout_ms`, is `flush.py`'s job.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider

from ..shared.diagnostics import report_once
from ..shared.forksafe import unlocked_in_child
from ..shared.settings import export_delay_ms
from .azure_monitor import set_up_azure_monitor
from .exporters import exporters_for
from .flush import BoundedFlush, _flusher, set_export_delay_defaults
from .forked import drop_metric_points_after_fork, renew_identity_after_fork
from .logs import export_records, exports_logs, stop_exporting_records
from .resource import build_resource
from .sampling import sampler_finding

if TYPE_CHECKING:
    from ..shared.settings import Settings

__all__ = ["Telemetry", "set_up_providers", "setup_telemetry"]

INSTRUMENTATION_NAME = "funcscope"


def _is_configured_tracer_provider(provider: object) -> bool:
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def _is_configured_meter_provider(provider: object) -> bool:
    # The API's placeholder is a private proxy class; anything else was installed by someone.
    return not isinstance(provider, metrics.NoOpMeterProvider) and type(provider).__name__ != "_ProxyMeterProvider"


@dataclass
class Telemetry(BoundedFlush):
    """The tracer and meter funcscope emits with, and the providers it configured itself (if any)."""

    tracer: trace.Tracer
    meter: metrics.Meter
    source: str  # "given", "global", "funcscope", or "disabled" (no-op, set nothing up)
    exporters: tuple[str, ...] = ()
    flush_timeout_ms: int = 2000
    _owned: list[Any] = field(default_factory=list)
    _tracer_provider: Any = None
    _meter_provider: Any = None
    _logger_provider: Any = None  # the provider log records are exported through, when they are

    @property
    def tracer_provider(self) -> Any:
        return self._tracer_provider

    @property
    def meter_provider(self) -> Any:
        return self._meter_provider


_lock = unlocked_in_child(threading.Lock())
_configured: Telemetry | None = None  # what funcscope installed globally, at most once per process


def setup_telemetry(
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    logger_provider: Any = None,
    exporter: str = "auto",
    service_name: str | None = None,
    flush_timeout_ms: int = 2000,
    want_metrics: bool = True,
    logs: str = "auto",
    azure_monitor_storage: str | None = None,
    connection_string: str | None = None,
    credential: Any = None,
) -> Telemetry:
    """The providers to emit with, by the order of preference in this module's docstring; with log records
    exported when the `logs` setting asks for it (see `logs.exports_logs`). `connection_string` and `credential`
    are Azure Monitor's, when given in code."""
    from .. import __version__

    _flusher.start()  # now, while threads can be started: the last flush runs at interpreter exit
    export_logs = exports_logs(logs)

    def reuse(tp: Any, mp: Any, source: str) -> Telemetry:
        finding = sampler_finding(tp)
        if finding is not None:
            report_once(("telemetry", "sampler"), finding)
        lp = logger_provider if logger_provider is not None else get_logger_provider()
        exported = _export_records_to(lp if _is_configured_logger_provider(lp) else None, export_logs)
        drop_metric_points_after_fork(mp)  # funcscope records into it: a forked child's measurements must return
        from ..instrumentation.outgoing import instrumented_scopes
        from .redacting import redact_spans_of

        redact_spans_of(tp, instrumented_scopes)
        return Telemetry(
            tp.get_tracer(INSTRUMENTATION_NAME, __version__),
            mp.get_meter(INSTRUMENTATION_NAME, __version__),
            source,
            flush_timeout_ms=flush_timeout_ms,
            _tracer_provider=tp,
            _meter_provider=mp,
            _logger_provider=lp if exported else None,
        )

    if tracer_provider is not None or meter_provider is not None or logger_provider is not None:
        return reuse(
            tracer_provider if tracer_provider is not None else trace.get_tracer_provider(),
            meter_provider if meter_provider is not None else metrics.get_meter_provider(),
            "given",
        )
    global _configured
    with _lock:
        if _configured is not None:
            _configured.flush_timeout_ms = flush_timeout_ms
            return _configured
        tp, mp = trace.get_tracer_provider(), metrics.get_meter_provider()
        if _is_configured_tracer_provider(tp):
            if want_metrics and not _is_configured_meter_provider(mp):
                report_once(
                    ("telemetry", "no-meter-provider"),
                    "a tracer provider is configured but no meter provider; invocation metrics are "
                    "recorded into a no-op meter. Configure a MeterProvider to export them.",
                )
            return reuse(tp, mp, "global")
        _configured = _configure_providers(
            exporter,
            service_name,
            flush_timeout_ms,
            __version__,
            export_logs,
            azure_monitor_storage,
            connection_string,
            credential,
        )
        return _configured


def set_up_providers(
    settings: Settings, *, span_processors: Sequence[Any] = (), metric_readers: Sequence[Any] = ()
) -> Telemetry:
    """Set up funcscope's own providers now, from `settings`, as the first invocation would when no provider is
    configured yet, with `span_processors` and `metric_readers` beside the exporters' (a local run reads what is
    recorded through them). Once per process: a second call returns the providers already set up."""
    from .. import __version__

    global _configured
    _flusher.start()
    with _lock:
        if _configured is None:
            _configured = _configure_providers(
                settings.exporter,
                settings.service_name,
                settings.flush_timeout_ms,
                __version__,
                exports_logs(settings.logs),
                settings.azure_monitor_storage,
                settings.connection_string,
                settings.credential,
                extra_span_processors=span_processors,
                extra_metric_readers=metric_readers,
            )
        return _configured


def _is_configured_logger_provider(provider: object) -> bool:
    return type(provider).__name__ not in ("ProxyLoggerProvider", "NoOpLoggerProvider")


def _export_records_to(logger_provider: Any, export_logs: bool) -> bool:
    """Route log records to `logger_provider` when logs are to be exported; True when they are."""
    if not export_logs:
        stop_exporting_records()
        return False
    if logger_provider is None:
        report_once(
            ("telemetry", "no-logger-provider"),
            "logs are to be exported (FUNCSCOPE_LOGS, or PYTHON_ENABLE_OPENTELEMETRY) but no logger "
            "provider is configured, so no log record is exported. Configure a LoggerProvider, pass "
            "configure(logger_provider=...), or let funcscope set the providers up.",
        )
        return False
    export_records(logger_provider)
    return True


def _configure_providers(
    exporter: str,
    service_name: str | None,
    flush_timeout_ms: int,
    version: str,
    export_logs: bool,
    azure_monitor_storage: str | None,
    connection_string: str | None = None,
    credential: Any = None,
    extra_span_processors: Sequence[Any] = (),
    extra_metric_readers: Sequence[Any] = (),
) -> Telemetry:
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from .redacting import RedactingLogRecordProcessor, RedactingSpanProcessor

    set_export_delay_defaults(export_delay_ms())  # read by the batch processors made here and by the distro
    chosen = exporters_for(exporter, export_logs, connection_string)
    resource = build_resource(service_name)
    # A span is redacted as it starts, before any processor exports it, wherever the redacting processor is; a log
    # record as it is emitted, so that processor goes first: the batch processors after it hold what it changed.
    span_processors = [BatchSpanProcessor(e) for e in chosen.spans] + list(extra_span_processors)
    span_processors.append(RedactingSpanProcessor())
    readers = [PeriodicExportingMetricReader(e) for e in chosen.metrics] + list(extra_metric_readers)
    log_processors = [RedactingLogRecordProcessor(), *(BatchLogRecordProcessor(e) for e in chosen.logs)]
    # funcscope shuts these down itself at exit, after ending the invocations still in flight, so their spans
    # are exported too (the SDK's own exit handler would run first and drop them).
    if chosen.azure_monitor:
        tracer_provider, meter_provider, logger_provider = set_up_azure_monitor(
            resource,
            span_processors=span_processors,
            metric_readers=readers,
            log_record_processors=log_processors,
            export_logs=export_logs,
            storage=azure_monitor_storage,
            connection_string=connection_string,
            credential=credential,
        )
    else:
        tracer_provider, meter_provider, logger_provider = _sdk_providers(
            resource, span_processors, readers, log_processors if export_logs and chosen.logs else None
        )
    # funcscope samples invocation spans itself (host's flag, or its ratio for roots); the provider must follow
    # the parent, so spans the user starts inside an invocation share its decision.
    finding = sampler_finding(tracer_provider)
    if finding is not None:
        report_once(("telemetry", "sampler"), finding)
    if logger_provider is not None and not _export_records_to(logger_provider, True):
        logger_provider = None
    renew_identity_after_fork(tracer_provider, meter_provider, logger_provider)
    drop_metric_points_after_fork(meter_provider)
    return Telemetry(
        tracer_provider.get_tracer(INSTRUMENTATION_NAME, version),
        meter_provider.get_meter(INSTRUMENTATION_NAME, version),
        "funcscope",
        exporters=tuple(chosen.names),
        flush_timeout_ms=flush_timeout_ms,
        _owned=[p for p in (tracer_provider, meter_provider, logger_provider) if p is not None],
        _tracer_provider=tracer_provider,
        _meter_provider=meter_provider,
        _logger_provider=logger_provider,
    )


def _sdk_providers(
    resource: Any, span_processors: list[Any], readers: list[Any], log_processors: list[Any] | None
) -> tuple[Any, Any, Any]:
    """Providers of the SDK for the exporters other than Azure Monitor, installed globally. The sampler is the
    SDK's choice from `OTEL_TRACES_SAMPLER`, parent-based by default."""
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    for processor in span_processors:
        tracer_provider.add_span_processor(processor)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    logger_provider = None
    if log_processors is not None:
        logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        for log_processor in log_processors:
            logger_provider.add_log_record_processor(log_processor)
        set_logger_provider(logger_provider)
    return tracer_provider, meter_provider, logger_provider
