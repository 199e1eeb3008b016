"""OTLP: the span, metric and log exporters for the protocol each signal is configured with.

`OTEL_EXPORTER_OTLP_PROTOCOL` (or the per-signal `OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`) picks the exporter class:
`http/protobuf` (the default, `funcscope[otlp]`) or `grpc` (`funcscope[otlp-grpc]`). Everything else - endpoints,
headers, timeouts, compression, certificates, shared or per signal - the exporters read from the environment
themselves, so what the OpenTelemetry documentation says about those settings holds as written.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from ..shared.settings import otlp_protocol

__all__ = ["SIGNALS", "otlp_exporters"]

SIGNALS = ("traces", "metrics", "logs")

# (signal, protocol) -> (module, class): the exporters of opentelemetry-exporter-otlp-proto-http / -grpc.
_EXPORTER_CLASSES = {
    ("traces", "http/protobuf"): ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "OTLPSpanExporter"),
    ("metrics", "http/protobuf"): ("opentelemetry.exporter.otlp.proto.http.metric_exporter", "OTLPMetricExporter"),
    ("logs", "http/protobuf"): ("opentelemetry.exporter.otlp.proto.http._log_exporter", "OTLPLogExporter"),
    ("traces", "grpc"): ("opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "OTLPSpanExporter"),
    ("metrics", "grpc"): ("opentelemetry.exporter.otlp.proto.grpc.metric_exporter", "OTLPMetricExporter"),
    ("logs", "grpc"): ("opentelemetry.exporter.otlp.proto.grpc._log_exporter", "OTLPLogExporter"),
}
EXTRAS = {"http/protobuf": "otlp", "grpc": "otlp-grpc"}


class MissingOTLPExporter(ImportError):
    """The exporter package for a configured protocol is not installed."""

    def __init__(self, protocol: str) -> None:
        super().__init__(
            f"OTLP over {protocol} needs its exporter, which is not installed; add "
            f"'funcscope[{EXTRAS[protocol]}]' to requirements.txt."
        )
        self.protocol = protocol


def otlp_exporters(signals: Iterable[str]) -> dict[str, Any]:
    """One exporter per signal, of the class its protocol asks for; raises `MissingOTLPExporter` when that
    exporter is not installed, and whatever the exporter raises for a setting it cannot use."""
    exporters: dict[str, Any] = {}
    for signal in signals:
        protocol = otlp_protocol(signal)
        module_name, class_name = _EXPORTER_CLASSES[(signal, protocol)]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise MissingOTLPExporter(protocol) from exc
        exporters[signal] = getattr(module, class_name)()
    return exporters
