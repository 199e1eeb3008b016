"""Settings, read in one place: app settings (environment variables) first, then `configure(**options)`.

A bad environment value gives one warning and the default, because app settings are edited in a portal far
from the code. A bad `configure()` option raises at once with a clear message, because it is code the user
is running as the app starts, not an invocation.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import report_once

__all__ = [
    "DEFAULT_INSTRUMENTED",
    "ENV_PREFIX",
    "INSTRUMENTABLE",
    "FunctionOptions",
    "Settings",
    "export_delay_ms",
    "otlp_protocol",
    "otlp_signal_configured",
    "worker_exports_telemetry",
]

ENV_PREFIX = "FUNCSCOPE_"
EXPORTERS = ("auto", "azure-monitor", "otlp", "console", "none")
SPAN_KINDS = ("internal", "trigger")
LOG_MODES = ("auto", "export", "host")
DURABLE_REPLAYS = ("omit", "mark")
#: Libraries whose outgoing calls become dependency spans by default: the HTTP clients and the Azure SDK, and the
#: PostgreSQL driver the Azure Monitor distro instruments too.
DEFAULT_INSTRUMENTED = ("requests", "urllib3", "httpx", "aiohttp", "azure_sdk", "psycopg2")
#: Also known, on request only: the standard library's urllib (`urllib.request` is imported in every process funcscope
#: runs in - the Azure resource detectors import it - so instrumenting it would cost every cold start whether the app
#: calls it or not), and web frameworks (run inside an HTTP function they make a SERVER span, so a second request in
#: Application Insights).
INSTRUMENTABLE = (*DEFAULT_INSTRUMENTED, "urllib", "django", "fastapi", "flask")
OTLP_PROTOCOLS = ("http/protobuf", "grpc")
FLUSH_MODES = ("background", "invocation")
# The batch processors' export delay funcscope sets where the app has not (the SDK's own default is 5 s).
EXPORT_DELAY_MS = 1000
EXPORT_DELAY_SETTING = "OTEL_BSP_SCHEDULE_DELAY"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env(environ: Mapping[str, str], name: str, parse: Callable[[str], Any], expected: str, default: Any) -> Any:
    """An app setting parsed by `parse` (which raises ValueError for a bad value); unset or blank gives the
    default, a bad value the default and one warning."""
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return parse(raw.strip())
    except ValueError:
        report_once(("setting", name), f"app setting {name}={raw!r} is not {expected}; using {default!r}.")
        return default


def _parse_bool(raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ValueError(raw)


def _parse_choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in choices:
            raise ValueError(raw)
        return raw.lower()

    return parse


def _parse_millis(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _parse_names(raw: str) -> tuple[str, ...]:
    if raw.lower() == "none":
        return ()
    names = tuple(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip()))
    if any(n not in INSTRUMENTABLE for n in names):
        raise ValueError(raw)
    return names


def _check_instrument(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"instrument must be a list of library names, got {value!r}")
    unknown = [n for n in value if n not in INSTRUMENTABLE]
    if unknown:
        raise ValueError(f"instrument: unknown {', '.join(map(repr, unknown))}; known: {', '.join(INSTRUMENTABLE)}")
    return tuple(dict.fromkeys(value))


def _check_ratio(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
    return float(value)


def _check_middleware(name: str, value: object) -> tuple[Any, ...]:
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a list of middleware objects, got {type(value).__name__}")
    for mw in value:
        if not any(callable(getattr(mw, hook, None)) for hook in ("before", "after", "on_error")):
            raise TypeError(f"{name}: {mw!r} has none of before(), after() or on_error()")
    return tuple(value)


@dataclass(frozen=True)
class Settings:
    """Process-wide settings.

    - `enabled` (`FUNCSCOPE_ENABLED`, default true): run the pipeline at all.
    - `tracing` (`FUNCSCOPE_TRACING`, default true): a span per invocation.
    - `metrics` (`FUNCSCOPE_METRICS`, default true): invocation metrics.
    - `propagation` (`FUNCSCOPE_PROPAGATION`, default true): carry the invocation into the threads, pools and
      executors its code starts (process-wide patches of `threading` and `concurrent.futures`).
    - `log_enrichment` (`FUNCSCOPE_LOG_ENRICHMENT`, default true): invocation fields on every log record.
    - `span_kind` (`FUNCSCOPE_SPAN_KIND`, default "internal"): the invocation span's kind. "internal": INTERNAL,
      so Azure Monitor files it as an in-process dependency under the host's request (the host records every
      execution as a request already); "trigger": by trigger (SERVER for HTTP, CONSUMER for message and data
      triggers, INTERNAL for timers), for backends that never see the host's spans.
    - `sample_ratio` (`FUNCSCOPE_SAMPLE_RATIO`, default 1.0): share of root traces (no usable host parent)
      that are sampled; invocations with a host parent follow the host's sampled flag.
    - `exporter` (`FUNCSCOPE_EXPORTER`, default "auto"): where funcscope sends telemetry when it configures the
      providers itself: "auto" (Azure Monitor and/or OTLP as their settings are present), "azure-monitor",
      "otlp", "console" or "none". Ignored when providers were configured already.
    - `logs` (`FUNCSCOPE_LOGS`, default "auto"): "export" sends every log record (with its invocation fields and
      trace and span ids) through an OpenTelemetry logger provider; "host" leaves logs to the Functions host,
      which gets them from the worker; "auto" exports when the worker's own OpenTelemetry mode is on
      (`PYTHON_ENABLE_OPENTELEMETRY`: the host then drops the logs the worker relays), else leaves them to the host.
    - `instrument` (`FUNCSCOPE_INSTRUMENT`, comma-separated, or "none"; default `DEFAULT_INSTRUMENTED` less the
      names in `OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`): the libraries whose outgoing calls become CLIENT spans
      under the invocation, each instrumented when the app first imports it.
    - `azure_monitor_storage` (`FUNCSCOPE_AZURE_MONITOR_STORAGE`, default: the exporter's own directory under
      the temp dir): where the Azure Monitor exporters keep telemetry that could not be sent, to retry it later;
      "none" keeps nothing.
    - `service_name` (default: `OTEL_SERVICE_NAME`, else the site name): the resource's `service.name`.
    - `flush_timeout_ms` (`FUNCSCOPE_FLUSH_TIMEOUT_MS`, default 2000): the longest a flush may wait.
    - `flush` (`FUNCSCOPE_FLUSH`, default "background"): when buffered telemetry is pushed out besides the batch
      processors' own schedule and the flush at stop: "background" after an idle gap, "invocation" also at the
      end of every invocation, which then waits for it (at most `flush_timeout_ms`).
    - `middleware_budget_ms` (`FUNCSCOPE_MIDDLEWARE_BUDGET_MS`, default 250): a middleware that takes longer than
      this in one invocation is reported once, by name and time (every invocation waits for the middlewares).
    - `connection_string` (configure only; default: `APPLICATIONINSIGHTS_CONNECTION_STRING`): the Application
      Insights connection string funcscope's Azure Monitor exporters send to.
    - `credential` (configure only): an `azure.core` token credential, for Azure Monitor's Microsoft Entra ID
      authentication.
    - `opencensus` (configure only; `OpenCensusExtension` sets it): give every invocation an OpenCensus
      `context.tracer` whose spans are OpenTelemetry spans under the invocation's (needs `funcscope[opencensus]`).
    - `durable_replays` (`FUNCSCOPE_DURABLE_REPLAYS`, default "omit"): what becomes of the telemetry of the steps
      a Durable Functions orchestrator replays in each invocation: "omit" records none of it (its spans are not
      sampled, its log records are dropped); "mark" records it under a replay span marked
      `azure.functions.durable.is_replaying`.
    - `tracer_provider`, `meter_provider`, `logger_provider` (configure only): providers to use instead of the
      global ones.
    - `middleware` (configure only): the user's own middlewares, run after funcscope's own ones.
    """

    enabled: bool = True
    tracing: bool = True
    metrics: bool = True
    propagation: bool = True
    log_enrichment: bool = True
    span_kind: str = "internal"
    sample_ratio: float = 1.0
    exporter: str = "auto"
    logs: str = "auto"
    instrument: tuple[str, ...] = DEFAULT_INSTRUMENTED
    azure_monitor_storage: str | None = None
    service_name: str | None = None
    flush_timeout_ms: int = 2000
    flush: str = "background"
    middleware_budget_ms: int = 250
    connection_string: str | None = None
    credential: Any = None
    opencensus: bool = False
    durable_replays: str = "omit"
    tracer_provider: Any = None
    meter_provider: Any = None
    logger_provider: Any = None
    middleware: tuple[Any, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            enabled=_env(env, ENV_PREFIX + "ENABLED", _parse_bool, "a boolean", True),
            tracing=_env(env, ENV_PREFIX + "TRACING", _parse_bool, "a boolean", True),
            metrics=_env(env, ENV_PREFIX + "METRICS", _parse_bool, "a boolean", True),
            propagation=_env(env, ENV_PREFIX + "PROPAGATION", _parse_bool, "a boolean", True),
            log_enrichment=_env(env, ENV_PREFIX + "LOG_ENRICHMENT", _parse_bool, "a boolean", True),
            span_kind=_env(
                env, ENV_PREFIX + "SPAN_KIND", _parse_choice(SPAN_KINDS), f"one of {', '.join(SPAN_KINDS)}", "internal"
            ),
            sample_ratio=_env(
                env,
                ENV_PREFIX + "SAMPLE_RATIO",
                lambda raw: _check_ratio("ratio", float(raw)),
                "a number from 0 to 1",
                1.0,
            ),
            exporter=_env(
                env, ENV_PREFIX + "EXPORTER", _parse_choice(EXPORTERS), f"one of {', '.join(EXPORTERS)}", "auto"
            ),
            logs=_env(env, ENV_PREFIX + "LOGS", _parse_choice(LOG_MODES), f"one of {', '.join(LOG_MODES)}", "auto"),
            instrument=_env(
                env,
                ENV_PREFIX + "INSTRUMENT",
                _parse_names,
                f"'none' or a comma-separated list of {', '.join(INSTRUMENTABLE)}",
                _default_instrumented(env),
            ),
            azure_monitor_storage=_env(env, ENV_PREFIX + "AZURE_MONITOR_STORAGE", str, "a directory", None),
            flush_timeout_ms=_env(
                env, ENV_PREFIX + "FLUSH_TIMEOUT_MS", _parse_millis, "a whole number of milliseconds", 2000
            ),
            durable_replays=_env(
                env,
                ENV_PREFIX + "DURABLE_REPLAYS",
                _parse_choice(DURABLE_REPLAYS),
                f"one of {', '.join(DURABLE_REPLAYS)}",
                "omit",
            ),
            flush=_env(
                env, ENV_PREFIX + "FLUSH", _parse_choice(FLUSH_MODES), f"one of {', '.join(FLUSH_MODES)}", "background"
            ),
            middleware_budget_ms=_env(
                env, ENV_PREFIX + "MIDDLEWARE_BUDGET_MS", _parse_millis, "a whole number of milliseconds", 250
            ),
        )

    def with_options(self, **options: Any) -> Settings:
        """A copy with `configure()` options applied; unknown or invalid options raise TypeError/ValueError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(
                f"funcscope.configure() got unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
            )
        checked = dict(options)
        for name in ("enabled", "tracing", "metrics", "propagation", "log_enrichment", "opencensus"):
            if name in checked and not isinstance(checked[name], bool):
                raise TypeError(f"{name} must be True or False, got {checked[name]!r}")
        if "span_kind" in checked and checked["span_kind"] not in SPAN_KINDS:
            raise ValueError(f"span_kind must be one of {', '.join(SPAN_KINDS)}, got {checked['span_kind']!r}")
        if "exporter" in checked and checked["exporter"] not in EXPORTERS:
            raise ValueError(f"exporter must be one of {', '.join(EXPORTERS)}, got {checked['exporter']!r}")
        if "logs" in checked and checked["logs"] not in LOG_MODES:
            raise ValueError(f"logs must be one of {', '.join(LOG_MODES)}, got {checked['logs']!r}")
        if "durable_replays" in checked and checked["durable_replays"] not in DURABLE_REPLAYS:
            raise ValueError(
                f"durable_replays must be one of {', '.join(DURABLE_REPLAYS)}, got {checked['durable_replays']!r}"
            )
        if "instrument" in checked:
            checked["instrument"] = _check_instrument(checked["instrument"])
        if "azure_monitor_storage" in checked and not isinstance(checked["azure_monitor_storage"], (str, type(None))):
            raise TypeError(
                f"azure_monitor_storage must be a directory or 'none', got {checked['azure_monitor_storage']!r}"
            )
        for name in ("service_name", "connection_string"):
            if name in checked and not isinstance(checked[name], (str, type(None))):
                raise TypeError(f"{name} must be a string, got {checked[name]!r}")
        if checked.get("opencensus") and importlib.util.find_spec("opencensus") is None:
            raise ImportError("opencensus=True needs OpenCensus: add 'funcscope[opencensus]' to requirements.txt")
        if checked.get("credential") is not None and not callable(getattr(checked["credential"], "get_token", None)):
            raise TypeError(f"credential must be an azure.core token credential, got {checked['credential']!r}")
        if "flush" in checked and checked["flush"] not in FLUSH_MODES:
            raise ValueError(f"flush must be one of {', '.join(FLUSH_MODES)}, got {checked['flush']!r}")
        for name in ("flush_timeout_ms", "middleware_budget_ms"):
            value = checked.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number of milliseconds >= 0, got {value!r}")
        if "sample_ratio" in checked:
            checked["sample_ratio"] = _check_ratio("sample_ratio", checked["sample_ratio"])
        if "middleware" in checked:
            checked["middleware"] = _check_middleware("middleware", checked["middleware"])
        return dataclasses.replace(self, **checked)


def _default_instrumented(environ: Mapping[str, str]) -> tuple[str, ...]:
    # The contrib instrumentations' own switch, which the Azure Monitor distro honours too.
    disabled = {n.strip().lower() for n in environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    return tuple(n for n in DEFAULT_INSTRUMENTED if n not in disabled)


# -- the worker's and OpenTelemetry's own settings that decide what funcscope sets up -----------------------------


def export_delay_ms(environ: Mapping[str, str] | None = None) -> int:
    """How long ended spans and logs may wait before they are sent: `OTEL_BSP_SCHEDULE_DELAY` when the app set
    it (the SDK's own setting, which also sets the gap after which funcscope flushes an idle process), else
    `EXPORT_DELAY_MS`. A value the SDK cannot read gives the default here too; the SDK warns about it itself."""
    raw = (os.environ if environ is None else environ).get(EXPORT_DELAY_SETTING, "").strip()
    try:
        return max(0, int(raw)) if raw else EXPORT_DELAY_MS
    except ValueError:
        return EXPORT_DELAY_MS


def switched_off(environ: Mapping[str, str]) -> bool:
    """Whether `FUNCSCOPE_ENABLED` switches funcscope off (a bad value does not: it gives the default, on)."""
    return environ.get(ENV_PREFIX + "ENABLED", "").strip().lower() in _FALSE


def worker_exports_telemetry(environ: Mapping[str, str] | None = None) -> bool:
    """The worker's own OpenTelemetry mode (`PYTHON_ENABLE_OPENTELEMETRY`): the worker tells the host that it
    exports its telemetry itself, and the host then drops the logs the worker relays."""
    env = os.environ if environ is None else environ
    return env.get("PYTHON_ENABLE_OPENTELEMETRY", "").strip().lower() in _TRUE


def otlp_signal_configured(signal: str, environ: Mapping[str, str] | None = None) -> bool:
    """An OTLP endpoint is set for `signal` ("traces", "metrics", "logs"): its own or the shared one."""
    env = os.environ if environ is None else environ
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"))


def otlp_protocol(signal: str, environ: Mapping[str, str] | None = None) -> str:
    """The OTLP protocol for `signal`: `OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`,
    else "http/protobuf". The exporters read every other OTLP setting themselves; the protocol decides which
    exporter to build, so it is read here. A value Python's exporters do not offer gives one warning."""
    env = os.environ if environ is None else environ
    for name in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        raw = env.get(name, "").strip().lower()
        if raw:
            if raw in OTLP_PROTOCOLS:
                return raw
            report_once(
                ("setting", name),
                f"{name}={raw!r} is not one of {', '.join(OTLP_PROTOCOLS)} (the protocols of the "
                "Python OTLP exporters); using http/protobuf.",
            )
            return "http/protobuf"
    return "http/protobuf"


@dataclass(frozen=True)
class FunctionOptions:
    """Per-function options (`FunctionScope(__file__, ...)` in v1 apps, the `funcscope.function` decorator in v2).

    - `sample_ratio`: overrides the process-wide ratio for this function's root traces.
    - `attributes`: extra span attributes for every invocation of this function.
    - `tracing`: False turns the invocation span off for this function (metrics and correlation stay).
    - `middleware`: middlewares run for this function only, after the process-wide ones.
    """

    sample_ratio: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    tracing: bool = True
    middleware: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.sample_ratio is not None:
            object.__setattr__(self, "sample_ratio", _check_ratio("sample_ratio", self.sample_ratio))
        if not isinstance(self.attributes, Mapping) or not all(isinstance(k, str) for k in self.attributes):
            raise TypeError(f"attributes must be a mapping of str to attribute values, got {self.attributes!r}")
        object.__setattr__(self, "attributes", dict(self.attributes))
        if not isinstance(self.tracing, bool):
            raise TypeError(f"tracing must be True or False, got {self.tracing!r}")
        object.__setattr__(self, "middleware", _check_middleware("middleware", self.middleware))


DEFAULT_FUNCTION_OPTIONS = FunctionOptions()
