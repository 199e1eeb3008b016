"""Azure Monitor, set up through the Azure Monitor OpenTelemetry distro (`azure-monitor-opentelemetry`).

`configure_azure_monitor()` builds and installs the tracer, meter and (when logs are exported) logger providers
with its exporters and processors. funcscope calls it with:

- funcscope's resource (the Functions site, region, instance and a per-process `service.instance.id`); no resource
  detector of the distro's default list runs, because its Azure VM detector queries the instance metadata endpoint;
- a parent-based sampler (`OTEL_TRACES_SAMPLER=parentbased_always_on` for the call, unless that setting is set),
  so an invocation is sampled exactly when the host's `traceparent` says so. The distro's own default, a
  rate-limited sampler, ignores a remote parent's flag and drops invocation spans above about 5 per second;
- none of the distro's library instrumentations at set-up: it would import every instrumented library that is
  installed (Django, Flask, FastAPI, psycopg2, ...), used or not. funcscope instruments the same libraries when the
  app imports them (`funcscope.instrumentation.outgoing`);
- live metrics and performance counters off: the host's Live Metrics shows every execution already, and the
  distro's would poll a public endpoint from every worker process; the host reports the instance's performance
  counters, while the distro's add a processor to every span and log record and, when two collections come
  close together (a flush), log a ZeroDivisionError that is exported as an exception item;
- the offline retry storage of `azure_monitor_storage` (see `storage_options`), and the processors of the other
  exporters funcscope sends to (OTLP, console), so every exporter sees the same spans, metrics and logs;
- no exemplars (`OTEL_METRICS_EXEMPLAR_FILTER=always_off` for the call, unless that setting is set) when the
  distro's exporter is the only metric reader: Application Insights has no place for an exemplar and the exporter
  sends none, while the SDK would sample one with every measurement made under a sampled span (the duration of
  every traced invocation, about 16k instructions each). With another exporter's reader (OTLP) they stay.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["DISTRO_INSTRUMENTATIONS", "check_azure_monitor", "set_up_azure_monitor", "storage_directory"]

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
EXEMPLAR_FILTER = "OTEL_METRICS_EXEMPLAR_FILTER"
#: The library instrumentations the distro knows (its `instrumentation_options` names).
DISTRO_INSTRUMENTATIONS = (
    "azure_sdk",
    "django",
    "fastapi",
    "flask",
    "httpx",
    "httpx2",
    "psycopg2",
    "requests",
    "urllib",
    "urllib3",
)
NO_STORAGE = "none"


def check_azure_monitor(connection_string: str | None = None) -> None:
    """Raise ImportError when the distro is not installed, ValueError for a connection string it cannot use (the
    one given, else `APPLICATIONINSIGHTS_CONNECTION_STRING`): before any provider is set up, so a bad setting
    leaves nothing half-installed."""
    import azure.monitor.opentelemetry  # noqa: F401
    from azure.monitor.opentelemetry.exporter._connection_string_parser import ConnectionStringParser

    ConnectionStringParser(connection_string or os.environ.get(CONNECTION_STRING))


def storage_options(storage: str | None) -> dict[str, Any]:
    """The exporters' offline-storage options for the `azure_monitor_storage` setting: None keeps the exporter's
    default directory, "none" turns the storage off, anything else is the directory to use."""
    if storage is None:
        return {}
    if storage.strip().lower() == NO_STORAGE:
        return {"disable_offline_storage": True}
    return {"storage_directory": os.path.abspath(os.path.expanduser(storage))}


def storage_directory(storage: str | None) -> str | None:
    """Where the Azure Monitor exporters keep telemetry they could not send (None: nowhere). The default is the
    exporter's: `<temp dir>/Microsoft-AzureMonitor-<hash>/opentelemetry-python-<instrumentation key>`, the hash
    made of the key, the user, the process name and the app's directory."""
    options = storage_options(storage)
    if options.get("disable_offline_storage"):
        return None
    if "storage_directory" in options:
        return str(options["storage_directory"])
    try:
        from azure.monitor.opentelemetry.exporter._connection_string_parser import ConnectionStringParser
        from azure.monitor.opentelemetry.exporter.export._base import _get_storage_directory

        key = ConnectionStringParser(os.environ.get(CONNECTION_STRING)).instrumentation_key
        return str(_get_storage_directory(key or ""))
    except Exception:  # the exporter moved its private helper: the directory cannot be told, not an error
        return None


@contextlib.contextmanager
def _environ_for_the_call(defaults: dict[str, str], overrides: dict[str, str]) -> Iterator[None]:
    # The distro reads these from the environment only: set the defaults the user has not set, and the overrides,
    # for the call alone.
    changes = {name: value for name, value in defaults.items() if not os.environ.get(name)} | overrides
    previous = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, old in previous.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def set_up_azure_monitor(
    resource: Any,
    *,
    span_processors: Sequence[Any] = (),
    metric_readers: Sequence[Any] = (),
    log_record_processors: Sequence[Any] = (),
    export_logs: bool,
    storage: str | None,
    connection_string: str | None = None,
    credential: Any = None,
) -> tuple[Any, Any, Any]:
    """Install the distro's providers (see the module's docstring); returns (tracer, meter, logger provider), the
    logger provider None unless `export_logs`. `connection_string` and `credential`, when given, are passed on (the
    distro reads `APPLICATIONINSIGHTS_CONNECTION_STRING` otherwise). funcscope shuts the providers down itself at
    exit, after ending the invocations still in flight (the SDK's own exit handlers would run first and drop their
    spans)."""
    from azure.monitor.opentelemetry import configure_azure_monitor
    from opentelemetry import metrics, trace
    from opentelemetry._logs import get_logger_provider

    given = {"connection_string": connection_string, "credential": credential}
    defaults = {"OTEL_TRACES_SAMPLER": "parentbased_always_on", "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel"}
    if not metric_readers:  # the distro's exporter reads every metric: none keeps an exemplar (see the docstring)
        defaults[EXEMPLAR_FILTER] = "always_off"
    with _environ_for_the_call(
        defaults,
        # The distro overwrites its disable_logging option with what this setting says.
        {} if export_logs else {"OTEL_LOGS_EXPORTER": "none"},
    ):
        configure_azure_monitor(
            resource=resource,
            enable_live_metrics=False,
            enable_performance_counters=False,
            instrumentation_options={name: {"enabled": False} for name in DISTRO_INSTRUMENTATIONS},
            span_processors=list(span_processors),
            metric_readers=list(metric_readers),
            log_record_processors=list(log_record_processors),
            **storage_options(storage),
            **{name: value for name, value in given.items() if value is not None},
        )
    providers = (
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        get_logger_provider() if export_logs else None,
    )
    for provider in providers:
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            atexit.unregister(shutdown)
    return providers
