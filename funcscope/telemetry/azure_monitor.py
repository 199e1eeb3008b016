"""Azure Monitor: where funcscope sends telemetry when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set."""

from __future__ import annotations

from typing import Any

__all__ = ["azure_monitor_exporters"]


def azure_monitor_exporters() -> tuple[Any, Any]:
    from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter, AzureMonitorTraceExporter

    return AzureMonitorTraceExporter(), AzureMonitorMetricExporter()
