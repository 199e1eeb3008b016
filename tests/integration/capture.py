"""In-memory telemetry that works in the test process and in the emulator's worker processes.

Test apps import this before configuring funcscope. In a fresh worker process it installs global providers
backed by in-memory exporters; in the test process, where tests/conftest.py already set a global tracer
provider, it adds its exporter to that provider. Results come back as plain dicts, so they cross processes.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXPORTER = InMemorySpanExporter()
_installed = False
_lock = threading.Lock()


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            provider = TracerProvider()
            trace.set_tracer_provider(provider)
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        _installed = True


def span_dict(span: Any) -> dict[str, Any]:
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
        "parent_span_id": format(span.parent.span_id, "016x") if span.parent is not None else None,
        "status": span.status.status_code.name,
        "status_description": span.status.description,
        "attributes": dict(span.attributes or {}),
        "events": [(e.name, dict(e.attributes or {})) for e in span.events],
        "links": [
            (format(link.context.trace_id, "032x"), format(link.context.span_id, "016x"), dict(link.attributes or {}))
            for link in span.links
        ],
        "ended": span.end_time is not None,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
    }


def finished_spans() -> list[dict[str, Any]]:
    return [span_dict(s) for s in EXPORTER.get_finished_spans()]


def clear() -> None:
    EXPORTER.clear()
