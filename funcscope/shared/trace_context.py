"""The host's trace context: the W3C `traceparent`/`tracestate` the Functions host passes in `context.trace_context`.

Parsing is OpenTelemetry's W3C propagator; this module only reads the worker's context object defensively and
says why a trace parent could not be used, so the span can record it and start a new root trace instead.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .attribute_reading import read_attribute

__all__ = ["HostTraceContext", "read_host_trace_context", "span_context_of", "MAX_TRACEPARENT_LENGTH"]

_PROPAGATOR = TraceContextTextMapPropagator()
MAX_TRACEPARENT_LENGTH = 512  # W3C's limit; longer values are rejected before the propagator sees them
_EMPTY_CONTEXT = Context()


class HostTraceContext:
    """The host's span as OpenTelemetry sees it (read-only by convention; built once per invocation).

    `parent` is the OpenTelemetry context to start the invocation span in (empty for a new root trace);
    `span_context` is the host's span context when it was usable; `problem` says why it was not
    ("missing", "invalid" or "oversized"), None when it was.
    """

    # A plain slotted class: a frozen dataclass costs a guarded setattr per field, on every invocation.
    __slots__ = ("parent", "span_context", "problem", "raw_traceparent")

    def __init__(
        self,
        parent: Context,
        span_context: trace.SpanContext | None,
        problem: str | None,
        raw_traceparent: str | None = None,
    ) -> None:
        self.parent = parent
        self.span_context = span_context
        self.problem = problem
        self.raw_traceparent = raw_traceparent

    @property
    def sampled(self) -> bool | None:
        """The host's sampled flag, None when there is no usable host span."""
        return self.span_context.trace_flags.sampled if self.span_context is not None else None

    def __repr__(self) -> str:
        return f"HostTraceContext(span_context={self.span_context!r}, problem={self.problem!r})"


_MISSING = HostTraceContext(_EMPTY_CONTEXT, None, "missing")


def _deprecated(trace_context: object, modern: str, deprecated: str) -> object:
    # The deprecated Traceparent/Tracestate, read only where they may say something the modern name does not: a
    # plain attribute of their own, or an object that has no modern name. On the worker's and the runtimes'
    # contexts they are properties returning the same value as the modern ones, and some warn when read.
    try:
        if deprecated in getattr(trace_context, "__dict__", ()):
            return trace_context.__dict__[deprecated]
        if hasattr(type(trace_context), modern):
            return None
    except KeyboardInterrupt:
        raise
    except BaseException:
        return None
    return read_attribute(trace_context, deprecated)


def read_host_trace_context(context: object) -> HostTraceContext:
    """Extract the host's span from a worker `Context`; never raises."""
    try:  # the worker's Context: plain attributes, read directly
        trace_context = context.trace_context  # type: ignore[attr-defined]
        traceparent = trace_context.trace_parent
        tracestate = trace_context.trace_state
    except KeyboardInterrupt:
        raise
    except BaseException:
        traceparent = None
    if not isinstance(traceparent, str) or not traceparent:
        # Any other shape (a property that raises, a context of an older worker) is read defensively.
        trace_context = read_attribute(context, "trace_context")
        if trace_context is None:
            return _MISSING
        traceparent = read_attribute(trace_context, "trace_parent")
        if traceparent is None:
            traceparent = _deprecated(trace_context, "trace_parent", "Traceparent")
        if not isinstance(traceparent, str) or not traceparent:
            return _MISSING
        tracestate = read_attribute(trace_context, "trace_state")
    if tracestate is None:
        tracestate = _deprecated(trace_context, "trace_state", "Tracestate")
    if len(traceparent) > MAX_TRACEPARENT_LENGTH:
        return HostTraceContext(_EMPTY_CONTEXT, None, "oversized", traceparent[:64])
    if type(traceparent) is not str:
        traceparent = str.__str__(traceparent)
    carrier = {"traceparent": traceparent}
    if isinstance(tracestate, str) and tracestate:
        carrier["tracestate"] = tracestate if type(tracestate) is str else str.__str__(tracestate)
    try:
        parent = _PROPAGATOR.extract(carrier)
    except Exception:  # the propagator parses with regular expressions; nothing here is expected to raise
        return HostTraceContext(_EMPTY_CONTEXT, None, "invalid", traceparent)
    span_context = trace.get_current_span(parent).get_span_context()
    if not span_context.is_valid:
        return HostTraceContext(_EMPTY_CONTEXT, None, "invalid", traceparent)
    return HostTraceContext(parent, span_context, None, traceparent)


def span_context_of(traceparent: object, tracestate: object = None) -> trace.SpanContext | None:
    """The remote span context a W3C `traceparent` (and `tracestate`) names, through OpenTelemetry's propagator;
    None for anything else (not a string, longer than W3C allows, malformed), never an error."""
    if not isinstance(traceparent, str) or not traceparent or len(traceparent) > MAX_TRACEPARENT_LENGTH:
        return None
    carrier = {"traceparent": traceparent}
    if isinstance(tracestate, str) and tracestate and len(tracestate) <= MAX_TRACEPARENT_LENGTH:
        carrier["tracestate"] = tracestate
    span_context = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    return span_context if span_context.is_valid else None
