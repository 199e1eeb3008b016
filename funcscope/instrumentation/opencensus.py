"""OpenCensus's integrations, served by funcscope where it traces the same thing through OpenTelemetry.

`config_integration.trace_integrations(['requests'])` - what apps written for the OpenCensus extension call - would
wrap `requests` with OpenCensus's own integration, next to the OpenTelemetry instrumentation funcscope already
applies: every call would be traced twice and send two `traceparent`s. `instrument()` wraps `trace_integrations`
(with `wrapt`, reversibly) so that a name funcscope covers switches on funcscope's side instead - the library is
added to the `instrument` setting (each call then is one CLIENT span under the current span, the OpenCensus span
that is open around it included), `threading` is funcscope's propagation - and OpenCensus's module for it is
neither imported nor needed. Other names go to OpenCensus's integration as before; their spans are made on the
invocation's `context.tracer`, and so are OpenTelemetry spans too.

An integration of OpenCensus's switched on before `funcscope.opencensus` was imported is found by
`integrated_by_opencensus()`: the extension warns about it once.
"""

from __future__ import annotations

import threading
from typing import Any

import wrapt

__all__ = ["SERVED", "instrument", "integrated_by_opencensus", "is_instrumented", "uninstrument"]

_FUNCTION = "trace_integrations"
#: OpenCensus integration name -> what serves it in funcscope: an `instrument` name, or a setting turned on
SERVED: dict[str, tuple[str, str]] = {
    "requests": ("instrument", "requests"),
    "httpx": ("instrument", "httpx"),
    "postgresql": ("instrument", "psycopg2"),
    "threading": ("propagation", ""),
}
# The bits OpenCensus's integrations record in opencensus.trace.integrations when they wrap a library.
_OPENCENSUS_BITS = {"requests": "REQUESTS", "httpx": "HTTPX", "postgresql": "POSTGRESQL"}

_lock = threading.Lock()
_wrapper: Any = None


def _trace_integrations(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    integrations = args[0] if args else kwargs.get("integrations", ())
    tracer = args[1] if len(args) > 1 else kwargs.get("tracer")
    names = list(integrations)
    served = [name for name in names if name in SERVED]
    rest = [name for name in names if name not in SERVED]
    integrated = list(wrapped(rest, tracer=tracer)) if rest else []
    if served:
        _serve(served)
    return [name for name in names if name in served or name in integrated]


def _serve(names: list[str]) -> None:
    from ..runtime.runner import get_runner

    runner = get_runner()
    settings = runner.settings
    libraries = tuple(SERVED[n][1] for n in names if SERVED[n][0] == "instrument")
    options: dict[str, Any] = {}
    missing = tuple(library for library in libraries if library not in settings.instrument)
    if missing:
        options["instrument"] = (*settings.instrument, *missing)
    if "threading" in names and not settings.propagation:
        options["propagation"] = True
    if options:
        runner.update(**options)


def instrument() -> None:
    """Route `config_integration.trace_integrations` through funcscope; idempotent."""
    global _wrapper
    with _lock:
        if _wrapper is not None:
            return
        from opencensus.trace import config_integration

        wrapt.wrap_function_wrapper(config_integration, _FUNCTION, _trace_integrations)
        _wrapper = getattr(config_integration, _FUNCTION)


def uninstrument() -> None:
    """Restore OpenCensus's own `trace_integrations`."""
    global _wrapper
    with _lock:
        if _wrapper is None:
            return
        from opencensus.trace import config_integration

        if getattr(config_integration, _FUNCTION) is _wrapper:
            setattr(config_integration, _FUNCTION, _wrapper.__wrapped__)
        _wrapper = None


def is_instrumented() -> bool:
    return _wrapper is not None


def integrated_by_opencensus() -> list[str]:
    """The names funcscope serves that OpenCensus's own integration has wrapped already in this process."""
    from opencensus.trace import integrations

    mask = integrations.get_integrations()
    return [name for name, bit in _OPENCENSUS_BITS.items() if mask & getattr(integrations._Integrations, bit)]
