"""The OpenCensus middleware: each invocation's `context.tracer`, for apps written for
`opencensus-extension-azure-functions` (see `funcscope.extensions.opencensus`).

`before` gives the invocation a new `OpenCensusTracer` as `context.tracer` and makes it OpenCensus's current tracer
(`execution_context.get_opencensus_tracer()`, which OpenCensus's integrations use), with no OpenCensus span current.
`after` / `on_error` close the tracer (spans still open are ended) and make current again what was current before,
so on a reused pool thread nothing of the invocation is left for the next one. The invocation's own span, opened
by the trace middleware before this one, is the parent of the tracer's spans.
"""

from __future__ import annotations

from typing import Any

from opencensus.trace import execution_context
from opentelemetry import context as otel_context

from ..extensions.opencensus.tracer import OpenCensusTracer
from ..shared.diagnostics import report_once
from ..shared.invocation import Invocation, InvocationAbandoned

__all__ = ["INSTRUMENTATION_NAME", "OpenCensusMiddleware"]

INSTRUMENTATION_NAME = "funcscope.opencensus"  # the instrumentation scope of the spans OpenCensus code makes


class OpenCensusMiddleware:
    """Gives every invocation an OpenCensus tracer whose spans are OpenTelemetry spans of `tracer_provider`."""

    def __init__(self, tracer_provider: Any) -> None:
        from .. import __version__

        self._tracer = tracer_provider.get_tracer(INSTRUMENTATION_NAME, __version__)

    def before(self, invocation: Invocation) -> None:
        tracer = OpenCensusTracer(self._tracer, invocation.host)
        try:
            invocation.context.tracer = tracer
        except Exception as exc:  # a context object that takes no new attribute: the worker's never refuses
            report_once(
                ("opencensus", "context", type(exc).__name__),
                f"could not set context.tracer on {type(invocation.context).__name__} ({exc!r}); "
                "OpenCensus code that reads it fails. Further failures of this kind are not logged.",
            )
        saved = (
            execution_context.get_opencensus_tracer(),
            execution_context.get_current_span(),
            otel_context.get_current(),
        )
        execution_context.set_opencensus_tracer(tracer)
        execution_context.set_current_span(None)
        invocation.state[self] = (tracer, saved)

    def after(self, invocation: Invocation, result: Any) -> None:
        self._end(invocation, None, in_own_context=True)

    def on_error(self, invocation: Invocation, exc: BaseException) -> None:
        own = exc.in_own_context if isinstance(exc, InvocationAbandoned) else True
        self._end(invocation, exc, in_own_context=own)

    def _end(self, invocation: Invocation, error: BaseException | None, in_own_context: bool) -> None:
        tracer, saved = invocation.state.pop(self, (None, None))
        if tracer is None:
            return
        tracer.close(error)
        if not in_own_context:  # ended from elsewhere (a finished task's callback, shutdown): nothing to restore
            return
        previous_tracer, previous_span, current = saved
        execution_context.set_opencensus_tracer(previous_tracer)
        execution_context.set_current_span(previous_span)
        if otel_context.get_current() is not current:  # a span the function left open was current
            otel_context.attach(current)
