"""`LocalApp`: a function app loaded as Core Tools would load it, run through the worker emulator, with the
telemetry of each invocation captured: its spans, its log records as the host receives them, and funcscope's
metrics. `funcscope run` prints it; the `funcscope_app` pytest fixture hands it to tests.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..emulator import Call, FunctionInfo, InvocationResult, LogEntry, Worker
from ..emulator.loader import resolve_app_dir
from . import capture
from .app_settings import LocalSettings, read_local_settings
from .capture import MetricPoint, SpanRecord, invocation_span
from .payloads import default_payload

__all__ = ["InvocationTelemetry", "LocalApp", "hooks_by_default"]


def hooks_by_default(environ: Mapping[str, str]) -> bool:
    """Whether the worker this Python and these settings give runs extension hooks: the classic worker (Python up
    to 3.12) with `PYTHON_ENABLE_WORKER_EXTENSIONS` on; the Python 3.13+ worker never does."""
    from ..runtime.tracing_path import tracing_path

    return tracing_path((sys.version_info.major, sys.version_info.minor), environ).path == "hooks"


def _host_ids(trace_parent: str) -> tuple[str, str]:
    parts = trace_parent.split("-")
    return (parts[1], parts[2]) if len(parts) == 4 else ("", "")


@dataclass
class InvocationTelemetry:
    """One invocation and everything it produced.

    - `result`: the emulator's `InvocationResult` (`value`, `exception`, `outputs`, `timings`, `pid`, ...).
    - `spans`: every span in the host's trace (the invocation span and its descendants, from any thread or
      task), by start time; `span`: funcscope's invocation span, or None (funcscope off, sampled out).
    - `outside_trace`: spans that started during the invocation but are not in the host's trace (made where no
      invocation context was current); only known when invocations run one at a time.
    - `logs`: the records the host attributes to the invocation (including any that arrived after it ended);
      `unattributed_logs`: records that reached the host with no invocation id while it ran.
    - `metrics`: funcscope's metric points recorded during the invocation (empty for `invoke_many` batches,
      whose points `LocalApp.collect_metrics()` returns).
    """

    result: InvocationResult
    function: FunctionInfo
    started_ns: int
    ended_ns: int
    spans: list[SpanRecord] = field(default_factory=list)
    outside_trace: list[SpanRecord] = field(default_factory=list)
    late_logs: list[LogEntry] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)

    @property
    def invocation_id(self) -> str:
        return self.result.invocation_id

    @property
    def trace_id(self) -> str:
        """The host's trace id (from the `traceparent` the invocation was given)."""
        return _host_ids(self.result.trace_parent)[0]

    @property
    def host_span_id(self) -> str:
        return _host_ids(self.result.trace_parent)[1]

    @property
    def span(self) -> SpanRecord | None:
        return invocation_span(self.spans, self.invocation_id)

    @property
    def logs(self) -> list[LogEntry]:
        return [*self.result.logs, *self.late_logs]

    @property
    def unattributed_logs(self) -> list[LogEntry]:
        return list(self.result.unattributed_logs)

    def children(self, span: SpanRecord | None) -> list[SpanRecord]:
        """The spans whose parent is `span` (None: whose parent is the host's span)."""
        parent = span.span_id if span is not None else self.host_span_id
        return [s for s in self.spans if s.parent_id == parent]

    def metric(self, name: str, attributes: Mapping[str, Any] | None = None) -> list[MetricPoint]:
        """This invocation's points of metric `name` whose attributes include `attributes`."""
        wanted = dict(attributes or {})
        return [p for p in self.metrics if p.name == name and all(p.attributes.get(k) == v for k, v in wanted.items())]

    @property
    def http_status(self) -> int | None:
        from ..middleware.tracing import http_status_of

        return http_status_of(self.result.value)

    @property
    def failed(self) -> bool:
        """The function raised, or answered with an HTTP 5xx (what the host and funcscope count as a failure)."""
        status = self.http_status
        return self.result.exception is not None or (status is not None and status >= 500)


class LocalApp:
    """A function app loaded by the worker emulator as Azure Functions Core Tools would load it.

    `local.settings.json`'s `Values` are put into the environment (the shell's own values win, as under Core
    Tools), `env` on top of both, for the app's lifetime. `hooks`: whether the worker runs extension hooks;
    None decides as the worker would (`PYTHON_ENABLE_WORKER_EXTENSIONS`, and never on Python 3.13+); False
    models a worker that runs none. `process_count` > 1 runs that many worker processes. `export` also sends
    the telemetry on (`"console"`, `"otlp"`, `"azure-monitor"`, through funcscope's exporter set-up).

    One LocalApp (one in-process worker) at a time per process; use it as a context manager or `close()` it.
    """

    def __init__(
        self,
        app_dir: str | os.PathLike[str] = ".",
        *,
        hooks: bool | None = None,
        process_count: int = 1,
        thread_count: int | None = None,
        env: Mapping[str, str] | None = None,
        local_settings: bool = True,
        export: str | None = None,
    ) -> None:
        self.app_dir = resolve_app_dir(app_dir)
        self.local_settings = (
            read_local_settings(self.app_dir) if local_settings else LocalSettings(self.app_dir / "local.settings.json")
        )
        applied = {**self.local_settings.to_apply(), **dict(env or {})}
        self.settings = {**os.environ, **applied}  # the app settings the app runs with
        self.hooks = hooks_by_default(self.settings) if hooks is None else hooks
        self.export = export
        self.invocations: list[InvocationTelemetry] = []
        #: Spans that belong to no invocation: made while the app loaded, or by overlapping invocations outside
        #: their trace.
        self.unmatched_spans: list[SpanRecord] = []
        self._late_seen = 0
        self._in_process = process_count == 1
        try:
            self.worker = Worker(
                self.app_dir,
                process_count=process_count,
                thread_count=thread_count,
                extensions_enabled=True if self.hooks else None,
                hooks="classic" if self.hooks else "none",
                env=applied,
                initializer=capture.start_process,
                initargs=(export,),
            )
        except BaseException:
            if self._in_process:
                capture.stop_process()
            raise
        try:
            #: Records logged while the app loaded (its imports, funcscope's start-up messages).
            self.startup_logs: list[LogEntry] = self.worker.unattributed_logs
            self.unmatched_spans.extend(self._drain())
            self.startup_metrics = self.collect_metrics()
            self.notes = self._notes()
        except BaseException:
            self.close()
            raise

    @property
    def functions(self) -> dict[str, FunctionInfo]:
        return dict(self.worker.functions)

    @property
    def route_prefix(self) -> str:
        """The HTTP route prefix from `host.json` (`extensions.http.routePrefix`, default "api")."""
        try:
            host = json.loads((self.app_dir / "host.json").read_text(encoding="utf-8-sig"))
            prefix = host["extensions"]["http"]["routePrefix"]
        except (OSError, ValueError, KeyError, TypeError):
            return "api"
        return prefix if isinstance(prefix, str) else "api"

    # -- invoking ------------------------------------------------------------------------------------------------

    def default_payload(self, function_name: str) -> Any:
        """What `invoke` sends when given no payload: an HTTP function its first method and its route (with
        host.json's prefix, route parameters set to "1"); other triggers the emulator's defaults."""
        info = self.worker.functions.get(function_name)
        return default_payload(info, self.route_prefix) if info is not None else None

    def invoke(self, function_name: str, payload: Any = None, **options: Any) -> InvocationTelemetry:
        """Run one invocation (options as for `Worker.invoke`) and return it with its telemetry; with no
        payload, the trigger's default (see `default_payload`)."""
        if payload is None:
            payload = self.default_payload(function_name)
        self.settle()
        started = time.time_ns()
        result = self.worker.invoke(function_name, payload, **options)
        telemetry = InvocationTelemetry(result, self.worker.functions[function_name], started, time.time_ns())
        self.invocations.append(telemetry)
        self.settle()
        telemetry.metrics = self.collect_metrics()
        return telemetry

    def invoke_many(self, calls: Iterable[Call], concurrency: int | None = None) -> list[InvocationTelemetry]:
        """Run calls concurrently (see `Worker.invoke_many`); results in order."""
        self.settle()
        started = time.time_ns()
        results = self.worker.invoke_many(calls, concurrency)
        ended = time.time_ns()
        batch = [InvocationTelemetry(r, self.worker.functions[r.function_name], started, ended) for r in results]
        self.invocations.extend(batch)
        self.settle()
        return batch

    def collect_metrics(self) -> list[MetricPoint]:
        """funcscope's metric points recorded since the last collection, in every worker process."""
        if self._in_process:
            return capture.collect_metrics()
        return [p for part in self.worker.run_in_each_process(capture.collect_metrics) for p in part]

    def settle(self) -> None:
        """File the spans and late log records that arrived since the last call under their invocations."""
        by_trace = {t.trace_id: t for t in self.invocations}
        for span in self._drain():
            owner = by_trace.get(span.trace_id)
            if owner is not None:
                owner.spans.append(span)
                continue
            during = [t for t in self.invocations if t.started_ns <= span.start_ns <= t.ended_ns]
            if len(during) == 1:
                during[0].outside_trace.append(span)
            else:
                self.unmatched_spans.append(span)
        for t in self.invocations:
            t.spans.sort(key=lambda s: s.start_ns)
        late = self.worker.late_logs
        by_id = {t.invocation_id: t for t in self.invocations}
        for entry in late[self._late_seen :]:
            owner = by_id.get(entry.invocation_id or "")
            if owner is not None:
                owner.late_logs.append(entry)
        self._late_seen = len(late)

    def flush(self, timeout_ms: int = 5000) -> bool:
        """Send on what the exporters hold (with `export`), in every worker process; False when not everything
        left within the time."""
        if self._in_process:
            return capture.flush(timeout_ms)
        return all(self.worker.run_in_each_process(capture.flush, timeout_ms))

    def logs_outside_invocations(self) -> list[LogEntry]:
        """Records logged since the app loaded while no invocation ran (an exporter's errors, a background
        thread's records)."""
        startup = {_key(e) for e in self.startup_logs}
        during = {_key(e) for t in self.invocations for e in t.unattributed_logs}
        return [e for e in self.worker.unattributed_logs if _key(e) not in startup and _key(e) not in during]

    def _drain(self) -> list[SpanRecord]:
        if self._in_process:
            return capture.drain_spans()
        return [s for part in self.worker.run_in_each_process(capture.drain_spans) for s in part]

    def _notes(self) -> list[str]:
        """What the telemetry shown will not include, and why."""
        notes = []
        for what in self.worker.run_in_each_process(capture.adopt_app_providers)[0]:
            notes.append(
                f"the app passes its own {what} to funcscope.configure(), which cannot be read here: "
                f"what funcscope records through it is not shown"
            )
        return notes

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker, restore the environment and funcscope's runner; idempotent."""
        try:
            self.worker.close()
        finally:
            if self._in_process:
                capture.stop_process()

    def __enter__(self) -> LocalApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _key(entry: LogEntry) -> tuple[Any, ...]:
    return (entry.created, entry.thread_name, entry.logger_name, entry.message)
