"""Log enrichment: every log record made while an invocation is current carries that invocation's fields.

`install_log_enrichment()` wraps the log record factory (`logging.setLogRecordFactory`), chaining to the one
in place. A record created while an invocation is current — on its own thread or task, or on a thread it
started (see `propagation`) — gets `invocation_id`, `function_name`, `trace_id` and `span_id` (lowercase hex
of the current OpenTelemetry span, "" when there is none), `retry_count`, `retry_max_count` and
`retry_is_final`. Formatters can use them
(`%(invocation_id)s`) and OpenTelemetry's `LoggingHandler` exports them as attributes. Records made outside
an invocation are left exactly as they are.

A formatter that is also used outside invocations needs defaults for these fields::

    logging.Formatter("%(levelname)s [%(invocation_id)s] %(message)s", defaults=LOG_FIELD_DEFAULTS)
    InvocationFormatter("%(levelname)s [%(invocation_id)s] %(message)s")  # the same
"""

from __future__ import annotations

import logging
import threading
from asyncio import _get_running_loop
from asyncio import current_task as _current_task
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal

from opentelemetry import trace

from ..shared.current import current_invocation, in_started_thread
from ..shared.diagnostics import report_once
from ..shared.invocation import Invocation
from .threads import runtime_invocation_vars

__all__ = [
    "LOG_FIELDS",
    "LOG_FIELD_DEFAULTS",
    "InvocationFormatter",
    "install_log_enrichment",
    "uninstall_log_enrichment",
    "is_log_enrichment_installed",
]

LOG_FIELDS = (
    "invocation_id",
    "function_name",
    "trace_id",
    "span_id",
    "retry_count",
    "retry_max_count",
    "retry_is_final",
)
_FIELD_SET = frozenset(LOG_FIELDS)

LOG_FIELD_DEFAULTS: Mapping[str, object] = MappingProxyType(
    {
        "invocation_id": "",
        "function_name": "",
        "trace_id": "",
        "span_id": "",
        "retry_count": 0,
        "retry_max_count": 0,
        "retry_is_final": False,
    }
)


class _RecordDict(dict):  # type: ignore[type-arg]
    """An enriched record's `__dict__`. It does not report the enrichment fields as present to `in`, because
    `Logger.makeRecord` raises KeyError for an `extra` key already in the record, and
    `extra={"invocation_id": ...}` is common in function code: the caller's value replaces ours instead.
    Attribute access, formatting and iteration see the fields as usual."""

    __slots__ = ()

    def __contains__(self, key: object) -> bool:
        return key not in _FIELD_SET and dict.__contains__(self, key)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))  # a pickled record needs no funcscope to be read


_IDS = object()  # key in Invocation.state: (span context, trace id hex, span id hex) last formatted


def _enrich(record: logging.LogRecord, invocation: Invocation) -> None:
    span_context = trace.get_current_span().get_span_context()
    ids = invocation.state.get(_IDS)
    if ids is None or ids[0] is not span_context:  # most records are made under the invocation's own span
        if span_context.is_valid:
            ids = (
                span_context,
                trace.format_trace_id(span_context.trace_id),
                trace.format_span_id(span_context.span_id),
            )
        else:
            ids = (span_context, "", "")
        invocation.state[_IDS] = ids
    fields = _RecordDict(record.__dict__)
    fields["invocation_id"] = invocation.invocation_id
    fields["function_name"] = invocation.function_name
    fields["trace_id"] = ids[1]
    fields["span_id"] = ids[2]
    retry = invocation.retry
    fields["retry_count"] = retry.count
    fields["retry_max_count"] = retry.max_count
    fields["retry_is_final"] = retry.is_final
    record.__dict__ = fields


def _claim_loop_thread(invocation: Invocation) -> None:
    # A plain loop callback of an async invocation (call_soon, call_later, a future's done callback) runs in no
    # task, so the worker names the record's invocation by the loop thread's thread-local, which names whichever
    # invocation started last. The worker never clears that value on the loop thread; pointing it at this
    # record's invocation makes the host file the record where it belongs.
    storage = getattr(invocation.context, "thread_local_storage", None)
    if storage is not None:
        storage.invocation_id = invocation.invocation_id


def _release_started_thread(invocation: Invocation) -> None:
    # A thread the invocation started, logging after the invocation ended: the worker would still file the
    # record under it by the thread-local id (and the 3.13+ proxy by the runtime's context variable) propagation
    # set when the thread started. Clear them, on this thread and in its own context.
    try:
        storage = getattr(invocation.context, "thread_local_storage", None)
        if storage is not None and getattr(storage, "invocation_id", None) == invocation.invocation_id:
            storage.invocation_id = None
        for var in runtime_invocation_vars():
            if var.get(None) == invocation.invocation_id:
                var.set(None)
    except Exception as exc:
        _report(exc)


def _report(exc: Exception) -> None:
    # Never into logging. The report's own record comes through the factory again; report_once is then silent.
    report_once(
        ("logs", "enrich", type(exc).__name__),
        f"could not add invocation fields to a log record ({exc!r}); such records are logged without "
        "them. Further failures of this kind are not logged.",
        exc=exc,
    )


class _Layer:
    """One installed layer of the record factory chain. `enabled` is False once uninstalled: a layer another
    factory still chains to then passes records straight through."""

    __slots__ = ("previous", "enabled", "fields", "factory")

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous
        self.enabled = True
        self.fields = True  # False: only release the threads whose invocation ended (propagation without fields)
        self.factory = _make_factory(self)


def _make_factory(layer: _Layer) -> Callable[..., logging.LogRecord]:
    # A closure rather than a class with __call__: it runs for every record in the process, and is cheaper.
    previous = layer.previous
    get_invocation = current_invocation.get

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        invocation = get_invocation()
        if invocation is None or not layer.enabled:
            return record
        if invocation.ended and in_started_thread.get():
            _release_started_thread(invocation)
            return record
        if not layer.fields:
            return record
        try:
            _enrich(record, invocation)
            if _get_running_loop() is not None and _current_task() is None:
                _claim_loop_thread(invocation)
        except Exception as exc:
            _report(exc)
        return record

    factory._funcscope_layer = layer  # type: ignore[attr-defined]
    return factory


def _layer_of(factory: object) -> _Layer | None:
    layer = getattr(factory, "_funcscope_layer", None)
    return layer if isinstance(layer, _Layer) else None


_lock = threading.Lock()
_layer: _Layer | None = None


def install_log_enrichment(*, fields: bool = True) -> None:
    """Wrap the current log record factory; idempotent (installing again while ours is the factory adds nothing).

    `fields=False` adds no fields to records; the factory then only clears the worker's thread-local id in a
    thread an invocation started once that invocation ended (propagation set it when the thread started, and the
    worker reads it for every record the thread logs)."""
    global _layer
    with _lock:
        current = logging.getLogRecordFactory()
        layer = _layer_of(current)
        if _layer is not None and _layer is not layer:
            # Someone set a factory over ours; whether it still chains to ours cannot be told. Retire ours (it
            # passes records through) and put a fresh layer on top, so exactly one layer enriches.
            _layer.enabled = False
        if layer is None:
            layer = _Layer(current)
            logging.setLogRecordFactory(layer.factory)
        layer.enabled = True
        layer.fields = fields
        _layer = layer


def uninstall_log_enrichment() -> None:
    """Restore the previous factory if ours is still the installed one; otherwise leave the chain alone (another
    factory wraps ours) and make ours pass records straight through."""
    global _layer
    with _lock:
        layer, _layer = _layer, None
        if layer is None:
            return
        layer.enabled = False
        if logging.getLogRecordFactory() is layer.factory:
            logging.setLogRecordFactory(layer.previous)


def is_log_enrichment_installed() -> bool:
    return _layer is not None


class InvocationFormatter(logging.Formatter):
    """A `logging.Formatter` whose format may name the invocation fields also for records made outside an
    invocation: there they default to "" (`retry_count` to 0). Explicit `defaults` take precedence."""

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Literal["%", "{", "$"] = "%",
        validate: bool = True,
        *,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(fmt, datefmt, style, validate, defaults={**LOG_FIELD_DEFAULTS, **(defaults or {})})
