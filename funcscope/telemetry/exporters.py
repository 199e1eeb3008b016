"""Which exporters funcscope sets up: by name, or under "auto" by the app settings that are present."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..shared.diagnostics import report_once
from .azure_monitor import azure_monitor_exporters
from .otlp import otlp_exporters

__all__ = ["exporters_for"]


def _console_exporters() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter(), ConsoleMetricExporter()


# name: (what to call it, the app setting that turns it on under "auto" (None: only when asked for by name),
# the factory of its span and metric exporters)
_EXPORTERS: dict[str, tuple[str, str | None, Callable[[], tuple[Any, Any]]]] = {
    "azure-monitor": ("Azure Monitor", "APPLICATIONINSIGHTS_CONNECTION_STRING", azure_monitor_exporters),
    "otlp": ("OTLP", "OTEL_EXPORTER_OTLP_ENDPOINT", otlp_exporters),
    "console": ("console", None, _console_exporters),
}


def exporters_for(choice: str) -> tuple[list[Any], list[Any], list[str]]:
    spans: list[Any] = []
    metric: list[Any] = []
    names: list[str] = []
    asked = False  # an exporter was asked for; if it could not be set up, its own warning says why
    for name, (label, setting, factory) in _EXPORTERS.items():
        if choice == "auto" and not (setting and os.environ.get(setting)):
            continue
        if choice not in ("auto", name):
            continue
        asked = True
        try:
            span_exporter, metric_exporter = factory()
        except ImportError:
            report_once(
                ("telemetry", "missing", name),
                f"funcscope: {setting or name} asks for the {label} exporter, which is not installed; add "
                f"'funcscope[{name}]' to requirements.txt.",
            )
        except Exception as exc:  # e.g. a malformed connection string
            report_once(
                ("telemetry", "config", name),
                f"funcscope: the {label} exporter could not be set up ({exc}); nothing is sent there.",
            )
        else:
            spans.append(span_exporter)
            metric.append(metric_exporter)
            names.append(name)
    if not names and not asked and choice != "none":
        report_once(
            ("telemetry", "no-exporter"),
            "funcscope: no exporter is configured, so spans and metrics are recorded but sent nowhere. Set "
            "APPLICATIONINSIGHTS_CONNECTION_STRING or OTEL_EXPORTER_OTLP_ENDPOINT, or configure(exporter='console').",
        )
    return spans, metric, names
