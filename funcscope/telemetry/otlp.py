"""OTLP: where funcscope sends telemetry when `OTEL_EXPORTER_OTLP_ENDPOINT` is set."""

from __future__ import annotations

from typing import Any

__all__ = ["otlp_exporters"]


def otlp_exporters() -> tuple[Any, Any]:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(), OTLPMetricExporter()
