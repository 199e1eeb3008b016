"""A forked child's providers: what it inherited from its parent, made its own.

A child made with `os.fork()` (what `multiprocessing` does by default on Linux before Python 3.14) inherits the
providers funcscope set up in its parent with everything they held at that moment. The SDK restarts their export
threads, empties their span and log queues and updates `process.pid`; for the providers funcscope set up, the
child also gets
- a `service.instance.id` of its own: with the parent's, its telemetry would be filed under the parent process;
- no inherited metric points: each instrument's aggregations hold what the parent recorded since its last export
  (with cumulative temporality, since it started), which the child's first export would send again; they are
  dropped, and the locks guarding them, which another thread of the parent may have held at the fork, re-created.

The SDK has no public way to do the last; its storage is reached by the attribute names it has had since 1.12, and
a provider of another shape is left as it is, with one warning.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from ..shared.diagnostics import report_once
from .resource import SERVICE_INSTANCE_ID, renew_process_instance_id

__all__ = ["renew_after_fork"]


def renew_after_fork(tracer_provider: Any, meter_provider: Any, logger_provider: Any) -> None:
    """Make every forked child give these providers (the ones funcscope set up) an identity and metric state of
    its own. Registered after the providers exist, so it runs after the SDK's own fork handlers."""
    if not hasattr(os, "register_at_fork"):
        return
    refs = [weakref.ref(p) for p in (tracer_provider, meter_provider, logger_provider) if p is not None]

    def after_fork_in_child() -> None:
        providers = [p for p in (ref() for ref in refs) if p is not None]
        if providers:
            _renew(providers, meter_provider=meter_provider if meter_provider in providers else None)

    os.register_at_fork(after_in_child=after_fork_in_child)


def _renew(providers: list[Any], meter_provider: Any) -> None:
    from opentelemetry.sdk.resources import Resource

    identity = Resource({SERVICE_INSTANCE_ID: renew_process_instance_id()})
    try:
        for provider in providers:
            update = getattr(provider, "_update_resource", None)  # what the SDK's own fork handler calls
            if update is not None:
                update(identity)
        if meter_provider is not None:
            _drop_metric_points(meter_provider)
    except Exception as exc:
        report_once(
            ("fork", "providers", type(exc).__name__),
            f"funcscope: could not renew the providers in a forked child ({exc!r}); its telemetry may carry the "
            "parent's service.instance.id, and its first metric export may repeat the parent's points.",
        )


def _drop_metric_points(meter_provider: Any) -> None:
    consumer = getattr(meter_provider, "_measurement_consumer", None)
    storages = getattr(consumer, "_reader_storages", None)
    if consumer is None or not isinstance(storages, dict):
        raise TypeError(f"{type(meter_provider).__name__} keeps its metrics in an unknown shape")
    consumer._lock = threading.Lock()
    for storage in storages.values():
        storage._lock = threading.RLock()
        for matches in storage._instrument_view_instrument_matches.values():
            for match in matches:
                match._lock = threading.Lock()
                match._attributes_aggregation = {}
