"""The metrics middleware: invocation duration, count, errors, cold starts and in-flight invocations.

Instruments use the semantic-convention names for FaaS servers where they exist (`faas.invoke_duration`,
`faas.invocations`, `faas.errors`, `faas.coldstarts`); in-flight invocations have none, so they are
`faas.active_invocations`. Every measurement carries `faas.name` and `faas.trigger`; errors add `error.type`.
Attribute dicts are built once per function and reused.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import metrics
from opentelemetry.semconv._incubating.attributes.faas_attributes import FAAS_NAME, FAAS_TRIGGER
from opentelemetry.semconv._incubating.metrics.faas_metrics import (
    FAAS_COLDSTARTS,
    FAAS_ERRORS,
    FAAS_INVOCATIONS,
    FAAS_INVOKE_DURATION,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE

from .invocation import Invocation, InvocationAbandoned
from .tracing import http_status_of

__all__ = ["MetricsMiddleware", "FAAS_ACTIVE_INVOCATIONS"]

FAAS_ACTIVE_INVOCATIONS = "faas.active_invocations"

# Seconds; finer than the SDK's default buckets at the low end, where most invocations are.
_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class MetricsMiddleware:
    """Counts and times every invocation; its `before` only marks the invocation as in flight."""

    def __init__(self, meter: metrics.Meter) -> None:
        self._duration = meter.create_histogram(
            FAAS_INVOKE_DURATION,
            unit="s",
            description="Duration of the function's invocation, hooks included.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._invocations = meter.create_counter(FAAS_INVOCATIONS, unit="{invocation}", description="Invocations.")
        self._errors = meter.create_counter(FAAS_ERRORS, unit="{error}", description="Invocations that failed.")
        self._coldstarts = meter.create_counter(FAAS_COLDSTARTS, unit="{coldstart}", description="Cold starts.")
        self._active = meter.create_up_down_counter(
            FAAS_ACTIVE_INVOCATIONS, unit="{invocation}", description="Invocations in flight."
        )
        self._attributes: dict[tuple[str, str], dict[str, str]] = {}
        self._error_attributes: dict[tuple[str, str, str], dict[str, str]] = {}

    def _attrs(self, invocation: Invocation) -> dict[str, str]:
        key = (invocation.function_name, invocation.trigger.faas_trigger)
        attrs = self._attributes.get(key)
        if attrs is None:
            attrs = self._attributes[key] = {FAAS_NAME: key[0], FAAS_TRIGGER: key[1]}
        return attrs

    def _error_attrs(self, invocation: Invocation, error_type: str) -> dict[str, str]:
        key = (invocation.function_name, invocation.trigger.faas_trigger, error_type)
        attrs = self._error_attributes.get(key)
        if attrs is None:
            attrs = self._error_attributes[key] = {**self._attrs(invocation), ERROR_TYPE: error_type}
        return attrs

    def before(self, invocation: Invocation) -> None:
        attrs = self._attrs(invocation)
        self._active.add(1, attrs)
        if invocation.cold_start:
            self._coldstarts.add(1, attrs)

    def after(self, invocation: Invocation, result: Any) -> None:
        status = http_status_of(result)
        self._end(invocation, str(status) if status is not None and status >= 500 else None)

    def on_error(self, invocation: Invocation, exc: BaseException) -> None:
        error_type = "abandoned" if isinstance(exc, InvocationAbandoned) else type(exc).__qualname__
        self._end(invocation, error_type)

    def _end(self, invocation: Invocation, error_type: str | None) -> None:
        attrs = self._attrs(invocation)
        self._active.add(-1, attrs)
        self._duration.record((time.time_ns() - invocation.start_ns) / 1e9, attrs)
        self._invocations.add(1, attrs)
        if error_type is not None:
            self._errors.add(1, self._error_attrs(invocation, error_type))
