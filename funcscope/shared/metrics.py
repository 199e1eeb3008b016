"""The metrics middleware: invocation duration, count, errors, cold starts and in-flight invocations.

Instruments use the semantic-convention names for FaaS servers where they exist (`faas.invoke_duration`,
`faas.invocations`, `faas.errors`, `faas.coldstarts`); in-flight invocations have none, so they are
`faas.active_invocations`. Every measurement carries `faas.name` and `faas.trigger`; errors add `error.type`.
Attribute dicts are built once per function and reused.

Every invocation pays for what is recorded here, and one measurement through the OpenTelemetry SDK costs about
10-20 µs. In-flight invocations would take two per invocation (+1, -1), so they are tallied here, under a lock, and
an observable up-down counter reports them when the SDK collects: the exported data are the same cumulative sums
(up-down counters are cumulative for every exporter). The invocation counter stays synchronous: an observable one
would export a zero point per function at every collection to a delta-temporality exporter (Azure Monitor).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
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


class _InFlight:
    """Invocations in flight per (function, trigger), reported by an observable up-down counter.

    One per meter: a meter keeps the callback of the first observable instrument registered under a name, so
    every MetricsMiddleware built on the same meter (an app may configure more than once) shares it.
    """

    def __init__(self, meter: metrics.Meter) -> None:
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, str], int] = {}
        meter.create_observable_up_down_counter(
            FAAS_ACTIVE_INVOCATIONS,
            callbacks=[self._observe],
            unit="{invocation}",
            description="Invocations in flight.",
        )

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self.lock:
            items = list(self.counts.items())
        return [Observation(value, {FAAS_NAME: name, FAAS_TRIGGER: trigger}) for (name, trigger), value in items]


_in_flight: weakref.WeakKeyDictionary[Any, _InFlight] = weakref.WeakKeyDictionary()
_in_flight_lock = threading.Lock()


def _in_flight_for(meter: metrics.Meter) -> _InFlight:
    with _in_flight_lock:
        in_flight = _in_flight.get(meter)
        if in_flight is None:
            in_flight = _in_flight[meter] = _InFlight(meter)
        return in_flight


class MetricsMiddleware:
    """Counts and times every invocation; its `before` only marks the invocation as in flight."""

    def __init__(self, meter: metrics.Meter) -> None:
        self._duration = meter.create_histogram(
            FAAS_INVOKE_DURATION,
            unit="s",
            description="Duration of the function's invocation, hooks included.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._invocations = meter.create_counter(
            FAAS_INVOCATIONS, unit="{invocation}", description="Successful invocations."
        )
        self._errors = meter.create_counter(FAAS_ERRORS, unit="{error}", description="Invocations that failed.")
        self._coldstarts = meter.create_counter(FAAS_COLDSTARTS, unit="{coldstart}", description="Cold starts.")
        in_flight = _in_flight_for(meter)
        self._lock = in_flight.lock
        self._active = in_flight.counts
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
        key = (invocation.function_name, invocation.trigger.faas_trigger)
        with self._lock:
            self._active[key] = self._active.get(key, 0) + 1
        if invocation.cold_start:
            self._coldstarts.add(1, self._attrs(invocation))

    def after(self, invocation: Invocation, result: Any) -> None:
        status = http_status_of(result)
        self._end(invocation, str(status) if status is not None and status >= 500 else None)

    def on_error(self, invocation: Invocation, exc: BaseException) -> None:
        error_type = "abandoned" if isinstance(exc, InvocationAbandoned) else type(exc).__qualname__
        self._end(invocation, error_type)

    def _end(self, invocation: Invocation, error_type: str | None) -> None:
        key = (invocation.function_name, invocation.trigger.faas_trigger)
        with self._lock:
            self._active[key] = self._active.get(key, 0) - 1
        attrs = self._attrs(invocation)
        self._duration.record((time.time_ns() - invocation.start_ns) / 1e9, attrs)
        # As the semantic conventions define them: `faas.invocations` counts the successful ones, `faas.errors`
        # the failed ones (their sum is the duration histogram's count).
        if error_type is None:
            self._invocations.add(1, attrs)
        else:
            self._errors.add(1, self._error_attrs(invocation, error_type))
