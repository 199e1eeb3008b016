"""Telemetry that never reached the backend: counted, reported, and its error lines kept from flooding the app's logs.

Counted per signal (spans, metric points, log records) and reason (the metric's `error.type`):
- `queue_full`: a batch processor's queue was full (the backend is slower than the app), so the SDK dropped the
  oldest item to take the new one;
- `export_failed`: an exporter gave up on a batch, after its own retries, or raised;
- `after_shutdown`: the item ended after its provider was shut down;
- `unsent_at_stop`: the process stopped (exit, SIGTERM) while the item was still queued or in an export, because
  the flush at stop ran out of `flush_timeout_ms`.
What the Azure Monitor exporter keeps in its offline storage, to send again once the service answers, is not lost:
it is counted apart, as kept. That exporter sends a span's events and exceptions as items of their own (and an
item about the resource with a batch), so what became of the items is mapped back onto the batch: exactly when the
batch fares as one, in proportion (to within one a batch) when the service accepted only part of it.

Reported as the observable counter `funcscope.telemetry.dropped` (running totals by `signal` and `error.type`) and
in one summary line on the `funcscope` logger at most once a minute, with what was lost since the line before;
once more at stop if anything is left to say. The SDK's batch processors and the exporters log a line per failed
batch (and the OTLP exporters one per retry); funcscope lets each kind of line through once a minute and counts
the rest into the summary.

Process-wide and reversible, as instrumentations are: `instrument()` patches the SDK's batch processor (with `wrapt`;
one length check per item queued) and filters the exporters' loggers; `watch()` wraps the exporters of the providers
funcscope emits into, whoever created them; `uninstrument()` undoes both.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from time import monotonic
from typing import Any

import wrapt

from ..shared.diagnostics import logger as funcscope_logger
from ..shared.diagnostics import message_text, report_once

__all__ = [
    "DROPPED_METRIC",
    "export_failures",
    "instrument",
    "report_pending",
    "reset_counts",
    "totals",
    "uninstrument",
    "watch",
]

DROPPED_METRIC = "funcscope.telemetry.dropped"
REPORT_INTERVAL_S = 60.0

SPANS, METRIC_POINTS, LOGS = "spans", "metric_points", "logs"
QUEUE_FULL, EXPORT_FAILED, AFTER_SHUTDOWN, UNSENT_AT_STOP = (
    "queue_full",
    "export_failed",
    "after_shutdown",
    "unsent_at_stop",
)
_WORDS = {SPANS: "spans", METRIC_POINTS: "metric points", LOGS: "log records"}
_REASONS = {
    QUEUE_FULL: "queue full",
    EXPORT_FAILED: "export failed",
    AFTER_SHUTDOWN: "after shutdown",
    UNSENT_AT_STOP: "still queued or being exported when the process stopped",
}

# Where the SDK's batch processors and the exporters log failed exports: these loggers, and every logger under these
# prefixes that exists once the exporters are imported.
EXPORT_LOGGERS = (
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk._logs._internal.export",
    "opentelemetry.sdk.metrics._internal.export",
)
EXPORT_LOGGER_PREFIXES = ("opentelemetry.exporter.", "azure.monitor.opentelemetry.exporter.")


class _Counts:
    """What was lost (and kept) since the process started and since the last summary line."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.totals: Counter[tuple[str, str]] = Counter()
        self.lost: Counter[tuple[str, str]] = Counter()  # since the last line
        self.kept: Counter[str] = Counter()  # since the last line
        self.kept_totals: Counter[str] = Counter()
        self.held_lines = 0  # exporter log lines held back since the last line
        self.failed_exports = 0
        self.exporting: Counter[str] = Counter()  # items in exports under way
        self.next_line_at = 0.0  # monotonic; the first line goes out at once
        self.line_due = False  # a summary line is scheduled
        self.timer: threading.Timer | None = None


_counts = _Counts()


def totals() -> dict[str, dict[str, int]]:
    """Everything counted since the process started: `{"lost": {"signal/reason": n}, "kept": {"signal": n}}`."""
    with _counts.lock:
        lost = {f"{signal}/{reason}": count for (signal, reason), count in _counts.totals.items()}
        return {"lost": lost, "kept": dict(_counts.kept_totals)}


def export_failures() -> int:
    """How many exports have failed in this process (a flush compares it before and after)."""
    return _counts.failed_exports


def _lost(signal: str, reason: str, count: int, *, line: bool = True) -> None:
    if count <= 0:
        return
    with _counts.lock:
        _counts.totals[signal, reason] += count
        _counts.lost[signal, reason] += count
        if reason == EXPORT_FAILED:
            _counts.failed_exports += 1
    if line:
        _line_soon()


def _kept(signal: str, count: int) -> None:
    if count > 0:
        with _counts.lock:
            _counts.kept[signal] += count
            _counts.kept_totals[signal] += count
        _line_soon()


def _held_line() -> None:
    # Told with the next loss, or at stop: a line of its own would take the minute's slot from the loss to come.
    with _counts.lock:
        _counts.held_lines += 1


def _line_soon() -> None:
    # The line is written on a thread of its own, never on the invocation or export thread that lost something
    # (a line written during an invocation would be filed under it), at most once a minute.
    with _counts.lock:
        if _counts.line_due:
            return
        _counts.line_due = True
        delay = max(0.0, _counts.next_line_at - monotonic())
    timer = threading.Timer(delay, _write_line)
    timer.daemon = True
    timer.name = "funcscope-drop-report"
    try:
        contextvars.Context().run(timer.start)
    except RuntimeError:  # no new thread this late in interpreter exit: the line at stop says it
        with _counts.lock:
            _counts.line_due = False
        return
    _counts.timer = timer


def _write_line() -> None:
    with _counts.lock:
        _counts.line_due = False
        _counts.next_line_at = monotonic() + REPORT_INTERVAL_S
        lost, kept, held = dict(_counts.lost), dict(_counts.kept), _counts.held_lines
        _counts.lost.clear()
        _counts.kept.clear()
        _counts.held_lines = 0
    line = _summary(lost, kept, held)
    if line:
        funcscope_logger.warning(message_text(line))


def reset_counts() -> None:
    """Forget what was counted (for tests, and tools that run several apps in one process)."""
    with _counts.lock:
        timer, _counts.timer, _counts.line_due = _counts.timer, None, False
    if timer is not None:  # a line on its way is written (or given up) before the counts go
        timer.cancel()
        if timer is not threading.current_thread():
            timer.join(10)
    with _counts.lock:
        for tally in (_counts.totals, _counts.lost, _counts.kept, _counts.kept_totals, _counts.exporting):
            tally.clear()
        _counts.held_lines = _counts.failed_exports = 0
        _counts.next_line_at = 0.0


def report_pending() -> None:
    """At stop, once the last flush is over or out of time: count what is still queued or in an export as lost,
    and write what is left to say, even within the minute of the line before."""
    with _state.lock:
        processors = list(_state.processors)
    for signal, processor in processors:
        _lost(signal, UNSENT_AT_STOP, _queued(processor), line=False)
    with _counts.lock:
        exporting = dict(_counts.exporting)
    for signal, count in exporting.items():
        _lost(signal, UNSENT_AT_STOP, count, line=False)
    _write_line()


def _queued(processor: Any) -> int:
    queue = getattr(getattr(processor, "_batch_processor", None), "_queue", None)
    return len(queue) if queue is not None else 0


def _summary(lost: dict[tuple[str, str], int], kept: dict[str, int], held: int) -> str:
    parts = []
    for signal in _WORDS:
        reasons = [(reason, lost[signal, reason]) for reason in _REASONS if (signal, reason) in lost]
        if reasons:
            why = ", ".join(f"{count} {_REASONS[reason]}" for reason, count in reasons)
            parts.append(f"{sum(count for _, count in reasons)} {_WORDS[signal]} lost ({why})")
    if kept:
        what = ", ".join(f"{kept[signal]} {_WORDS[signal]}" for signal in _WORDS if signal in kept)
        parts.append(f"{what} kept in Azure Monitor's offline storage, to be sent when the service answers")
    if held:
        parts.append(f"{held} more lines the exporters logged about it held back")
    if not parts:
        return ""
    return (
        f"telemetry not delivered since the last report: {'; '.join(parts)}. Is the exporter's endpoint "
        f"reachable and answering? Running totals: metric {DROPPED_METRIC}; this report comes at most once a minute."
    )


# -- queue full: the SDK's batch processors -----------------------------------------------------------------


def _on_emit(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # The BatchProcessor behind the SDK's batch span and log record processors: one length check per item.
    signal = SPANS if instance._exporting == "Span" else LOGS
    if instance._shutdown:
        _lost(signal, AFTER_SHUTDOWN, 1)
    elif len(instance._queue) >= instance._max_queue_size:
        _lost(signal, QUEUE_FULL, 1)
    return wrapped(*args, **kwargs)


# -- export failed: the exporters of the providers funcscope emits into --------------------------------------


class _ExportCall(threading.local):
    """What the Azure Monitor exporter did with the batch being exported on this thread, in its telemetry items."""

    active = False
    requests = 0  # requests to the service; only the first is the batch's (later ones resend stored items)
    sent = 0  # items in that first request
    accepted = 0  # items the service accepted of those
    stored = 0  # items put into the offline storage for this batch (before the request too: rate limited ones)


_call = _ExportCall()


def _azure_outcome(count: int, failed: bool) -> tuple[int, int]:
    """(lost, kept) of a batch of `count` spans, points or records, from what its items became.

    A span's events and exceptions are items of their own, and each request may carry one item about the resource,
    so the items are mapped back onto the batch in proportion: exact when a batch fares as one, as it does unless
    the service accepts only part of it."""
    items = max(_call.sent, _call.accepted + _call.stored)  # a rate-limited part is stored without being sent
    if items == 0:
        return (count if failed else 0), 0
    kept = round(count * _call.stored / items)
    delivered = round(count * _call.accepted / items)
    return max(0, count - delivered - kept), kept


def _failed(result: Any) -> bool:
    return getattr(result, "name", None) == "FAILURE"  # SpanExportResult, MetricExportResult, Log(Record)ExportResult


def _metric_points(metrics_data: Any) -> int:
    return sum(
        len(metric.data.data_points)
        for resource_metrics in metrics_data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


def _is_azure_monitor(exporter: Any) -> bool:
    return type(exporter).__module__.startswith("azure.monitor.opentelemetry.exporter")


def _export_wrapper(signal: str, azure: bool) -> Callable[..., Any]:
    def export(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        batch = args[0] if args else next(iter(kwargs.values()), ())
        count = _metric_points(batch) if signal == METRIC_POINTS else len(batch)
        if azure:
            _call.active, _call.requests, _call.sent, _call.accepted, _call.stored = True, 0, 0, 0, 0
        with _counts.lock:
            _counts.exporting[signal] += count
        try:
            result = wrapped(*args, **kwargs)
        except Exception:
            _lost(signal, EXPORT_FAILED, count)
            raise
        finally:
            _call.active = False
            with _counts.lock:
                _counts.exporting[signal] -= count
        if azure:
            lost, kept = _azure_outcome(count, _failed(result)) if _failed(result) or _call.stored else (0, 0)
            _kept(signal, kept)
            _lost(signal, EXPORT_FAILED, lost)
        elif _failed(result):
            _lost(signal, EXPORT_FAILED, count)
        return result

    return export


def _on_track(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # The Azure Monitor client's request: only the first of an export is the batch's (later ones resend storage).
    first = _call.active and _call.requests == 0
    if _call.active:
        _call.requests += 1
    if first:
        body = args[0] if args else kwargs.get("body", ())
        _call.sent = len(body)
    response = wrapped(*args, **kwargs)
    if first:
        track_response = response[0] if isinstance(response, tuple) else response
        _call.accepted = int(getattr(track_response, "items_accepted", 0) or 0)
    return response


def _on_store(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    if _call.active and _call.requests <= 1 and getattr(result, "name", None) == "LOCAL_FILE_BLOB_SUCCESS":
        data = args[0] if args else kwargs.get("data", ())
        _call.stored += len(data)
    return result


def _azure_methods() -> list[tuple[Any, str, Callable[..., Any]]]:
    try:
        from azure.monitor.opentelemetry.exporter._generated.exporter import AzureMonitorClient
        from azure.monitor.opentelemetry.exporter._storage import LocalFileStorage
    except ImportError:
        return []
    return [(AzureMonitorClient, "track", _on_track), (LocalFileStorage, "put", _on_store)]


def _span_processors(provider: Any) -> Iterable[Any]:
    return getattr(getattr(provider, "_active_span_processor", None), "_span_processors", ())


def _log_processors(provider: Any) -> Iterable[Any]:
    return getattr(getattr(provider, "_multi_log_record_processor", None), "_log_record_processors", ())


def _metric_exporters(provider: Any) -> Iterable[Any]:
    readers = getattr(provider, "_metric_readers", None)
    if readers is None:  # older SDKs keep them in the configuration
        readers = getattr(getattr(provider, "_sdk_config", None), "metric_readers", None)
    for reader in readers or ():
        yield getattr(reader, "_exporter", None)


def _exporter_of(processor: Any) -> Any:
    batch = getattr(processor, "_batch_processor", None)  # a batch processor
    if batch is not None:
        return getattr(batch, "_exporter", None)
    return getattr(processor, "span_exporter", None) or getattr(processor, "_exporter", None)  # a simple one


# -- exporter log lines, at most one a minute per kind ------------------------------------------------------


class _OncePerMinute(logging.Filter):
    """Lets a warning or error through once a minute per logger, level and message; counts what it holds back."""

    def __init__(self) -> None:
        super().__init__("funcscope.exporter-lines")
        self._last: dict[tuple[str, int, str], float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is None or now - last >= REPORT_INTERVAL_S:
                self._last[key] = now
                return True
        _held_line()
        return False


# -- instrument / watch / uninstrument ----------------------------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.patched: list[tuple[Any, str, Any]] = []  # (class, method name, what its own __dict__ held: or _ABSENT)
        self.filter: _OncePerMinute | None = None
        self.filtered: list[str] = []  # the loggers it is on
        self.exporters: dict[int, Any] = {}  # exporters whose export is wrapped, by id
        self.processors: list[tuple[str, Any]] = []  # the batch processors of the providers watched
        self.meters: dict[int, Any] = {}  # meters the dropped counter is registered on


_state = _State()


_ABSENT = object()


def _patch(owner: Any, name: str, wrapper: Callable[..., Any]) -> None:
    if any(o is owner and n == name for o, n, _ in _state.patched):
        return
    own = owner.__dict__.get(name, _ABSENT)
    wrapt.wrap_function_wrapper(owner, name, wrapper)
    _state.patched.append((owner, name, own))


def instrument() -> None:
    """Count queue drops in every batch processor and hold the exporters' repeated lines back (idempotent)."""
    with _state.lock:
        if _state.filter is None:
            from opentelemetry.sdk._shared_internal import BatchProcessor

            _patch(BatchProcessor, "emit", _on_emit)
            _state.filter = _OncePerMinute()
    _filter_export_loggers()


def _filter_export_loggers() -> None:
    existing = list(logging.Logger.manager.loggerDict)
    names = [*EXPORT_LOGGERS, *(name for name in existing if name.startswith(EXPORT_LOGGER_PREFIXES))]
    with _state.lock:
        if _state.filter is None:
            return
        for name in names:
            if name not in _state.filtered:
                logging.getLogger(name).addFilter(_state.filter)
                _state.filtered.append(name)


def watch(tracer_provider: Any, meter_provider: Any, meter: Any, logger_provider: Any = None) -> None:
    """Count failed exports of these providers' exporters (and of the global logger provider's), and report the
    totals through `meter`. Exporters already watched are left as they are."""
    from opentelemetry import _logs

    instrument()  # also filters the loggers of exporter modules imported since
    logger_providers = [logger_provider] if logger_provider is not None else []
    if _logs.get_logger_provider() is not logger_provider:
        logger_providers.append(_logs.get_logger_provider())
    processors = [
        *((SPANS, p) for p in _span_processors(tracer_provider)),
        *((LOGS, p) for provider in logger_providers for p in _log_processors(provider)),
    ]
    found = [
        *((signal, _exporter_of(p)) for signal, p in processors),
        *((METRIC_POINTS, e) for e in _metric_exporters(meter_provider)),
    ]
    with _state.lock:
        known = {id(p) for _, p in _state.processors}
        _state.processors.extend((signal, p) for signal, p in processors if id(p) not in known)
        for signal, exporter in found:
            if exporter is None or id(exporter) in _state.exporters or not callable(getattr(exporter, "export", None)):
                continue
            azure = _is_azure_monitor(exporter)
            if azure:
                for owner, name, wrapper in _azure_methods():
                    _patch(owner, name, wrapper)
            try:
                wrapt.wrap_function_wrapper(exporter, "export", _export_wrapper(signal, azure))
            except Exception as exc:  # an exporter whose export cannot be wrapped (slots, a C type)
                report_once(
                    ("drops", "exporter", type(exporter).__qualname__),
                    f"cannot count failed exports of {type(exporter).__qualname__} ({exc}); "
                    "its queue drops are still counted.",
                )
                continue
            _state.exporters[id(exporter)] = exporter
        if id(meter) not in _state.meters:
            _state.meters[id(meter)] = meter
            meter.create_observable_counter(
                DROPPED_METRIC,
                callbacks=[_observe],
                unit="{item}",
                description="Telemetry items funcscope saw lost before they reached the backend, by signal and reason.",
            )


def _observe(_options: Any) -> Iterable[Any]:
    from opentelemetry.metrics import Observation

    with _counts.lock:
        totals = dict(_counts.totals)
    return [Observation(count, {"signal": signal, "error.type": reason}) for (signal, reason), count in totals.items()]


def uninstrument() -> None:
    """Undo `instrument()` and `watch()`: the processors, exporters and loggers are as they were."""
    with _state.lock:
        for owner, name, own in reversed(_state.patched):
            if own is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, own)
        _state.patched.clear()
        for exporter in _state.exporters.values():
            if isinstance(exporter.__dict__.get("export"), wrapt.FunctionWrapper):
                del exporter.export
        _state.exporters.clear()
        _state.processors.clear()
        if _state.filter is not None:
            for name in _state.filtered:
                logging.getLogger(name).removeFilter(_state.filter)
            _state.filtered.clear()
            _state.filter = None
