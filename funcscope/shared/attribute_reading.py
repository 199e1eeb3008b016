"""Reading the worker's objects defensively: their shape differs between worker versions and the SDK's
documentation (and tests hand in odd ones), and a telemetry helper must never raise into an invocation."""

from __future__ import annotations

__all__ = ["read_attribute"]


def read_attribute(obj: object, *names: str) -> object:
    """The first of `names` that `obj` has with a value other than None; None when none has one.

    A property that raises anything but `KeyboardInterrupt` (e.g. the SDK's `RetryContext.exception` on the
    worker) counts as missing.
    """
    for name in names:
        try:
            value = getattr(obj, name)
        except KeyboardInterrupt:
            raise
        except BaseException:
            continue
        if value is not None:
            return value
    return None
