"""Redaction of what others record through funcscope's providers: the URLs of the spans the HTTP client (and
server framework) instrumentations make, and the log records funcscope exports.

- `RedactingSpanProcessor` rewrites a span's URL attributes (`URL_ATTRIBUTES`) when the span starts: the contrib
  instrumentations give the URL as the span's start attributes, and a started span is the last the SDK lets a
  processor change (at `on_end` it is read-only). On the providers funcscope sets up it sees every span; on a
  provider it reuses, only the spans of the instrumentations of the `instrument` setting (by their scope).
- `RedactingLogRecordProcessor` rewrites a log record's body and attributes (the message, `exception.message`,
  `exception.stacktrace`, fields given in `extra`) when it is emitted; it goes before the exporters' batch
  processors, which hold the record it changed. The app's other logging handlers get the `logging.LogRecord`,
  which is not touched.

Both use `funcscope.shared.redaction`'s one list, and return at once when there is nothing to redact.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Container
from typing import Any

from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.trace import Span, SpanProcessor

from ..shared.redaction import URL_ATTRIBUTES, redact_attribute, redact_text

__all__ = ["RedactingLogRecordProcessor", "RedactingSpanProcessor", "redact_spans_of"]


class RedactingSpanProcessor(SpanProcessor):
    """Redacts the URL attributes of each span it is given at start. `scopes`, when given, returns the
    instrumentation scope names whose spans to redact (read per span: the set grows as libraries are imported)."""

    def __init__(self, scopes: Callable[[], Container[str]] | None = None) -> None:
        self._scopes = scopes

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        """Receives each span just started, on the thread that started it, still writable."""
        attributes = span.attributes
        if not attributes:
            return
        if self._scopes is not None:
            scope = span.instrumentation_scope
            if scope is None or scope.name not in self._scopes():
                return
        for key in attributes:  # (cheaper than looking each URL attribute up: most are missing)
            if key in URL_ATTRIBUTES:
                value = attributes[key]
                redacted = redact_attribute(key, value)
                if redacted != value:
                    span.set_attribute(key, redacted)  # type: ignore[arg-type]  # a str, as given


_redacted_providers: weakref.WeakSet[Any] = weakref.WeakSet()


def redact_spans_of(tracer_provider: Any, scopes: Callable[[], Container[str]]) -> None:
    """Have a provider funcscope reuses redact the spans of the scopes `scopes` names, once per provider; a
    provider that takes no span processor (not the SDK's) is left as it is."""
    add = getattr(tracer_provider, "add_span_processor", None)
    if add is None:
        return
    try:
        if tracer_provider in _redacted_providers:
            return
        _redacted_providers.add(tracer_provider)
    except TypeError:  # not weakly referable: add it, at most once per call of configure()
        pass
    add(RedactingSpanProcessor(scopes))


class RedactingLogRecordProcessor(LogRecordProcessor):
    """Redacts each log record's body and attributes as it is emitted, for the processors after it."""

    def on_emit(self, log_record: Any) -> None:
        """Receives each record emitted (a `ReadWriteLogRecord`: its `log_record` is writable), before the
        processors added after this one."""
        _redact_record(log_record.log_record)

    def emit(self, log_data: Any) -> None:
        """The same, for SDKs before `on_emit` (they hand a `LogData` with the same `log_record`)."""
        _redact_record(log_data.log_record)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _redact_record(record: Any) -> None:
    body = record.body
    if isinstance(body, str):
        redacted = redact_text(body)
        if redacted != body:
            record.body = redacted
    attributes = record.attributes
    if not attributes:
        return
    changed = {}
    for key, value in attributes.items():
        redacted_value = redact_attribute(key, value)
        if redacted_value != value:
            changed[key] = redacted_value
    for key, value in changed.items():
        attributes[key] = value
