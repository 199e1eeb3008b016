"""`context.tracer`: OpenCensus's tracer API over OpenTelemetry, one tracer per invocation.

The original extension gave each invocation an OpenCensus `Tracer` with an Azure exporter of its own, parented on
the host's span. This tracer keeps that API - `span()`, `start_span()`, `end_span()`, `current_span()`,
`add_attribute_to_current_span()`, `span_context`, `propagator`, `finish()`, `list_collected_spans()`,
`trace_decorator()`; on a span `add_attribute()`, `add_annotation()`, `add_message_event()`, `add_link()`,
`set_status()`, `span()`, `finish()` and the `with` statement - and makes every span an OpenTelemetry span of
funcscope's tracer provider:

- its parent is the current OpenTelemetry span: the invocation's span (the host's span's child), or whatever span is
  open inside it (OpenCensus's, OpenTelemetry's, an instrumented library's); the host's span when none is current
  (funcscope's tracing off). So the spans are in the host's trace, sampled as the host decided, and exported by
  funcscope's exporters together with everything else;
- while it is open it is the current span of both APIs, so an outgoing call made inside it (traced by funcscope's
  instrumentations) is its child and sends its `traceparent` on;
- all of it lives in context variables, which funcscope carries into the threads, pools and tasks the function
  starts: a span opened there is the child of the span that was open where the work was started;
- the tracer never outlives its invocation: spans left open are ended when the invocation ends, and a span started
  on the tracer afterwards is not recorded (one warning).

OpenTelemetry fixes a span's kind when the span starts, while OpenCensus sets it afterwards, so every span is
INTERNAL: an in-process dependency in Application Insights, as the original made of a span without a kind.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from opencensus.trace import base_span, execution_context
from opencensus.trace.attributes import Attributes
from opencensus.trace.blank_span import BlankSpan
from opencensus.trace.link import Link
from opencensus.trace.propagation.trace_context_http_header_format import TraceContextPropagator
from opencensus.trace.span import SpanKind as OpenCensusSpanKind
from opencensus.trace.span_context import SpanContext as OpenCensusSpanContext
from opencensus.trace.status import Status as OpenCensusStatus
from opencensus.trace.time_event import Annotation
from opencensus.trace.trace_options import TraceOptions
from opencensus.trace.tracers.base import NullContextManager
from opencensus.trace.tracers.base import Tracer as OpenCensusTracerBase
from opencensus.trace.tracestate import Tracestate
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from ...shared.diagnostics import report_once
from ...shared.redaction import redact_text, redact_url
from ...shared.trace_context import HostTraceContext
from ...shared.values import MAX_MESSAGE_LENGTH, record_exception, redacted_text, safe_str

__all__ = ["OpenCensusSpan", "OpenCensusTracer"]

_PROPAGATOR = TraceContextPropagator()
_URL_ATTRIBUTE = "http.url"  # what OpenCensus's HTTP integrations record the URL as: redacted like funcscope's own
_MESSAGE_TYPES = {0: "UNSPECIFIED", 1: "SENT", 2: "RECEIVED"}


def _attribute_value(value: Any) -> Any:
    # OpenCensus takes any value; OpenTelemetry only these (it would drop anything else with a warning each time).
    return value if isinstance(value, (str, bool, int, float)) else str(value)


def _attributes(values: Any) -> dict[str, Any]:
    values = getattr(values, "attributes", values) or {}  # an OpenCensus Attributes object, or a plain mapping
    return {str(key): _attribute_value(value) for key, value in dict(values).items()}


def _iso(time_ns: int | None) -> str | None:
    # OpenCensus's own timestamp format (opencensus.common.utils.to_iso_str).
    if time_ns is None:
        return None
    return datetime.fromtimestamp(time_ns / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _opencensus_span_context(span_context: trace.SpanContext) -> Any:
    trace_state = Tracestate(span_context.trace_state.items()) if span_context.trace_state else None
    return OpenCensusSpanContext(
        trace_id=format(span_context.trace_id, "032x"),
        span_id=format(span_context.span_id, "016x"),
        trace_options=TraceOptions("1" if span_context.trace_flags.sampled else "0"),
        tracestate=trace_state,
        from_header=span_context.is_remote,
    )


def _report(key: str, message: str) -> None:
    report_once(("opencensus", key), f"{message} Further occurrences are not logged.")


class OpenCensusSpan(base_span.BaseSpan):  # type: ignore[misc]  # opencensus ships no types
    """One OpenCensus span, recorded as the OpenTelemetry span `otel_span`.

    `restore` is what to make current again when it ends - (OpenTelemetry context, OpenCensus current span) - for a
    span that was made current when it started (the tracer's spans; not a span's `span()` children).
    """

    def __init__(
        self,
        tracer: OpenCensusTracer,
        name: str,
        otel_span: trace.Span,
        start_ns: int,
        parent: trace.SpanContext,
        parent_span: OpenCensusSpan | None,
        restore: tuple[otel_context.Context, Any] | None,
    ) -> None:
        self.context_tracer = tracer
        self.otel_span = otel_span
        self._name = name
        self._start_ns = start_ns
        self._end_ns: int | None = None
        self._parent = parent
        self._parent_span = parent_span
        self._restore = restore
        self._kind = OpenCensusSpanKind.UNSPECIFIED
        self.status = OpenCensusStatus.as_ok()
        self.attributes: dict[str, Any] = {}
        self.annotations: list[Any] = []
        self.message_events: list[Any] = []
        self.links: list[Any] = []
        self.stack_trace = None
        self.same_process_as_parent_span = (not parent.is_remote) if parent.is_valid else None
        self._child_spans: list[OpenCensusSpan] = []

    # -- what OpenCensus code reads ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value
        self.otel_span.update_name(str(value))

    @property
    def span_id(self) -> str:
        return format(self.otel_span.get_span_context().span_id, "016x")

    @property
    def parent_span(self) -> Any:
        """The parent as OpenCensus has it: the OpenCensus span, else a stand-in with the parent's span id."""
        if self._parent_span is not None:
            return self._parent_span
        return NullContextManager(span_id=format(self._parent.span_id, "016x") if self._parent.is_valid else None)

    @property
    def start_time(self) -> str | None:
        return _iso(self._start_ns)

    @property
    def end_time(self) -> str | None:
        return _iso(self._end_ns)

    @property
    def span_kind(self) -> int:
        return self._kind  # type: ignore[no-any-return]

    @span_kind.setter
    def span_kind(self, value: int) -> None:
        self._kind = value
        if value != OpenCensusSpanKind.UNSPECIFIED:
            _report(
                "span-kind",
                f"the OpenCensus span {self._name!r} was given a span kind after it started, which OpenTelemetry "
                "cannot change, so it is recorded as INTERNAL. For an outgoing call, let funcscope's instrumentation "
                "trace the library (the instrument setting); for a span of your own, start it with OpenTelemetry "
                "and the kind you want.",
            )

    @property
    def children(self) -> list[OpenCensusSpan]:
        return self._child_spans

    def __iter__(self) -> Iterator[OpenCensusSpan]:
        """This span's tree, children first, as OpenCensus iterates it."""
        for child in self._child_spans:
            yield from child
        yield self

    # -- what OpenCensus code does ---------------------------------------------------------------------------------

    def span(self, name: str = "child_span") -> Any:
        """A child span, started now; unlike the tracer's spans it is not made current (as in OpenCensus)."""
        child = self.context_tracer._start(name, trace.set_span_in_context(self.otel_span), parent_span=self)
        if isinstance(child, OpenCensusSpan):
            self._child_spans.append(child)
        return child

    def add_attribute(self, attribute_key: str, attribute_value: Any) -> None:
        value = _attribute_value(attribute_value)
        if attribute_key == _URL_ATTRIBUTE and isinstance(value, str):
            value = redact_url(value)
        self.attributes[attribute_key] = value
        self.otel_span.set_attribute(str(attribute_key), value)

    def add_annotation(self, description: str, **attrs: Any) -> None:
        self.annotations.append(Annotation(datetime.now(timezone.utc), description, Attributes(attrs)))
        self.otel_span.add_event(str(description), _attributes(attrs))

    def add_message_event(self, message_event: Any) -> None:
        self.message_events.append(message_event)
        attributes: dict[str, Any] = {
            "message.type": _MESSAGE_TYPES.get(getattr(message_event, "type", 0) or 0, "UNSPECIFIED"),
            "message.id": _attribute_value(getattr(message_event, "id", "")),
        }
        for name, attribute in (
            ("uncompressed_size_bytes", "uncompressed_size"),
            ("compressed_size_bytes", "compressed_size"),
        ):
            size = getattr(message_event, name, None)
            if size is not None:
                attributes[f"message.{attribute}"] = _attribute_value(size)
        self.otel_span.add_event("message", attributes)

    def add_link(self, link: Any) -> None:
        try:
            if not isinstance(link, Link):
                raise TypeError(f"expected an opencensus.trace.link.Link, got {type(link).__name__}")
            linked = trace.SpanContext(int(link.trace_id, 16), int(link.span_id, 16), is_remote=True)
        except (TypeError, ValueError) as exc:
            _report("link", f"an OpenCensus link could not be recorded ({exc}); the span has no such link.")
            return
        self.links.append(link)
        self.otel_span.add_link(linked, _attributes(link.attributes))

    def set_status(self, status: Any) -> None:
        if not isinstance(status, OpenCensusStatus):
            _report(
                "status", f"set_status() needs an opencensus.trace.status.Status, got {type(status).__name__}; ignored."
            )
            return
        self.status = status
        if status.is_ok:
            self.otel_span.set_status(Status(StatusCode.UNSET))
        else:
            self.otel_span.set_status(Status(StatusCode.ERROR, redact_text(str(status.description or status.code))))

    def start(self) -> None:
        """Started already, when it was created (as `Tracer.start_span` does in OpenCensus)."""

    def finish(self) -> None:
        """End the span; unlike `end_span()` this leaves it current, as in OpenCensus."""
        self._end()

    def __enter__(self) -> OpenCensusSpan:
        return self

    def __exit__(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        if exception_value is not None:
            self.status = OpenCensusStatus.from_exception(exception_value)
            self._fail(exception_value)
        self._end()
        self._leave()

    # -- internals ------------------------------------------------------------------------------------------------

    def _fail(self, exc: BaseException, record: bool = True) -> None:
        if record:
            record_exception(self.otel_span, exc)  # redacted and bounded, stack trace too
        else:
            message = redacted_text(safe_str(exc), MAX_MESSAGE_LENGTH)
            self.otel_span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))

    def _end(self) -> bool:
        """End the OpenTelemetry span, once; True when this call ended it."""
        tracer = self.context_tracer
        with tracer._lock:
            if self._end_ns is not None:
                return False
            self._end_ns = time.time_ns()
            tracer._open.pop(self, None)
        self.otel_span.end(end_time=self._end_ns)
        return True

    def _leave(self) -> None:
        # Make current again what was current when the span started, if the span is still current here. The
        # contexts are set again rather than reset by token: a span may end in another thread than it started in.
        restore = self._restore
        if restore is not None and execution_context.get_current_span() is self:
            otel_context.attach(restore[0])
            execution_context.set_current_span(restore[1])

    def __repr__(self) -> str:
        return f"<OpenCensusSpan {self._name!r} {self.span_id}>"


class OpenCensusTracer(OpenCensusTracerBase):  # type: ignore[misc]  # opencensus ships no types
    """One invocation's `context.tracer`: see the module's docstring. `host` is the host's trace context, the
    parent of spans started when no span is current."""

    propagator = _PROPAGATOR

    def __init__(self, otel_tracer: trace.Tracer, host: HostTraceContext) -> None:
        self._otel_tracer = otel_tracer
        self._host = host
        self._open: dict[OpenCensusSpan, None] = {}  # spans not yet ended, in the order they started
        self._lock = threading.Lock()
        self._closed = False
        self._root: Any = None  # the OpenCensus span context of a root invocation, made on first use

    # -- OpenCensus's tracer API ------------------------------------------------------------------------------

    def span(self, name: str = "span") -> Any:
        """Start a span and make it current; use it in a `with` statement, or end it with `end_span()`."""
        return self._start(name, None)

    def start_span(self, name: str = "span") -> Any:
        """Start a span and make it current (the same as `span()`)."""
        return self._start(name, None)

    def end_span(self, *args: Any, **kwargs: Any) -> Any:
        """End the current span and make its parent current again."""
        span = self.current_span()
        if span is None:
            with self._lock:  # as OpenCensus does: else the span started last
                span = next(reversed(self._open), None)
        if span is None:
            _report("end-span", "OpenCensus end_span() was called with no span open on the tracer; nothing ended.")
            return None
        span._end()
        span._leave()
        return span

    def current_span(self) -> OpenCensusSpan | None:
        span = execution_context.get_current_span()
        return span if isinstance(span, OpenCensusSpan) and span.context_tracer is self else None

    def add_attribute_to_current_span(self, attribute_key: str, attribute_value: Any) -> None:
        span = self.current_span()
        if span is None:
            _report(
                "no-current-span",
                f"add_attribute_to_current_span({attribute_key!r}) was called with no OpenCensus span open; the "
                "attribute is not recorded.",
            )
            return
        span.add_attribute(attribute_key, attribute_value)

    def list_collected_spans(self) -> list[OpenCensusSpan]:
        """The spans started and not yet ended."""
        with self._lock:
            return list(self._open)

    def finish(self) -> None:
        """End every span still open, the newest first."""
        for span in reversed(self.list_collected_spans()):
            span._end()
            span._leave()

    @property
    def span_context(self) -> Any:
        """The current span's context as OpenCensus has it (trace id, span id, sampled flag, tracestate), for
        propagating it as OpenCensus's integrations do: `tracer.propagator.to_headers(tracer.span_context)`."""
        current = trace.get_current_span().get_span_context()
        if current.is_valid:
            return _opencensus_span_context(current)
        host = self._host.span_context
        if host is not None:
            return _opencensus_span_context(host)
        if self._root is None:  # no host parent: one new trace, as OpenCensus makes for a request without one
            self._root = OpenCensusSpanContext()
        return self._root

    def trace_decorator(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator that runs the function in a span named after it."""

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self.span(name=func.__name__):
                    return func(*args, **kwargs)

            return wrapper

        return decorator

    # -- funcscope's side -----------------------------------------------------------------------------------------

    def close(self, error: BaseException | None = None) -> bool:
        """The invocation ended (with `error` when it failed): end the spans still open, marked failed with it, and
        record nothing more. True when spans were still open."""
        with self._lock:
            self._closed = True
            left = list(self._open)
        for span in reversed(left):
            if error is not None:
                span._fail(error, record=False)  # the invocation's span records the exception itself
            span._end()
        return bool(left)

    def _start(self, name: str, parent: otel_context.Context | None, parent_span: OpenCensusSpan | None = None) -> Any:
        # `parent` None: a span of the tracer, child of the current span and made current itself; else a span's
        # child (`span.span()`), which is not made current.
        if self._closed:
            _report(
                "after-invocation",
                f"the OpenCensus span {name!r} was started after its invocation had ended; it is not recorded. Use "
                "context.tracer only while the invocation runs (in the function, and in threads and tasks it waits "
                "for).",
            )
            return BlankSpan(name=name)
        current = otel_context.get_current()
        restore = None
        if parent is None:
            parent = current if trace.get_current_span(current).get_span_context().is_valid else self._host.parent
            previous = execution_context.get_current_span()
            restore = (current, previous)
            if isinstance(previous, OpenCensusSpan) and previous.otel_span is trace.get_current_span(parent):
                parent_span = previous
        start_ns = time.time_ns()
        otel_span = self._otel_tracer.start_span(str(name), context=parent, start_time=start_ns)
        span = OpenCensusSpan(
            self, name, otel_span, start_ns, trace.get_current_span(parent).get_span_context(), parent_span, restore
        )
        with self._lock:
            closed = self._closed  # closed meanwhile, by the invocation's end on another thread
            if not closed:
                self._open[span] = None
        if closed:
            span._end()
            return span
        if restore is not None:
            otel_context.attach(trace.set_span_in_context(otel_span, current))
            execution_context.set_current_span(span)
        return span

    def __repr__(self) -> str:
        return f"<funcscope OpenCensusTracer{' (closed)' if self._closed else ''}>"
