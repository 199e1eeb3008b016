"""The retry middleware: the retry policy's view of the invocation, in telemetry.

The retry count, maximum and "final attempt" flag are span attributes (set by the trace middleware when it
opens the span) and log fields (log enrichment). This middleware adds what only a retry has: the previous
attempt's failure as a span event, and the signal alerting keys on: when the last attempt a retry policy allows
fails, one ERROR log on the `funcscope.retry` logger and one increment of `azure.functions.retry.exhausted`.
Functions without a retry policy never raise that signal: their failures are plain failures.
"""

from __future__ import annotations

import logging

from opentelemetry import metrics, trace
from opentelemetry.semconv._incubating.attributes.faas_attributes import FAAS_NAME, FAAS_TRIGGER

from ..shared import attributes as attr
from ..shared.invocation import Invocation, InvocationAbandoned
from ..shared.values import MAX_MESSAGE_LENGTH, redacted_text, safe_str

__all__ = ["RetryMiddleware", "PREVIOUS_FAILURE_EVENT", "RETRIES_EXHAUSTED"]

PREVIOUS_FAILURE_EVENT = "azure.functions.retry.previous_failure"
RETRIES_EXHAUSTED = "azure.functions.retry.exhausted"

logger = logging.getLogger("funcscope.retry")


class RetryMiddleware:
    """Reports previous failures on retries and exhausted retry policies."""

    def __init__(self, meter: metrics.Meter) -> None:
        self._exhausted = meter.create_counter(
            RETRIES_EXHAUSTED, unit="{invocation}", description="Final attempts allowed by a retry policy that failed."
        )

    def before(self, invocation: Invocation) -> None:
        retry = invocation.retry
        if retry.previous_failure is None:
            return
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(
                PREVIOUS_FAILURE_EVENT,
                {"exception.message": retry.previous_failure, attr.RETRY_COUNT: retry.count},  # redacted when read
            )

    def on_error(self, invocation: Invocation, exc: BaseException) -> None:
        retry = invocation.retry
        if retry.max_count <= 0 or not retry.is_final:
            return
        self._exhausted.add(1, {FAAS_NAME: invocation.function_name, FAAS_TRIGGER: invocation.trigger.faas_trigger})
        reason = (
            exc.reason
            if isinstance(exc, InvocationAbandoned)
            else f"{type(exc).__name__}: {redacted_text(safe_str(exc), MAX_MESSAGE_LENGTH)}"
        )
        logger.error(
            "Final attempt %d of %d for %s failed (invocation %s): %s. The retry policy will not retry it.",
            retry.count,
            retry.max_count,
            invocation.function_name,
            invocation.invocation_id,
            reason,
        )
