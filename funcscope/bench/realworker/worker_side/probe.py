"""Runs inside every worker process the driver starts, before the worker itself.

It installs global OpenTelemetry providers that keep spans and metrics in memory (so funcscope, which reuses
configured global providers, records into them; `FUNCSCOPE_RW_TELEMETRY=none` leaves the providers alone), and
answers the driver's questions on a local connection from a thread of its own: the finished spans, the metric
points, or the result of calling a module-level function in this process. Nothing here takes part in an
invocation: the worker runs exactly as the host would run it.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from multiprocessing.connection import Client
from typing import Any

ADDRESS_ENV = "FUNCSCOPE_RW_PROBE"
KEY_ENV = "FUNCSCOPE_RW_PROBE_KEY"
TELEMETRY_ENV = "FUNCSCOPE_RW_TELEMETRY"

_spans: Any = None
_metrics: Any = None


def _install_telemetry() -> None:
    global _spans, _metrics
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    _spans = InMemorySpanExporter()
    provider = TracerProvider()
    # Simple, not batched: a span is readable the moment it ends, so the driver never waits for an export.
    provider.add_span_processor(SimpleSpanProcessor(_spans))
    trace.set_tracer_provider(provider)
    _metrics = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[_metrics]))


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def span_dict(span: Any) -> dict[str, Any]:
    parent = span.parent
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": _hex(span.context.trace_id, 32),
        "span_id": _hex(span.context.span_id, 16),
        "parent_span_id": _hex(parent.span_id, 16) if parent is not None else None,
        "parent_is_remote": bool(parent.is_remote) if parent is not None else None,
        "trace_state": str(span.context.trace_state.to_header()),
        "status": span.status.status_code.name,
        "status_description": span.status.description,
        "attributes": dict(span.attributes or {}),
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        "links": [
            {
                "trace_id": _hex(link.context.trace_id, 32),
                "span_id": _hex(link.context.span_id, 16),
                "attributes": dict(link.attributes or {}),
            }
            for link in span.links
        ],
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "pid": os.getpid(),
    }


def _spans_op(clear: bool = True) -> list[dict[str, Any]]:
    if _spans is None:
        return []
    finished = [span_dict(s) for s in _spans.get_finished_spans()]
    if clear:
        _spans.clear()
    return finished


def _metrics_op() -> list[dict[str, Any]]:
    if _metrics is None:
        return []
    points = []
    data = _metrics.get_metrics_data()
    for resource_metrics in getattr(data, "resource_metrics", None) or ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    points.append(
                        {
                            "name": metric.name,
                            "attributes": dict(point.attributes or {}),
                            "value": value,
                            "count": getattr(point, "count", None),
                            "sum": getattr(point, "sum", None),
                        }
                    )
    return points


def _call_op(target: str, args: list[Any]) -> Any:
    module_name, _, attr = target.partition(":")
    func = getattr(importlib.import_module(module_name), attr)
    return func(*args)


def _handle(request: dict[str, Any]) -> Any:
    op = request.get("op")
    if op == "spans":
        return _spans_op(bool(request.get("clear", True)))
    if op == "metrics":
        return _metrics_op()
    if op == "call":
        return _call_op(request["target"], list(request.get("args", ())))
    raise ValueError(f"unknown probe request {op!r}")


def _serve(connection: Any) -> None:
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", _handle(request))
        except BaseException as exc:  # the answer carries the failure; the probe thread lives on
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            connection.send(reply)
        except Exception as exc:  # an unpicklable result: say so instead of leaving the driver waiting
            connection.send(("error", f"the result could not be sent back: {exc!r}"))


def _worker_id(argv: list[str]) -> str:
    if "--workerId" in argv:
        index = argv.index("--workerId") + 1
        if index < len(argv):
            return argv[index]
    return ""


def start() -> None:
    """Set up in-memory telemetry (unless told not to) and connect to the driver, when it gave an address."""
    if os.environ.get(TELEMETRY_ENV, "memory") == "memory":
        _install_telemetry()
    address = os.environ.get(ADDRESS_ENV)
    if not address:
        return
    host, _, port = address.rpartition(":")
    connection = Client((host, int(port)), authkey=bytes.fromhex(os.environ[KEY_ENV]))
    connection.send({"worker_id": _worker_id(sys.argv), "pid": os.getpid()})
    threading.Thread(target=_serve, args=(connection,), name="funcscope-test-probe", daemon=True).start()
