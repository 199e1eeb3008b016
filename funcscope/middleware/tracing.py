"""The trace middleware: one span per invocation, a child of the Functions host's span.

Sampling follows the host: with a usable host parent the invocation is sampled exactly when the host's
`traceparent` says so; a root invocation (no usable parent) is sampled with the configured ratio. A sampled-out
invocation creates no span at all: only the parent context is attached, so the user's own spans inherit the
decision and logs still carry a trace id.
"""

from __future__ import annotations

import random
from typing import Any

import azure.functions as func
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.semconv._incubating.attributes.faas_attributes import (
    FAAS_COLDSTART,
    FAAS_DOCUMENT_COLLECTION,
    FAAS_INVOCATION_ID,
    FAAS_NAME,
    FAAS_TRIGGER,
)
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_BATCH_MESSAGE_COUNT,
    MESSAGING_CONSUMER_GROUP_NAME,
    MESSAGING_DESTINATION_NAME,
    MESSAGING_DESTINATION_SUBSCRIPTION_NAME,
    MESSAGING_MESSAGE_ID,
    MESSAGING_OPERATION_TYPE,
    MESSAGING_SYSTEM,
    MessagingOperationTypeValues,
)
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.url_attributes import URL_FULL, URL_PATH
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ..instrumentation.http_streaming import response_stream
from ..shared import attributes as attr
from ..shared.diagnostics import report_once
from ..shared.http import request_line, response_status
from ..shared.invocation import Invocation, InvocationAbandoned
from ..shared.messages import MAX_MESSAGE_ID_LENGTH, MessageBatch, read_messages
from ..shared.redaction import redact_url
from ..shared.triggers import Trigger
from ..shared.values import bounded_text, record_exception

__all__ = ["TraceMiddleware", "http_status_of"]

_ID_GENERATOR = RandomIdGenerator()

_PROBLEM_WARNINGS = {
    "invalid": "the host passed a malformed traceparent",
    "oversized": "the host passed a traceparent longer than 512 characters",
}


MAX_URL_LENGTH = 8192  # what the Functions host accepts in a request line
MAX_METHOD_LENGTH = 32


def http_status_of(result: object) -> int | None:
    """The status code of an `HttpResponse` result (or of a Starlette response, under HTTP streaming): a whole
    number from 100 to 999, else None; never raises, whatever the result's `status_code` does."""
    try:
        status = result.status_code if isinstance(result, func.HttpResponse) else response_status(result)
        if type(status) is int:  # nearly always
            return status if 100 <= status <= 999 else None
        if status is None or isinstance(status, bool) or not isinstance(status, (int, float, str)):
            return None
        code = int(status)
    except KeyboardInterrupt:
        raise
    except BaseException:  # not a number, NaN, infinite, or a property that raises
        return None
    return code if 100 <= code <= 999 else None


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value if len(value) <= limit and value.isascii() else bounded_text(value, limit)


class TraceMiddleware:
    """Opens the invocation span in `before`, closes it in `after` / `on_error`.

    Span: name = function name; kind INTERNAL, or by trigger with `span_kind="trigger"` (see `Settings`);
    attributes `faas.*`, HTTP method/route/URL (function keys redacted) and status, messaging system, destination
    and message id (or a batch's message count), retry count/max/final (when the function has a retry policy or
    this is a retry), and the function's extra attributes; a link to the producer of each message that carries
    its trace context (`funcscope.shared.messages`), given at the start so samplers see them. ERROR status for an
    exception (recorded) or an HTTP 5xx response. A streamed HTTP response ends the span when its body ends
    (`funcscope.instrumentation.http_streaming`).
    """

    def __init__(self, tracer: trace.Tracer, sample_ratio: float = 1.0, span_kind: str = "internal") -> None:
        self._tracer = tracer
        self._sample_ratio = sample_ratio
        self._kind_by_trigger = span_kind == "trigger"
        # Per function: (options, trigger, attributes that do not change between invocations).
        self._static: dict[str, tuple[Any, Trigger, dict[str, Any]]] = {}

    # -- hooks ---------------------------------------------------------------------------------------------

    def before(self, invocation: Invocation) -> None:
        host = invocation.host
        if host.problem is not None and host.problem != "missing":
            report_once(
                ("traceparent", host.problem),
                f"{_PROBLEM_WARNINGS[host.problem]} (e.g. {host.raw_traceparent!r} for "
                f"{invocation.function_name}); such invocations start a new root trace marked with the "
                f"{attr.INVALID_TRACEPARENT} attribute.",
            )
        options = invocation.options
        if options is not None and not options.tracing:
            if host.span_context is not None:  # keep the user's own spans in the host's trace
                invocation.state[self] = (None, otel_context.attach(host.parent))
            return
        if not self._sampled(invocation):
            invocation.state[self] = (None, otel_context.attach(self._unsampled_parent(invocation)))
            return
        trigger = invocation.trigger
        messages = _messages_of(invocation) if trigger.messaging_system else None
        span = self._tracer.start_span(
            invocation.function_name,
            context=host.parent,
            kind=trigger.span_kind if self._kind_by_trigger else SpanKind.INTERNAL,
            attributes=self._attributes(invocation, messages),
            links=messages.links if messages is not None else None,
            start_time=invocation.start_ns,
        )
        invocation.state[self] = (span, otel_context.attach(trace.set_span_in_context(span, host.parent)))

    # after() and on_error() end the span whatever the result or the exception does: everything else they do
    # is inside a try whose finally ends it (or hands it to the response stream that ends it).

    def after(self, invocation: Invocation, result: Any) -> None:
        span, token = invocation.state.pop(self, (None, None))
        try:
            if token is not None:
                otel_context.detach(token)
        finally:
            if span is not None:
                handed_over = False
                try:
                    status = http_status_of(result)
                    if status is not None:
                        span.set_attribute(HTTP_RESPONSE_STATUS_CODE, status)
                        if status >= 500:
                            span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
                        stream = response_stream(result)
                        if stream is not None:  # the body is sent after the function returned: it ends the span
                            stream.hand_over(span, invocation.start_ns)
                            handed_over = True
                finally:
                    if not handed_over:
                        span.end()

    def on_error(self, invocation: Invocation, exc: BaseException) -> None:
        span, token = invocation.state.pop(self, (None, None))
        abandoned = exc if isinstance(exc, InvocationAbandoned) else None
        try:
            # A context token can only be reset in the context it was set in.
            if token is not None and (abandoned is None or abandoned.in_own_context):
                otel_context.detach(token)
        finally:
            if span is not None:
                try:
                    if abandoned is not None:
                        span.set_attribute(attr.ABANDONED, abandoned.reason)
                        span.set_status(Status(StatusCode.ERROR, abandoned.reason))
                    else:
                        record_exception(span, exc)  # redacted, bounded; not the SDK's
                        if invocation.trigger.is_http:  # what the host answers for a function that raised
                            span.set_attribute(HTTP_RESPONSE_STATUS_CODE, 500)
                finally:
                    span.end()

    # -- helpers -------------------------------------------------------------------------------------------

    def _sampled(self, invocation: Invocation) -> bool:
        host_span = invocation.host.span_context
        if host_span is not None:
            return host_span.trace_flags.sampled
        options = invocation.options
        ratio = options.sample_ratio if options is not None and options.sample_ratio is not None else self._sample_ratio
        return ratio >= 1.0 or (ratio > 0.0 and random.random() < ratio)

    @staticmethod
    def _unsampled_parent(invocation: Invocation) -> otel_context.Context:
        host = invocation.host
        if host.span_context is not None:
            return host.parent
        # A root invocation that is not sampled still gets ids, so its logs and downstream calls correlate.
        root = SpanContext(
            _ID_GENERATOR.generate_trace_id(), _ID_GENERATOR.generate_span_id(), False, TraceFlags(TraceFlags.DEFAULT)
        )
        return trace.set_span_in_context(NonRecordingSpan(root))

    def _static_attributes(self, invocation: Invocation) -> dict[str, Any]:
        cached = self._static.get(invocation.function_name)
        if cached is not None and cached[0] is invocation.options and cached[1] is invocation.trigger:
            return cached[2]
        trigger = invocation.trigger
        # cloud.provider and cloud.platform are the same for every span of the process: they belong on the
        # resource (where the semantic conventions put them and funcscope's providers have them), not on each span.
        static: dict[str, Any] = {FAAS_NAME: invocation.function_name, FAAS_TRIGGER: trigger.faas_trigger}
        if trigger.messaging_system:
            static[MESSAGING_SYSTEM] = trigger.messaging_system
            static[MESSAGING_OPERATION_TYPE] = MessagingOperationTypeValues.PROCESS.value
            for key, value in (
                (MESSAGING_DESTINATION_NAME, trigger.destination),
                (MESSAGING_DESTINATION_SUBSCRIPTION_NAME, trigger.subscription),
                (MESSAGING_CONSUMER_GROUP_NAME, trigger.consumer_group),
            ):
                if value:
                    static[key] = value
        if trigger.collection:
            static[FAAS_DOCUMENT_COLLECTION] = trigger.collection
        if trigger.route:
            static[HTTP_ROUTE] = trigger.route
        if invocation.options is not None:
            static.update(invocation.options.attributes)
        self._static[invocation.function_name] = (invocation.options, trigger, static)
        return static

    def _attributes(self, invocation: Invocation, messages: MessageBatch | None) -> dict[str, Any]:
        # The SDK checks every attribute of every span (about 3 µs each), so only what says something is set.
        attributes = {
            **self._static_attributes(invocation),
            FAAS_INVOCATION_ID: invocation.invocation_id,
            FAAS_COLDSTART: invocation.cold_start,
        }
        retry = invocation.retry
        if retry.count or retry.max_count:  # a retry, or a retry policy: else there is no retry context to tell
            attributes[attr.RETRY_COUNT] = retry.count
            attributes[attr.RETRY_MAX_COUNT] = retry.max_count
            attributes[attr.RETRY_IS_FINAL] = retry.is_final
        problem = invocation.host.problem
        if problem is not None and problem != "missing":
            attributes[attr.INVALID_TRACEPARENT] = problem
        try:  # the arguments are the trigger's: any type, any behaviour
            if invocation.trigger.is_http:
                line = _request_line_of(invocation)
                if line is not None:
                    _request_attributes(line, attributes)
            elif messages is not None:
                if messages.count is not None:
                    attributes[MESSAGING_BATCH_MESSAGE_COUNT] = messages.count
                elif messages.message_id is not None:
                    message_id = _text(messages.message_id, MAX_MESSAGE_ID_LENGTH)
                    if message_id is not None:
                        attributes[MESSAGING_MESSAGE_ID] = message_id
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            _unreadable(invocation, "the trigger's arguments", "the request's or message's attributes", exc)
        return attributes


def _unreadable(invocation: Invocation, what: str, without: str, exc: BaseException) -> None:
    report_once(
        ("tracing", what, type(exc).__name__),
        f"could not read {what} of {invocation.function_name} ({type(exc).__name__}); its spans go without {without}.",
    )


def _request_attributes(line: tuple[object, object], attributes: dict[str, Any]) -> None:
    method = _text(line[0], MAX_METHOD_LENGTH)
    if method is not None:
        attributes[HTTP_REQUEST_METHOD] = method
    url = line[1]
    if isinstance(url, str) and url:
        redacted = redact_url(url)
        attributes[URL_FULL] = _text(redacted, MAX_URL_LENGTH)
        attributes[URL_PATH] = _text(_url_path(redacted), MAX_URL_LENGTH) or "/"


def _trigger_argument(invocation: Invocation) -> object:
    # The binding metadata names the trigger's argument, and so does the argument a trigger was told by.
    name = invocation.trigger.argument
    return invocation.func_args.get(name) if name is not None else None


def _request_line_of(invocation: Invocation) -> tuple[object, object] | None:
    return request_line(_trigger_argument(invocation))


def _messages_of(invocation: Invocation) -> MessageBatch | None:
    system = invocation.trigger.messaging_system
    try:  # the trigger's argument: any type, any behaviour (the span goes without links then)
        value = _trigger_argument(invocation)
        return read_messages(value, system) if system is not None and value is not None else None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        _unreadable(invocation, "the messages", "links to their producers", exc)
        return None


def _url_path(url: str) -> str:
    # Cheaper than a full URL parse on every HTTP invocation: path = between the authority and the query.
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    path = rest[slash:] if slash >= 0 else "/"
    return path.split("?", 1)[0].split("#", 1)[0]
