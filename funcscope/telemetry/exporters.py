"""Which exporters funcscope sets up: by name, or under "auto" by the app settings that are present.

- Azure Monitor when a connection string is given (`configure(connection_string=...)`, else
  `APPLICATIONINSIGHTS_CONNECTION_STRING`): the distro builds the providers (see
  `azure_monitor`), and the other exporters are added to them;
- OTLP when an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` for every signal, or a signal's own
  `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` for that signal), over the protocol configured (see `otlp`);
- the console only when asked for by name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..shared.diagnostics import report_once
from ..shared.settings import otlp_signal_configured
from .azure_monitor import CONNECTION_STRING, check_azure_monitor
from .otlp import SIGNALS, MissingOTLPExporter, otlp_exporters

__all__ = ["Chosen", "exporters_for"]

_LABELS = {"azure-monitor": "Azure Monitor", "otlp": "OTLP", "console": "console"}


@dataclass
class Chosen:
    """The exporters that could be set up: `names` in order; `azure_monitor` when the distro is to build the
    providers; the other exporters' span, metric and log exporters."""

    names: list[str] = field(default_factory=list)
    azure_monitor: bool = False
    spans: list[Any] = field(default_factory=list)
    metrics: list[Any] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)

    def add(self, exporters: dict[str, Any]) -> None:
        for signal, store in (("traces", self.spans), ("metrics", self.metrics), ("logs", self.logs)):
            if signal in exporters:
                store.append(exporters[signal])


def _console_exporters(signals: tuple[str, ...]) -> dict[str, Any]:
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    classes = {"traces": ConsoleSpanExporter, "metrics": ConsoleMetricExporter, "logs": ConsoleLogRecordExporter}
    return {signal: classes[signal]() for signal in signals}


def _wanted_signals(name: str, choice: str, export_logs: bool, connection_string: str | None) -> tuple[str, ...]:
    signals = SIGNALS if export_logs else SIGNALS[:2]
    if choice != "auto":
        return signals
    if name == "azure-monitor":
        return signals if connection_string or os.environ.get(CONNECTION_STRING) else ()
    if name == "otlp":
        return tuple(s for s in signals if otlp_signal_configured(s))
    return ()  # the console only by name


def exporters_for(choice: str, export_logs: bool, connection_string: str | None = None) -> Chosen:
    """The exporters for the `exporter` setting; each one that cannot be set up gives one warning that says why.
    Log exporters only when `export_logs`. `connection_string` is Azure Monitor's when given in code."""
    chosen = Chosen()
    asked = False  # an exporter was asked for; if it could not be set up, its own warning says why
    for name, label in _LABELS.items():
        if choice not in ("auto", name):
            continue
        signals = _wanted_signals(name, choice, export_logs, connection_string)
        if not signals:
            continue
        asked = True
        try:
            if name == "azure-monitor":
                check_azure_monitor(connection_string)
                chosen.azure_monitor = True
            elif name == "otlp":
                chosen.add(otlp_exporters(signals))
            else:
                chosen.add(_console_exporters(signals))
        except MissingOTLPExporter as exc:
            report_once(("telemetry", "missing", name, exc.protocol), str(exc))
        except ImportError:
            report_once(
                ("telemetry", "missing", name),
                f"{CONNECTION_STRING if choice == 'auto' else 'exporter=' + name} asks for the {label} "
                f"exporter, which is not installed; add 'funcscope[{name}]' to requirements.txt.",
            )
        except Exception as exc:  # e.g. a malformed connection string
            report_once(
                ("telemetry", "config", name),
                f"the {label} exporter could not be set up ({exc}); nothing is sent there.",
            )
        else:
            chosen.names.append(name)
    if not chosen.names and not asked and choice != "none":
        report_once(
            ("telemetry", "no-exporter"),
            "no exporter is configured, so spans and metrics are recorded but sent nowhere. Set "
            "APPLICATIONINSIGHTS_CONNECTION_STRING or OTEL_EXPORTER_OTLP_ENDPOINT, or configure(exporter='console').",
        )
    return chosen
