"""The configurations funcscope is measured in, and how each is put in place in (and taken out of) a process.

Every OpenTelemetry configuration emits through the same providers: a tracer provider whose spans go through a
`BatchSpanProcessor` to an exporter that drops them, and a meter provider with an in-memory reader that is never
read. So the numbers are what the instrumentation costs in the invocation, not what an exporter costs elsewhere.
The OpenCensus extension gets an exporter that drops spans too. Nothing leaves the process.

A configuration that needs a worker extension registers it only while it is installed: `install()` snapshots
`azure.functions.ExtensionMeta` and `remove()` restores it and forgets the extension's module (so importing it
again registers it again), undoes funcscope's process-wide patches, and restores the environment.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "APP_CONFIGS",
    "CONFIGS",
    "OVERHEAD_CONFIGS",
    "THROUGHPUT_CONFIGS",
    "BenchConfig",
    "Installed",
    "NoopSpanExporter",
    "body_span",
    "calibrate_cpu_loops",
    "config",
    "configure_app",
    "cpu_work",
    "install",
    "providers",
    "user_span",
]

ENABLE_EXTENSIONS = "PYTHON_ENABLE_WORKER_EXTENSIONS"


@dataclass(frozen=True)
class BenchConfig:
    """One way of running a function app, as the benchmarks compare them.

    `funcscope`: `Settings` options for funcscope's app-level extension (None: funcscope not registered).
    `opencensus`: register `OpenCensusExtension` (and the function body opens one span through it).
    `body`: what the function does around its work: "plain", "manual" (one OpenTelemetry span with the host
    parent), "manual-equivalent" (by hand, what funcscope records through the SDK per invocation: the span with
    the same attributes and the duration histogram) or "opencensus" (one span on the extension's tracer).
    `builtin`: the worker's own OpenTelemetry behaviour around the function: extract the host's context, attach
    it, detach it after.
    `sampled`: the host's `traceparent` sampled flag.
    `hooks`: the worker runs extension hooks (`PYTHON_ENABLE_WORKER_EXTENSIONS=1`).
    """

    name: str
    description: str
    funcscope: dict[str, Any] | None = None
    opencensus: bool = False
    body: str = "plain"
    builtin: bool = False
    sampled: bool = True
    hooks: bool = True


_FULL = {"tracing": True, "metrics": True, "propagation": True, "log_enrichment": True}
_TRACING = {"tracing": True, "metrics": False, "propagation": False, "log_enrichment": False}

CONFIGS: dict[str, BenchConfig] = {
    c.name: c
    for c in (
        BenchConfig("none", "no extension, extension hooks off: the function alone", hooks=False),
        BenchConfig("app", "extension hooks on, only the extensions the app registers itself"),
        BenchConfig("bare", "no extension: the worker's hook dispatch with nothing registered"),
        BenchConfig(
            "builtin", "the worker's built-in OpenTelemetry: extract the host context, attach, detach", builtin=True
        ),
        BenchConfig(
            "manual", "one start_as_current_span per invocation with the host parent (hand-written)", body="manual"
        ),
        BenchConfig(
            "manual-equivalent",
            "by hand, funcscope's span (same attributes) and duration histogram",
            body="manual-equivalent",
        ),
        BenchConfig("funcscope-full", "funcscope, all middlewares", funcscope=_FULL),
        BenchConfig("funcscope-tracing", "funcscope, tracing only", funcscope=_TRACING),
        BenchConfig(
            "funcscope-sampled-out",
            "funcscope, all middlewares, host traceparent not sampled",
            funcscope=_FULL,
            sampled=False,
        ),
        BenchConfig(
            "opencensus", "opencensus-extension-azure-functions with one user span", opencensus=True, body="opencensus"
        ),
        BenchConfig(
            "funcscope-opencensus",
            "funcscope's OpenCensus drop-in (all middlewares) with one user span",
            funcscope={**_FULL, "opencensus": True},
            body="opencensus",
        ),
    )
}

OVERHEAD_CONFIGS = (
    "bare",
    "builtin",
    "manual",
    "manual-equivalent",
    "funcscope-full",
    "funcscope-tracing",
    "funcscope-sampled-out",
    "opencensus",
    "funcscope-opencensus",
)
THROUGHPUT_CONFIGS = ("none", "funcscope-full", "funcscope-tracing", "opencensus")
#: What the `funcscope_worker` pytest fixture can run a user's app in.
APP_CONFIGS = ("none", "app", "funcscope-full", "funcscope-tracing", "opencensus")


def config(name: str) -> BenchConfig:
    """The configuration called `name`; a clear error for an unknown one."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown configuration {name!r}; known: {', '.join(CONFIGS)}") from None


# -- the shared providers ---------------------------------------------------------------------------------------


def _noop_span_exporter_class() -> type:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class _NoopSpanExporter(SpanExporter):
        """Accepts every batch and drops it."""

        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    return _NoopSpanExporter


def NoopSpanExporter() -> Any:  # noqa: N802 - a factory that reads like the class it returns
    """A `SpanExporter` that drops every span (built lazily: this module is imported without the SDK too)."""
    return _noop_span_exporter_class()()


@dataclass
class _Providers:
    tracer_provider: Any
    meter_provider: Any
    tracer: Any
    metric_reader: Any  # an in-memory reader; the benchmarks never read it (tests may)


_providers: _Providers | None = None
_providers_lock = threading.Lock()


def providers() -> _Providers:
    """This process's benchmark providers (not installed globally), created once."""
    global _providers
    with _providers_lock:
        if _providers is None:
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import InMemoryMetricReader
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            tracer_provider = TracerProvider(shutdown_on_exit=False)
            tracer_provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))
            reader = InMemoryMetricReader()
            meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
            _providers = _Providers(
                tracer_provider, meter_provider, tracer_provider.get_tracer("funcscope.bench"), reader
            )
        return _providers


# -- what function bodies do --------------------------------------------------------------------------------------


def user_span(context: Any) -> contextlib.AbstractContextManager[Any]:
    """The OpenCensus extension's tracer span a function opens itself; a no-op when the extension gave none."""
    tracer = getattr(context, "tracer", None)
    if tracer is None:
        return contextlib.nullcontext()
    return tracer.span(name=context.function_name)  # type: ignore[no-any-return]


def body_span(cfg: BenchConfig) -> Callable[[Any], contextlib.AbstractContextManager[Any]]:
    """What a function body of configuration `cfg` opens around its work, given the invocation's context: one span
    on the OpenCensus extension's tracer ("opencensus"), one OpenTelemetry span with the host parent ("manual"),
    the host context extracted and attached for the body ("builtin", as a user writes it with the plain API), or
    nothing."""
    if cfg.body == "opencensus":
        return user_span
    if cfg.body == "manual" or cfg.builtin:
        from opentelemetry import context as otel_context
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        propagator = TraceContextTextMapPropagator()
        tracer = providers().tracer

        def host_parent(context: Any) -> Any:
            tc = context.trace_context
            return propagator.extract({"traceparent": tc.trace_parent, "tracestate": tc.trace_state})

        if cfg.body == "manual":

            def manual(context: Any) -> contextlib.AbstractContextManager[Any]:
                return tracer.start_as_current_span(  # type: ignore[no-any-return]
                    context.function_name, context=host_parent(context), kind=SpanKind.INTERNAL
                )

            return manual

        @contextlib.contextmanager
        def attached(context: Any) -> Any:
            token = otel_context.attach(host_parent(context))
            try:
                yield None
            finally:
                otel_context.detach(token)

        return attached
    return lambda context: contextlib.nullcontext()


# -- installing a configuration -----------------------------------------------------------------------------------


def _noop_opencensus_exporter() -> Any:
    from opencensus.trace.base_exporter import Exporter

    class _NoopOpenCensusExporter(Exporter):  # type: ignore[misc]  # opencensus ships no types
        """Accepts every span and drops it."""

        def emit(self, span_datas: Any) -> None:
            return None

        def export(self, span_datas: Any) -> None:
            return None

    return _NoopOpenCensusExporter()


@dataclass
class Installed:
    """A configuration put in place in this process; `remove()` takes it out again (idempotent)."""

    config: BenchConfig
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def remove(self) -> None:
        while self._undo:
            self._undo.pop()()

    def __enter__(self) -> Installed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _set_env(installed: Installed, key: str, value: str) -> None:
    old = os.environ.get(key)
    os.environ[key] = value

    def undo() -> None:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old

    installed._undo.append(undo)


def _registry_scope(installed: Installed) -> None:
    # The emulator's own isolation: at removal the registry is restored and the modules of extensions registered
    # meanwhile are forgotten, so the next import registers them again.
    from ..emulator.isolation import ExtensionRegistrySnapshot

    installed._undo.append(ExtensionRegistrySnapshot().restore)


def _install_funcscope_off(installed: Installed) -> None:
    # With hooks off funcscope would still wrap the functions of an app that configures it: "none" is the function
    # alone, so funcscope is disabled while it is installed.
    from ..shared.settings import Settings

    _replace_runner_until_removal(installed, Settings(enabled=False, propagation=False, log_enrichment=False))


def _replace_runner_until_removal(installed: Installed, settings: Any) -> None:
    from ..emulator.extension_manager import ExtensionManager
    from ..instrumentation import classic_worker
    from ..runtime.runner import replace_runner

    was_patched = classic_worker.is_instrumented(ExtensionManager)
    restore_runner = replace_runner(settings)

    def undo() -> None:
        if not was_patched:
            classic_worker.uninstrument(ExtensionManager)
        restore_runner()

    installed._undo.append(undo)


def _install_funcscope(installed: Installed, options: dict[str, Any]) -> None:
    from ..shared.settings import Settings

    shared = providers()
    _replace_runner_until_removal(
        installed,
        Settings(
            exporter="none", tracer_provider=shared.tracer_provider, meter_provider=shared.meter_provider, **options
        ),
    )
    _import_registering("funcscope.extensions.app_level.funcscope_extension", "FuncScopeExtension")
    from ..extensions.app_level.funcscope_extension import FuncScopeExtension

    FuncScopeExtension.configure()  # builds the pipeline now rather than at the first invocation


def _import_registering(module_name: str, extension: str) -> None:
    """Import the module that defines `extension` so that it is registered: a module imported earlier whose
    registration was undone since (a Worker or a removal restored the registry) is imported afresh."""
    import importlib
    import sys

    from azure.functions import ExtensionMeta

    from ..emulator.isolation import _drop_module

    if module_name in sys.modules and extension not in ExtensionMeta.get_registered_extensions_json():
        _drop_module(module_name)
    importlib.import_module(module_name)


def _install_opencensus() -> None:
    _import_registering("opencensus.extension.azure.functions", "OpenCensusExtension")
    from opencensus.extension.azure.functions import OpenCensusExtension

    # configure() can only build an AzureExporter, which would send spans to Azure; this one drops them.
    OpenCensusExtension._exporter = _noop_opencensus_exporter()


def install(name: str | BenchConfig) -> Installed:
    """Put configuration `name` in place in this process: extension hooks on (or off), its extension (if any)
    registered and configured with the benchmark providers. Undo with `remove()` (or use it as a context manager)."""
    cfg = name if isinstance(name, BenchConfig) else config(name)
    installed = Installed(cfg)
    try:
        _set_env(installed, ENABLE_EXTENSIONS, "1" if cfg.hooks else "0")
        _registry_scope(installed)
        if cfg.funcscope is not None:
            _install_funcscope(installed, cfg.funcscope)
        elif not cfg.hooks:
            _install_funcscope_off(installed)
        if cfg.opencensus:
            _install_opencensus()
    except BaseException:
        installed.remove()
        raise
    return installed


# -- inside the benchmark function app -------------------------------------------------------------------------------

CONFIG_SETTING = "FUNCSCOPE_BENCH_CONFIG"
CPU_LOOPS_SETTING = "FUNCSCOPE_BENCH_CPU_LOOPS"


def configure_app(name: str | None = None) -> BenchConfig:
    """What a function app does to run in configuration `name` (default: the `FUNCSCOPE_BENCH_CONFIG` setting),
    through the public APIs, as a user's app would. Called by the benchmark app as it is imported, in every worker
    process; the emulator's Worker forgets the registration again when it closes."""
    cfg = config(name or os.environ.get(CONFIG_SETTING) or "none")
    if cfg.funcscope is not None:
        import funcscope

        shared = providers()
        funcscope.configure(
            exporter="none",
            tracer_provider=shared.tracer_provider,
            meter_provider=shared.meter_provider,
            **cfg.funcscope,
        )
    if cfg.opencensus:
        from opencensus.extension.azure.functions import OpenCensusExtension

        OpenCensusExtension._exporter = _noop_opencensus_exporter()
    return cfg


def cpu_work(loops: int) -> int:
    """Pure-Python CPU work, holding the GIL as application code does; `loops` from `calibrate_cpu_loops`."""
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


def calibrate_cpu_loops(seconds: float = 0.001, rounds: int = 7) -> int:
    """How many `cpu_work` loops take `seconds` on this machine (median of a few measurements)."""
    from statistics import median
    from time import perf_counter

    probe = 20000
    cpu_work(probe)
    timings = []
    for _ in range(rounds):
        started = perf_counter()
        cpu_work(probe)
        timings.append(perf_counter() - started)
    return max(1, round(probe * seconds / median(timings)))
