"""A forked child's providers: what it inherited from its parent, made its own.

A child made with `os.fork()` (what `multiprocessing` does by default on Linux before Python 3.14) inherits the
providers of its parent with everything they held at that moment. The SDK restarts their export threads, empties
their span and log queues and updates `process.pid`; funcscope does the rest:
- metric points: each instrument's aggregations hold what the parent recorded since its last export (with
  cumulative temporality, since it started), which the child's first export would send again, and the locks
  guarding them, which another thread of the parent may have held at the fork (a measurement in progress), so the
  child's first measurement would never return. For every SDK meter provider funcscope records into, the child
  drops them; new ones, with new locks, are made at its first measurement.
- `service.instance.id`: for the providers funcscope set up, the child gets one of its own; with the parent's, its
  telemetry would be filed under the parent process. (Providers someone else set up keep the identity they gave.)

The SDK has no public way to do the first; its storage is reached by the attribute names it has had since 1.12,
and a provider of another shape is left as it is, with one warning.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ..shared.diagnostics import report_once
from .resource import SERVICE_INSTANCE_ID, renew_process_instance_id

__all__ = ["drop_metric_points_after_fork", "renew_identity_after_fork"]

# provider -> the fork handlers it has already (configure() may run many times, a handler stays forever)
_registered: weakref.WeakKeyDictionary[Any, set[Callable[[Any], None]]] = weakref.WeakKeyDictionary()
_registered_lock = threading.Lock()


def _once_per_provider(provider: Any, after_fork_in_child: Callable[[Any], None]) -> None:
    # Registered after the provider exists, so it runs after the SDK's own fork handlers (which re-create the
    # locks the SDK's methods take).
    if not hasattr(os, "register_at_fork"):
        return
    with _registered_lock:
        handlers = _registered.setdefault(provider, set())
        if after_fork_in_child in handlers:
            return
        handlers.add(after_fork_in_child)
    ref = weakref.ref(provider)

    def handler() -> None:
        alive = ref()
        if alive is not None:
            try:
                after_fork_in_child(alive)
            except Exception as exc:
                report_once(
                    ("fork", type(alive).__name__, type(exc).__name__),
                    f"could not renew the {type(alive).__name__} in a forked child ({exc!r}); its "
                    "first metric export may repeat the parent's points, or its telemetry carry the parent's "
                    "service.instance.id.",
                )

    os.register_at_fork(after_in_child=handler)


def drop_metric_points_after_fork(meter_provider: Any) -> None:
    """In every forked child, drop what `meter_provider` (an SDK MeterProvider; others are left alone) holds."""
    if hasattr(meter_provider, "_measurement_consumer"):
        _once_per_provider(meter_provider, _drop_metric_points)


def renew_identity_after_fork(*providers: Any) -> None:
    """In every forked child, give `providers` (the ones funcscope set up) a `service.instance.id` of its own."""
    for provider in providers:
        if provider is not None and hasattr(provider, "_update_resource"):
            _once_per_provider(provider, _new_identity)


def _new_identity(provider: Any) -> None:
    from opentelemetry.sdk.resources import Resource

    # One new id per child, whichever provider's handler comes first.
    if _identity_pid[0] != os.getpid():
        _identity_pid[:] = [os.getpid(), renew_process_instance_id()]
    provider._update_resource(Resource({SERVICE_INSTANCE_ID: _identity_pid[1]}))  # what the SDK's handler calls


_identity_pid: list[Any] = [os.getpid(), None]


def _drop_metric_points(meter_provider: Any) -> None:
    consumer = meter_provider._measurement_consumer
    storages = getattr(consumer, "_reader_storages", None)
    if not isinstance(storages, dict):
        raise TypeError(f"{type(meter_provider).__name__} keeps its metrics in an unknown shape")
    consumer._lock = threading.Lock()
    for storage in storages.values():
        storage._lock = threading.RLock()
        for matches in storage._instrument_view_instrument_matches.values():
            for match in matches:
                match._lock = threading.Lock()
                match._attributes_aggregation = {}
