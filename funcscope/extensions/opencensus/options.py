"""The original extension's `configure(**options)` - its `AzureExporter`'s options - as funcscope's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from ...shared.diagnostics import report_once
from ...shared.settings import Settings

__all__ = ["EXPORTER_OPTIONS", "funcscope_options"]

#: The options of the original's `AzureExporter` that funcscope maps to its own settings.
EXPORTER_OPTIONS = ("connection_string", "instrumentation_key", "credential", "enable_local_storage", "storage_path")
_SETTINGS = frozenset(f.name for f in fields(Settings)) - {"opencensus"}


def funcscope_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """funcscope's settings for the options of the original's `configure()`: its exporter options mapped (see
    `EXPORTER_OPTIONS`), funcscope's own settings as they are; anything else is ignored, with one warning."""
    mapped = {name: value for name, value in options.items() if name in _SETTINGS}
    ignored = sorted(name for name in options if name not in _SETTINGS and name not in EXPORTER_OPTIONS)
    key = options.get("instrumentation_key")
    if key and not options.get("connection_string"):  # the original: a connection string wins over a key
        mapped["connection_string"] = f"InstrumentationKey={key}"
    if options.get("enable_local_storage", True) is False:
        mapped["azure_monitor_storage"] = "none"
    elif options.get("storage_path") is not None:
        mapped["azure_monitor_storage"] = options["storage_path"]
    if ignored:
        report_once(
            ("opencensus", "options", *ignored),
            f"OpenCensusExtension.configure() ignores {', '.join(ignored)}: funcscope exports through "
            "OpenTelemetry, which has no such option (the OTEL_BSP_* app settings tune its batching, HTTPS_PROXY "
            f"sets a proxy). It takes {', '.join(EXPORTER_OPTIONS)} and funcscope's own settings.",
        )
    return mapped
