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
    "SpanLink",
    "SpanRecord",
    "adopt_app_providers",
    "collect_metrics",
    "drain_spans",
    "exporter_names",
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
class SpanLink:
    """A link from a span to another span (a message's producer), with the link's attributes
    (`messaging.message.id`)."""

    trace_id: str
    span_id: str
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
    links: tuple[SpanLink, ...] = ()
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
            links=tuple(
                SpanLink(format(k.context.trace_id, "032x"), format(k.context.span_id, "016x"), _plain(k.attributes))
                for k in span.links
            ),
            scope=scope.name if scope is not None else "",
            pid=pid,
        )

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k not in ("events", "links")}
        data["events"] = [vars(e) for e in self.events]
        data["links"] = [vars(k) for k in self.links]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SpanRecord:
        fields = dict(data)
        fields["events"] = tuple(SpanEvent(**e) for e in fields.get("events", ()))
        fields["links"] = tuple(SpanLink(**k) for k in fields.get("links", ()))
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
        self.telemetry: Any = None  # funcscope's own providers, when this capture set them up
        self.tracer_provider: Any = None
        self.meter_provider: Any = None
        self.own_meter_provider = False
        self.metric_reader: Any = None
        self.undo_runner: Callable[[], None] | None = None


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


def _add_router(provider: Any) -> None:
    if id(provider) not in _state.with_router:
        provider.add_span_processor(_router())
        _state.with_router.add(id(provider))


def _delta_reader() -> Any:
    from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

    delta = AggregationTemporality.DELTA
    return InMemoryMetricReader(preferred_temporality={Counter: delta, ObservableCounter: delta, Histogram: delta})


def exporter_names(export: str) -> list[str]:
    """The exporters funcscope could set up for `export` with the settings of this process (a problem with one
    is logged by funcscope, once); nothing is sent, and what was built for the check is shut down again."""
    from ..telemetry.exporters import exporters_for

    chosen = exporters_for(export, export_logs=False)
    for exporter in [*chosen.spans, *chosen.metrics]:
        exporter.shutdown()
    return chosen.names


def start_process(export: str | None = None) -> None:
    """Capture this process's telemetry from now on, and put a runner in place that emits through it.

    In a process with no tracer provider yet (a worker process, `funcscope run`) funcscope's own providers are set
    up now, as the app's first invocation would, exporting to `export` (`"console"`, `"otlp"`,
    `"azure-monitor"`; None sends nothing), with the capture's processor and metric reader beside the exporters'.
    In a process that has a tracer provider already (a test process), the processor goes on that provider and
    funcscope's metrics to a meter provider of the capture's own; `export` is refused there.
    """
    import os

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from ..runtime.runner import replace_runner
    from ..shared.settings import Settings
    from ..telemetry import setup

    settings = Settings.from_env()
    reader = _delta_reader()
    with _state.lock:
        _state.spans.clear()
    _state.pid = os.getpid()
    _state.metric_reader = reader
    if not isinstance(trace.get_tracer_provider(), TracerProvider) and setup._configured is None:
        router = _router()
        telemetry = setup.set_up_providers(
            settings.with_options(exporter=export or "none"), span_processors=[router], metric_readers=[reader]
        )
        _state.with_router.add(id(telemetry.tracer_provider))
        _state.telemetry = telemetry
        _state.tracer_provider, _state.meter_provider = telemetry.tracer_provider, telemetry.meter_provider
        runner_settings = settings  # the runner emits through the providers just set up
    else:
        if export is not None:
            raise RuntimeError("export needs a process whose telemetry is not set up yet")
        from opentelemetry.sdk.metrics import MeterProvider

        _state.tracer_provider = trace.get_tracer_provider()
        _add_router(_state.tracer_provider)
        _state.meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
        _state.own_meter_provider = True
        runner_settings = settings.with_options(
            tracer_provider=_state.tracer_provider, meter_provider=_state.meter_provider
        )
    _state.capturing = True
    _state.undo_runner = replace_runner(runner_settings)


def stop_process() -> None:
    """Stop capturing and put back the runner `start_process` replaced (in-process runs; idempotent)."""
    _state.capturing = False
    undo, _state.undo_runner = _state.undo_runner, None
    if undo is not None:
        undo()
    with _state.lock:
        _state.spans.clear()
    if _state.own_meter_provider and _state.meter_provider is not None:
        _state.meter_provider.shutdown()
    _state.own_meter_provider = False
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
    from opentelemetry import metrics

    if (settings.meter_provider or metrics.get_meter_provider()) is not _state.meter_provider:
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


def flush(timeout_ms: int = 5000) -> bool:
    """Send on what the exporters still hold; False when not everything left within `timeout_ms`."""
    if _state.telemetry is not None:
        return bool(_state.telemetry.flush(timeout_ms))
    return True
