"""Outgoing calls as dependency spans: the OpenTelemetry contrib instrumentations, and azure-core's OpenTelemetry
tracing for the Azure SDK, switched on for the libraries of the `instrument` setting.

Each library is instrumented when the app first imports it (a `wrapt` post-import hook; at once if it is imported
already), so a library the app never imports is never imported by funcscope, however many are installed. A call
made by the function - on its own thread or task, or on a thread or task it started, which carry the invocation's
context - is a CLIENT span under the invocation span and sends `traceparent` on. A library someone else
instrumented already (the app, the Azure Monitor distro) is left to them.

The URLs these spans record are redacted with funcscope's list (`funcscope.shared.redaction`): the contrib
instrumentations' by `telemetry.redacting.RedactingSpanProcessor` as each span starts (on a provider funcscope
reuses, for the libraries of the `instrument` setting, whoever instrumented them: `instrumented_scopes()`);
azure-core's by the span class funcscope gives it, since azure-core sets the URL just before it ends the span.

`instrument()` is called once per configuration, with the providers funcscope emits to; `uninstrument()` undoes
what funcscope instrumented. Neither runs per invocation.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

import wrapt

from ..shared.diagnostics import report_once
from ..shared.redaction import URL_ATTRIBUTES, redact_attribute

__all__ = ["CONTRIB_INSTRUMENTORS", "instrument", "instrumented", "instrumented_scopes", "uninstrument"]

AZURE_SDK = "azure_sdk"
#: name -> (the module the app imports, the instrumentor's module, its class, its distribution)
CONTRIB_INSTRUMENTORS: dict[str, tuple[str, str, str, str]] = {
    "requests": ("requests", "opentelemetry.instrumentation.requests", "RequestsInstrumentor", "requests"),
    "urllib": ("urllib.request", "opentelemetry.instrumentation.urllib", "URLLibInstrumentor", "urllib"),
    "urllib3": ("urllib3", "opentelemetry.instrumentation.urllib3", "URLLib3Instrumentor", "urllib3"),
    "httpx": ("httpx", "opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor", "httpx"),
    "aiohttp": (
        "aiohttp",
        "opentelemetry.instrumentation.aiohttp_client",
        "AioHttpClientInstrumentor",
        "aiohttp-client",
    ),
    "psycopg2": ("psycopg2", "opentelemetry.instrumentation.psycopg2", "Psycopg2Instrumentor", "psycopg2"),
    "django": ("django", "opentelemetry.instrumentation.django", "DjangoInstrumentor", "django"),
    "fastapi": ("fastapi", "opentelemetry.instrumentation.fastapi", "FastAPIInstrumentor", "fastapi"),
    "flask": ("flask", "opentelemetry.instrumentation.flask", "FlaskInstrumentor", "flask"),
}
_AZURE_CORE = "azure.core"

_lock = threading.RLock()
_providers: dict[str, tuple[Any, Any]] = {}  # wanted library -> (tracer provider, meter provider)
_hooked: set[str] = set()  # libraries with a post-import hook registered (hooks cannot be unregistered)
_undo: dict[str, Any] = {}  # library funcscope instrumented -> how to undo it
_scopes: frozenset[str] = frozenset()  # the instrumentation scopes of the contrib libraries wanted


def instrument(names: tuple[str, ...], tracer_provider: Any, meter_provider: Any) -> None:
    """Instrument exactly the libraries `names` (each now if imported, else when it is), emitting to the given
    providers; libraries instrumented before and no longer named are uninstrumented."""
    with _lock:
        for name in [n for n in _undo if n not in names]:
            _uninstrument_one(name)
        _providers.clear()
        for name in names:
            _providers[name] = (tracer_provider, meter_provider)
        _update_scopes()
        for name in names:
            if name not in _hooked:
                _hooked.add(name)
                module = _AZURE_CORE if name == AZURE_SDK else CONTRIB_INSTRUMENTORS[name][0]
                wrapt.register_post_import_hook(_hook(name), module)
            elif name not in _undo and _module_imported(name):
                _imported(name)


def uninstrument() -> None:
    """Undo every instrumentation funcscope switched on; later imports instrument nothing."""
    with _lock:
        _providers.clear()
        _update_scopes()
        for name in list(_undo):
            _uninstrument_one(name)


def instrumented() -> tuple[str, ...]:
    """The libraries funcscope has instrumented (imported and wanted)."""
    return tuple(_undo)


def instrumented_scopes() -> frozenset[str]:
    """The instrumentation scope names of the spans of the libraries of the `instrument` setting, instrumented by
    funcscope or before it (read per span)."""
    return _scopes


def _hook(name: str) -> Callable[[Any], None]:
    def imported(_module: Any) -> None:
        _imported(name)

    return imported


def _module_imported(name: str) -> bool:
    import sys

    return (_AZURE_CORE if name == AZURE_SDK else CONTRIB_INSTRUMENTORS[name][0]) in sys.modules


def _imported(name: str) -> None:
    # Runs inside the app's import of the library: never raises.
    with _lock:
        providers = _providers.get(name)
        if providers is None or name in _undo:
            return
        try:
            undo = _instrument_azure_sdk() if name == AZURE_SDK else _instrument_contrib(name, *providers)
        except Exception as exc:
            report_once(
                ("outgoing", name, type(exc).__name__),
                f"could not instrument {name} ({exc!r}); its calls are not traced.",
            )
            return
        if undo is not None:
            _undo[name] = undo


def _update_scopes() -> None:
    global _scopes
    _scopes = frozenset(CONTRIB_INSTRUMENTORS[n][1] for n in _providers if n in CONTRIB_INSTRUMENTORS)


def _instrument_contrib(name: str, tracer_provider: Any, meter_provider: Any) -> Any:
    _, module_name, class_name, distribution = CONTRIB_INSTRUMENTORS[name]
    try:
        instrumentor = getattr(importlib.import_module(module_name), class_name)()
    except ImportError:
        report_once(
            ("outgoing", name, "missing"),
            f"the app uses {name} but opentelemetry-instrumentation-{distribution} is not installed, so "
            f"its calls are not traced; add 'funcscope[otlp]' or 'funcscope[azure-monitor]' to requirements.txt.",
        )
        return None
    if instrumentor.is_instrumented_by_opentelemetry:
        return None  # someone else's: theirs to undo
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    return instrumentor.uninstrument if instrumentor.is_instrumented_by_opentelemetry else None


def _instrument_azure_sdk() -> Any:
    from azure.core.settings import settings

    if settings.tracing_implementation() is not None:
        return None  # already traced (the app, the distro)
    try:
        from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan
    except ImportError:  # azure-core's own OpenTelemetry tracing (azure-core 1.38+) needs no plugin
        if settings.tracing_enabled():
            return None
        settings.tracing_enabled = True
        return settings.tracing_enabled.unset_value
    settings.tracing_implementation = _redacting_span_class(OpenTelemetrySpan)
    return settings.tracing_implementation.unset_value


def _redacting_span_class(base: Any) -> Any:
    class RedactingOpenTelemetrySpan(base):  # type: ignore[misc]
        """azure-core's OpenTelemetry span, with funcscope's redaction of the URL it records (`http.url`, set as
        the call ends, after azure-core's own redaction of the query's values but those of an allow-list)."""

        def add_attribute(self, key: str, value: Any) -> None:
            super().add_attribute(key, redact_attribute(key, value) if key in URL_ATTRIBUTES else value)

    return RedactingOpenTelemetrySpan


def _uninstrument_one(name: str) -> None:
    undo = _undo.pop(name, None)
    if undo is None:
        return
    try:
        undo()
    except Exception as exc:
        report_once(("outgoing", name, "uninstrument"), f"could not uninstrument {name} ({exc!r}).")
