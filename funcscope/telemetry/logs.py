"""Log export: every log record, with its invocation fields and trace and span ids, through an OpenTelemetry
logger provider.

Whether funcscope exports logs is the `logs` setting: "export", "host", or "auto" - export exactly when the
worker's own OpenTelemetry mode (`PYTHON_ENABLE_OPENTELEMETRY`) is on, because the host then drops the logs the
worker relays to it. Records reach the provider through one `LoggingHandler` (opentelemetry-instrumentation-logging)
on the root logger: the one already there (the Azure Monitor distro adds its own, as may the app) or funcscope's,
never two, so no record is exported twice. The handler takes each record's trace and span ids from the context
it is logged in, which funcscope carries into the threads and tasks an invocation starts, and its invocation
fields from log enrichment. Records logged while an exporter exports (its HTTP client's, its own warnings) are
not exported again, so a failing backend cannot feed itself.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value

from ..shared.settings import worker_exports_telemetry

__all__ = ["exports_logs", "export_records", "stop_exporting_records", "records_handler"]

_handler: logging.Handler | None = None  # the handler funcscope added, if it added one


def exports_logs(logs: str) -> bool:
    """Whether the `logs` setting asks funcscope to export log records."""
    return logs == "export" or (logs == "auto" and worker_exports_telemetry())


def _not_while_exporting(record: logging.LogRecord) -> bool:
    # Exporters run with instrumentation suppressed in their context.
    return not get_value(_SUPPRESS_INSTRUMENTATION_KEY)


def records_handler() -> logging.Handler | None:
    """The OpenTelemetry logging handler on the root logger, whoever added it; None when there is none."""
    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "LoggingHandler" and type(handler).__module__.startswith("opentelemetry."):
            return handler
    return None


def _logging_handler_class() -> Any:
    try:
        from opentelemetry.instrumentation.logging.handler import LoggingHandler
    except ImportError:  # an older opentelemetry-instrumentation-logging: the SDK's (deprecated) handler
        import warnings

        from opentelemetry.sdk._logs import LoggingHandler  # type: ignore[assignment]

        warnings.filterwarnings("ignore", "`LoggingHandler` in `opentelemetry-sdk` is deprecated", DeprecationWarning)
    return LoggingHandler


def export_records(logger_provider: Any) -> logging.Handler:
    """Send every record logged in the process to `logger_provider` (idempotent); returns the handler that does."""
    global _handler
    handler = records_handler()
    if handler is None:
        handler = _handler = _logging_handler_class()(logger_provider=logger_provider)
        logging.getLogger().addHandler(handler)
    if _not_while_exporting not in handler.filters:
        handler.addFilter(_not_while_exporting)
    return handler


def stop_exporting_records() -> None:
    """Take away the handler funcscope added (one added by someone else stays)."""
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
