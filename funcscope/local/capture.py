"""Telemetry captured where a local run can read it: every span and funcscope's metrics, as plain records.

`start_process()` runs in each worker process before the app loads (the emulator's `Worker` initializer). It makes
sure the global tracer provider is an OpenTelemetry SDK provider and puts one processor on it that copies every
span that ends into this module's buffer, so the spans funcscope makes and the ones the app's own code makes (from
any thread or task) are all read. funcscope is pointed at that tracer provider and at a meter provider whose
in-memory reader reports deltas, so each collection holds what was recorded since the one before. With an
exporter named, the same providers also send everything on, through funcscope's own exporter set-up.

Records are plain, picklable and JSON-friendly, so they come back from worker processes and into `--json`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MetricPoint",
    "SpanEvent",
    "SpanRecord",
    "adopt_app_providers",
    "collect_metrics",
    "drain_spans",
    "exporters",
    "flush",
    "invocation_span",
    "start_process",
    "stop_process",
]


@dataclass(frozen=True)
class SpanEvent:
    """An event on a span (an `exception` event carries `exception.type`, `.message`, `.stacktrace`)."""

    name: str
    time_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpanRecord:
    """One finished span. Ids are lowercase hex, as in `traceparent`; `kind` and `status` are the SDK's names
    (`"INTERNAL"`, `"SERVER"`, ...; `"UNSET"`, `"OK"`, `"ERROR"`)."""

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str | None
    status: str
    status_description: str | None
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    scope: str = ""  # the instrumentation scope (tracer name): "funcscope" for funcscope's own spans
    pid: int = 0

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @classmethod
    def from_span(cls, span: Any, pid: int) -> SpanRecord:
        context = span.context
        parent = span.parent
        scope = span.instrumentation_scope
        return cls(
            name=span.name,
            kind=span.kind.name,
            trace_id=format(context.trace_id, "032x"),
            span_id=format(context.span_id, "016x"),
            parent_id=format(parent.span_id, "016x") if parent is not None else None,
            status=span.status.status_code.name,
            status_description=span.status.description,
            start_ns=span.start_time or 0,
            end_ns=span.end_time or span.start_time or 0,
            attributes=_plain(span.attributes),
            events=tuple(SpanEvent(e.name, e.timestamp, _plain(e.attributes)) for e in span.events),
            scope=scope.name if scope is not None else "",
            pid=pid,
        )

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "events"}
        data["events"] = [vars(e) for e in self.events]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SpanRecord:
        fields = dict(data)
        fields["events"] = tuple(SpanEvent(**e) for e in fields.get("events", ()))
        return cls(**fields)


@dataclass(frozen=True)
class MetricPoint:
    """One metric data point: a counter's sum, a histogram's sum and `count` of values, or a gauge's value.

    Collected as deltas: a point holds what was recorded since the previous collection; points that did not
    change are left out. `faas.active_invocations` (an up-down counter) is reported as its current value.
    """

    name: str
    attributes: dict[str, Any]
    value: float
    count: int | None = None
    unit: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricPoint:
        return cls(**data)


def invocation_span(spans: Iterable[SpanRecord], invocation_id: str) -> SpanRecord | None:
    """funcscope's span for an invocation among `spans`, if there is one."""
    return next(
        (s for s in spans if s.scope == "funcscope" and s.attributes.get("faas.invocation_id") == invocation_id), None
    )


def _plain(attributes: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (attributes or {}).items()}


# -- this process's capture -------------------------------------------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[SpanRecord] = []
        self.capturing = False
        self.pid = 0
        self.with_router: set[int] = set()  # ids of the tracer providers the router is on
        self.tracer_provider: Any = None
        self.meter_provider: Any = None
        self.metric_reader: Any = None
        self.undo_runner: Callable[[], None] | None = None
        self.exported = [0, 0]  # spans the exporters took, spans they failed to send


_state = _State()


def _router() -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    class _Router(SpanProcessor):
        """Copies each span that ends into the buffer while a capture is on; costs nothing otherwise."""

        def on_end(self, span: Any) -> None:
            if not _state.capturing:
                return
            record = SpanRecord.from_span(span, _state.pid)
            with _state.lock:
                _state.spans.append(record)

    return _Router()


def _counted(exporter: Any) -> Any:
    """`exporter`, counting the spans it sent and those it could not send."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class _Counted(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            try:
                result = exporter.export(spans)
            except Exception:
                result = SpanExportResult.FAILURE
            with _state.lock:
                _state.exported[0 if result is SpanExportResult.SUCCESS else 1] += len(spans)
            return result  # type: ignore[no-any-return]

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(exporter.force_flush(timeout_millis))

    return _Counted()


def _tracer_provider(span_exporters: list[Any]) -> Any:
    import os

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

    from ..telemetry.setup import build_resource

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        # The provider funcscope would set up itself: the Azure Functions resource, parent-based sampling.
        provider = TracerProvider(resource=build_resource(), sampler=ParentBased(ALWAYS_ON), shutdown_on_exit=False)
        trace.set_tracer_provider(provider)
    if id(provider) not in _state.with_router:
        provider.add_span_processor(_router())
        _state.with_router.add(id(provider))
    _state.pid = os.getpid()
    for span_exporter in span_exporters:
        provider.add_span_processor(BatchSpanProcessor(_counted(span_exporter)))
    return provider


def exporters(export: str) -> tuple[list[Any], list[Any], list[str]]:
    """funcscope's span and metric exporters for `export`, and the names of those it could set up (a problem
    with one is logged by funcscope, once)."""
    from ..telemetry.setup import _exporters as funcscope_exporters

    return funcscope_exporters(export)


def _meter_provider(metric_exporters: list[Any]) -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, ObservableCounter
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        InMemoryMetricReader,
        PeriodicExportingMetricReader,
    )

    from ..telemetry.setup import build_resource

    delta = AggregationTemporality.DELTA
    reader = InMemoryMetricReader(preferred_temporality={Counter: delta, ObservableCounter: delta, Histogram: delta})
    readers = [reader, *(PeriodicExportingMetricReader(m) for m in metric_exporters)]
    return MeterProvider(resource=build_resource(), metric_readers=readers, shutdown_on_exit=False), reader


def start_process(export: str | None = None) -> None:
    """Capture this process's telemetry from now on, and point funcscope's runner at the capturing providers.

    `export`: also send everything on through funcscope's exporter set-up (`"console"`, `"otlp"`,
    `"azure-monitor"`); None sends nothing anywhere.
    """
    from ..runtime.runner import replace_runner
    from ..shared.settings import Settings

    span_exporters, metric_exporters, _ = exporters(export) if export is not None else ([], [], [])
    with _state.lock:
        _state.spans.clear()
    _state.tracer_provider = _tracer_provider(span_exporters)
    _state.meter_provider, _state.metric_reader = _meter_provider(metric_exporters)
    _state.capturing = True
    settings = Settings.from_env().with_options(
        tracer_provider=_state.tracer_provider, meter_provider=_state.meter_provider
    )
    _state.undo_runner = replace_runner(settings)


def stop_process() -> None:
    """Stop capturing and put back the runner `start_process` replaced (in-process runs; idempotent)."""
    _state.capturing = False
    undo, _state.undo_runner = _state.undo_runner, None
    if undo is not None:
        undo()
    with _state.lock:
        _state.spans.clear()
    if _state.meter_provider is not None:
        _state.meter_provider.shutdown()
        _state.meter_provider = _state.metric_reader = None


def adopt_app_providers() -> list[str]:
    """After the app loaded: if it gave funcscope providers of its own, capture from them where that can be done
    (an SDK tracer provider gets the same processor); returns what cannot be read ("tracer_provider",
    "meter_provider")."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from ..runtime.runner import get_runner

    settings = get_runner().settings
    lost = []
    tracer_provider = settings.tracer_provider or trace.get_tracer_provider()
    if tracer_provider is not _state.tracer_provider and id(tracer_provider) not in _state.with_router:
        if isinstance(tracer_provider, TracerProvider):
            tracer_provider.add_span_processor(_router())
            _state.with_router.add(id(tracer_provider))
        else:
            lost.append("tracer_provider")
    if settings.meter_provider is not _state.meter_provider:
        lost.append("meter_provider")
    return lost


def drain_spans() -> list[SpanRecord]:
    """The spans that ended since the last call."""
    with _state.lock:
        spans, _state.spans = _state.spans, []
    return spans


def collect_metrics() -> list[MetricPoint]:
    """funcscope's metric points recorded since the last call (see `MetricPoint`)."""
    reader = _state.metric_reader
    if reader is None:
        return []
    data = reader.get_metrics_data()
    points: list[MetricPoint] = []
    for resource_metrics in getattr(data, "resource_metrics", None) or ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    count = getattr(point, "count", None)
                    value = point.sum if count is not None else point.value
                    if (count if count is not None else value) == 0 and metric.name != "faas.active_invocations":
                        continue
                    points.append(MetricPoint(metric.name, _plain(point.attributes), value, count, metric.unit or ""))
    return points


def flush(timeout_ms: int = 5000) -> tuple[bool, int, int]:
    """Send on what the exporters still hold: (everything left within `timeout_ms`, spans sent, spans the
    exporter could not send)."""
    ok = True
    for provider in (_state.tracer_provider, _state.meter_provider):
        if provider is not None:
            ok = bool(provider.force_flush(timeout_millis=timeout_ms)) and ok
    with _state.lock:
        sent, failed = _state.exported
    return ok, sent, failed
