"""The metrics middleware: invocation duration, count, errors, cold starts and in-flight invocations.

Instruments use the semantic-convention names for FaaS servers where they exist (`faas.invoke_duration`,
`faas.invocations`, `faas.errors`, `faas.coldstarts`); in-flight invocations have none, so they are
`faas.active_invocations`. Every measurement carries `faas.name` and `faas.trigger`; errors add `error.type`.
Attribute dicts are built once per function and reused.

Every invocation pays for what is recorded here, and one measurement through the OpenTelemetry SDK costs about
10-25 µs (it checks and hashes the attributes of every measurement). So only the duration, which needs the SDK's
histogram, is a measurement per invocation. Counts (in flight, successful, failed) are tallied here, under one
lock, and observable instruments report the running totals when the SDK collects; the SDK turns them into
whatever temporality the exporter asks for. One consequence: a delta exporter (Azure Monitor) receives a 0 point
for a function that had no invocation in an export interval, where a synchronous counter would send nothing.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
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

from ..shared.forksafe import unlocked_in_child
from ..shared.invocation import Invocation, InvocationAbandoned
from .tracing import http_status_of

__all__ = ["MetricsMiddleware", "FAAS_ACTIVE_INVOCATIONS", "DURATION_BUCKETS"]

FAAS_ACTIVE_INVOCATIONS = "faas.active_invocations"

# Seconds; finer than the SDK's default buckets at the low end, where most invocations are.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


_SERIES_NAMES = (FAAS_NAME, FAAS_TRIGGER, ERROR_TYPE)  # what a tally key holds, in order


class _Tallies:
    """Invocations in flight, successful and failed per (function, trigger[, error type]), reported by observable
    instruments at collection.

    One per meter: a meter keeps the callback of the first observable instrument registered under a name, so
    every MetricsMiddleware built on the same meter (an app may configure more than once) shares it.
    """

    def __init__(self, meter: metrics.Meter) -> None:
        self.lock = unlocked_in_child(threading.Lock())
        self.active: dict[tuple[str, str], int] = {}
        self.succeeded: dict[tuple[str, str], int] = {}
        self.failed: dict[tuple[str, str, str], int] = {}
        meter.create_observable_up_down_counter(
            FAAS_ACTIVE_INVOCATIONS,
            callbacks=[self._observer(self.active)],
            unit="{invocation}",
            description="Invocations in flight.",
        )
        meter.create_observable_counter(
            FAAS_INVOCATIONS,
            callbacks=[self._observer(self.succeeded)],
            unit="{invocation}",
            description="Successful invocations.",
        )
        meter.create_observable_counter(
            FAAS_ERRORS, callbacks=[self._observer(self.failed)], unit="{error}", description="Invocations that failed."
        )

    def _observer(self, counts: dict[Any, int]) -> Callable[[CallbackOptions], Iterable[Observation]]:
        attributes: dict[tuple[str, ...], dict[str, str]] = {}  # built once per series

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self.lock:
                items = list(counts.items())
            observations = []
            for key, value in items:
                attrs = attributes.get(key)
                if attrs is None:
                    attrs = attributes[key] = dict(zip(_SERIES_NAMES[: len(key)], key, strict=True))
                observations.append(Observation(value, attrs))
            return observations

        return observe

    def clear(self) -> None:
        """Forget every count (a forked child's: they are its parent's, which reports them itself)."""
        self.active.clear()
        self.succeeded.clear()
        self.failed.clear()


_tallies: weakref.WeakKeyDictionary[Any, _Tallies] = weakref.WeakKeyDictionary()
_tallies_lock = unlocked_in_child(threading.Lock())


def _after_fork_in_child() -> None:
    for tallies in list(_tallies.values()):
        tallies.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _tallies_for(meter: metrics.Meter) -> _Tallies:
    with _tallies_lock:
        tallies = _tallies.get(meter)
        if tallies is None:
            tallies = _tallies[meter] = _Tallies(meter)
        return tallies


class MetricsMiddleware:
    """Counts and times every invocation; its `before` only marks the invocation as in flight."""

    def __init__(self, meter: metrics.Meter) -> None:
        self._duration = meter.create_histogram(
            FAAS_INVOKE_DURATION,
            unit="s",
            description="Duration of the function's invocation, hooks included.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._coldstarts = meter.create_counter(FAAS_COLDSTARTS, unit="{coldstart}", description="Cold starts.")
        tallies = _tallies_for(meter)
        self._lock = tallies.lock
        self._active = tallies.active
        self._succeeded = tallies.succeeded
        self._failed = tallies.failed
        self._attributes: dict[tuple[str, str], dict[str, str]] = {}

    def _attrs(self, key: tuple[str, str]) -> dict[str, str]:
        attrs = self._attributes.get(key)
        if attrs is None:
            attrs = self._attributes[key] = {FAAS_NAME: key[0], FAAS_TRIGGER: key[1]}
        return attrs

    def before(self, invocation: Invocation) -> None:
        key = (invocation.function_name, invocation.trigger.faas_trigger)
        with self._lock:
            self._active[key] = self._active.get(key, 0) + 1
        if invocation.cold_start:
            self._coldstarts.add(1, self._attrs(key))

    def after(self, invocation: Invocation, result: Any) -> None:
        status = http_status_of(result)
        self._end(invocation, str(status) if status is not None and status >= 500 else None)

    def on_error(self, invocation: Invocation, exc: BaseException) -> None:
        self._end(invocation, "abandoned" if isinstance(exc, InvocationAbandoned) else _error_type(exc))

    def _end(self, invocation: Invocation, error_type: str | None) -> None:
        key = (invocation.function_name, invocation.trigger.faas_trigger)
        # As the semantic conventions define them: `faas.invocations` counts the successful ones, `faas.errors`
        # the failed ones (their sum is the duration histogram's count).
        with self._lock:
            self._active[key] = self._active.get(key, 0) - 1
            if error_type is None:
                self._succeeded[key] = self._succeeded.get(key, 0) + 1
            else:
                failed = (*key, error_type)
                self._failed[failed] = self._failed.get(failed, 0) + 1
        self._duration.record((time.time_ns() - invocation.start_ns) / 1e9, self._attrs(key))


def _error_type(exc: BaseException) -> str:
    try:
        qualname = type(exc).__qualname__
    except Exception:
        return "Exception"
    return qualname if type(qualname) is str and len(qualname) <= 256 else "Exception"
