"""The span a thread started inside an invocation sees as current: the invocation's, until the invocation ends.

A thread carries the context it was started in for its whole life; a thread started lazily from inside an
invocation (a poller, a queue consumer) would make every span it ever starts a child of that invocation's span.
`UntilEnded` stands for the span that was current when the thread started: the same span while the invocation is
in flight, and no span (an invalid span context, so new spans begin their own trace) once it has ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext, Status, StatusCode
from opentelemetry.util import types

from .invocation import Invocation

__all__ = ["UntilEnded"]


class UntilEnded(trace.Span):
    """`span` while `invocation` is in flight; after its end, a span that records nothing and has no context."""

    __slots__ = ("_span", "_invocation")

    def __init__(self, span: trace.Span, invocation: Invocation) -> None:
        self._span = span
        self._invocation = invocation

    @property
    def _live(self) -> trace.Span | None:
        return None if self._invocation.ended else self._span

    def get_span_context(self) -> SpanContext:
        span = self._live
        return span.get_span_context() if span is not None else INVALID_SPAN_CONTEXT

    def is_recording(self) -> bool:
        span = self._live
        return span is not None and span.is_recording()

    def end(self, end_time: int | None = None) -> None:
        span = self._live
        if span is not None:
            span.end(end_time)

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        span = self._live
        if span is not None:
            span.set_attributes(attributes)

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        span = self._live
        if span is not None:
            span.set_attribute(key, value)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        span = self._live
        if span is not None:
            span.add_event(name, attributes, timestamp)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        span = self._live
        if span is not None:
            span.add_link(context, attributes)

    def update_name(self, name: str) -> None:
        span = self._live
        if span is not None:
            span.update_name(name)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        span = self._live
        if span is not None:
            span.set_status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        span = self._live
        if span is not None:
            span.record_exception(exception, attributes, timestamp, escaped)

    def __getattr__(self, name: str) -> Any:  # what the SDK's span has beyond the API (name, attributes, ...)
        return getattr(self._span, name)

    def __repr__(self) -> str:
        return f"UntilEnded({self._span!r}, {self._invocation!r})"
