"""What a local run produced, as plain records that print as a tree and round-trip through JSON (`run --json`).

Built from a `LocalApp`'s invocations: for each, what the host sent and got back, its spans, and each log record as
the host received it (with the invocation id the host filed it under, or none).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..shared.redaction import redact_text, redact_url
from .app import InvocationTelemetry, LocalApp
from .capture import MetricPoint, SpanRecord, invocation_span

__all__ = ["InvocationReport", "LogLine", "NotInvoked", "RunReport", "request_summary"]

_SUMMARY_WIDTH = 120


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    text = redact_text(text)
    return text if len(text) <= _SUMMARY_WIDTH else text[: _SUMMARY_WIDTH - 1] + "…"


def request_summary(trigger_type: str, payload: Any) -> str:
    """One line for what the host sends: an HTTP request's method and (redacted) URL, else the trigger type."""
    if trigger_type.lower() == "httptrigger":
        data = payload if isinstance(payload, Mapping) else {}
        method = str(data.get("method") or "GET").upper()
        url = data.get("url")
        return f"{method} {redact_url(url)}" if isinstance(url, str) else method
    return trigger_type


@dataclass(frozen=True)
class LogLine:
    """One log record as the host received it. `invocation_id`: the invocation the host files it under (None:
    none at all); `span_id`: the span current when it was logged, when funcscope's log fields tell."""

    level: str
    logger: str
    thread: str
    invocation_id: str | None
    message: str
    created: float
    span_id: str | None = None
    exception: str | None = None

    @classmethod
    def from_entry(cls, entry: Any) -> LogLine:
        span_id = entry.fields.get("span_id")
        exception = None
        if entry.exc_text:
            lines = [line for line in entry.exc_text.strip().splitlines() if line.strip()]
            exception = lines[-1] if lines else None
        return cls(
            level=entry.levelname,
            logger=entry.logger_name,
            thread=entry.thread_name,
            invocation_id=entry.invocation_id,
            message=entry.message,
            created=entry.created,
            span_id=span_id if isinstance(span_id, str) and span_id else None,
            exception=exception,
        )

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.created, self.thread, self.logger, self.message)


@dataclass
class InvocationReport:
    """One invocation: what was sent, what came back, and its telemetry (see `funcscope run`)."""

    function: str
    trigger: str
    is_async: bool
    invocation_id: str
    trace_id: str
    host_span_id: str
    request: str
    outcome: str
    failed: bool
    duration_ms: float
    pid: int
    spans: list[SpanRecord] = field(default_factory=list)
    outside_trace: list[SpanRecord] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: list[MetricPoint] = field(default_factory=list)

    @classmethod
    def from_telemetry(cls, telemetry: InvocationTelemetry, request: str) -> InvocationReport:
        result = telemetry.result
        status = telemetry.http_status
        if result.exception is not None:
            outcome = redact_text(f"{type(result.exception).__name__}: {result.exception}")
        elif status is not None:
            outcome = f"HTTP {status}"
        else:
            outcome = "ok"
        outputs = {name: _short_repr(value) for name, value in result.outputs.items()}
        if result.value is not None and status is None:
            outputs["$return"] = _short_repr(result.value)
        return cls(
            function=telemetry.function.name,
            trigger=telemetry.function.trigger_type,
            is_async=telemetry.function.is_async,
            invocation_id=telemetry.invocation_id,
            trace_id=telemetry.trace_id,
            host_span_id=telemetry.host_span_id,
            request=request,
            outcome=outcome,
            failed=telemetry.failed,
            duration_ms=result.timings.total_s * 1000,
            pid=result.pid,
            spans=list(telemetry.spans),
            outside_trace=list(telemetry.outside_trace),
            logs=sorted((LogLine.from_entry(e) for e in telemetry.logs), key=lambda line: line.created),
            outputs=outputs,
            metrics=list(telemetry.metrics),
        )

    @property
    def span(self) -> SpanRecord | None:
        """funcscope's span for this invocation, if there is one."""
        return invocation_span(self.spans, self.invocation_id)

    @property
    def unattributed(self) -> list[LogLine]:
        return [line for line in self.logs if line.invocation_id is None]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["spans"] = [s.to_json() for s in self.spans]
        data["outside_trace"] = [s.to_json() for s in self.outside_trace]
        data["logs"] = [vars(line) for line in self.logs]
        data["metrics"] = [p.to_json() for p in self.metrics]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InvocationReport:
        values = dict(data)
        values["spans"] = [SpanRecord.from_json(s) for s in values.get("spans", ())]
        values["outside_trace"] = [SpanRecord.from_json(s) for s in values.get("outside_trace", ())]
        values["logs"] = [LogLine(**line) for line in values.get("logs", ())]
        values["metrics"] = [MetricPoint.from_json(p) for p in values.get("metrics", ())]
        return cls(**values)


@dataclass(frozen=True)
class NotInvoked:
    """A function the run did not invoke, and why."""

    function: str
    trigger: str
    reason: str
    #: True when it counts as a failure of the run (a payload given for it was wrong, or it was named).
    failed: bool = False


@dataclass
class RunReport:
    """Everything one `funcscope run` did."""

    app: str
    mode: str
    hooks: bool
    hooks_reason: str
    export: str | None
    python: str = f"{sys.version_info.major}.{sys.version_info.minor}"
    settings_file: str | None = None
    settings_applied: list[str] = field(default_factory=list)
    settings_overridden: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    startup_logs: list[LogLine] = field(default_factory=list)
    invocations: list[InvocationReport] = field(default_factory=list)
    not_invoked: list[NotInvoked] = field(default_factory=list)
    unattributed_logs: list[LogLine] = field(default_factory=list)
    unmatched_spans: list[SpanRecord] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    #: Records logged outside any invocation after the app loaded (an exporter's errors, background threads).
    background_logs: list[LogLine] = field(default_factory=list)
    #: With an exporter: whether everything left within the flush timeout.
    exported: bool | None = None

    @property
    def failed(self) -> int:
        return sum(1 for i in self.invocations if i.failed) + sum(1 for n in self.not_invoked if n.failed)

    @property
    def exit_status(self) -> int:
        return 1 if self.failed or not self.export_ok else 0

    @property
    def export_problems(self) -> list[LogLine]:
        """What the exporters (OpenTelemetry's and Azure's loggers) warned about during the run."""
        if self.export is None:
            return []
        return [
            line
            for line in self.background_logs
            if line.level in ("WARNING", "ERROR", "CRITICAL") and line.logger.startswith(("opentelemetry", "azure"))
        ]

    @property
    def export_ok(self) -> bool:
        return self.exported is not False and not self.export_problems

    def add_invocations(self, app: LocalApp, telemetry: list[InvocationTelemetry], requests: list[str]) -> None:
        """Add invocations, filing each record that reached the host with no invocation id once: under the one
        invocation in flight when it was logged, else under the span it was logged in, else at the run's level."""
        reports = [InvocationReport.from_telemetry(t, r) for t, r in zip(telemetry, requests, strict=True)]
        seen: dict[tuple[Any, ...], list[InvocationReport]] = {}
        lines: dict[tuple[Any, ...], LogLine] = {}
        for t, report in zip(telemetry, reports, strict=True):
            for entry in t.unattributed_logs:
                line = LogLine.from_entry(entry)
                lines[line.key] = line
                seen.setdefault(line.key, []).append(report)
        for key, candidates in seen.items():
            line = lines[key]
            owner = candidates[0] if len(candidates) == 1 else None
            if owner is None and line.span_id is not None:
                owner = next((r for r in candidates if any(s.span_id == line.span_id for s in r.spans)), None)
            if owner is not None:
                owner.logs.append(line)
            else:
                self.unattributed_logs.append(line)
        for report in reports:
            report.logs.sort(key=lambda line: line.created)
        self.invocations.extend(reports)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["startup_logs"] = [vars(line) for line in self.startup_logs]
        data["unattributed_logs"] = [vars(line) for line in self.unattributed_logs]
        data["background_logs"] = [vars(line) for line in self.background_logs]
        data["invocations"] = [i.to_json() for i in self.invocations]
        data["not_invoked"] = [vars(n) for n in self.not_invoked]
        data["unmatched_spans"] = [s.to_json() for s in self.unmatched_spans]
        data["metrics"] = [p.to_json() for p in self.metrics]
        data["failed"] = self.failed
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunReport:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["startup_logs"] = [LogLine(**line) for line in values.get("startup_logs", ())]
        values["unattributed_logs"] = [LogLine(**line) for line in values.get("unattributed_logs", ())]
        values["background_logs"] = [LogLine(**line) for line in values.get("background_logs", ())]
        values["invocations"] = [InvocationReport.from_json(i) for i in values.get("invocations", ())]
        values["not_invoked"] = [NotInvoked(**n) for n in values.get("not_invoked", ())]
        values["unmatched_spans"] = [SpanRecord.from_json(s) for s in values.get("unmatched_spans", ())]
        values["metrics"] = [MetricPoint.from_json(p) for p in values.get("metrics", ())]
        return cls(**values)
