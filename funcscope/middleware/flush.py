"""The flush middlewares: get an invocation's telemetry on its way once everything else has recorded it.

They come first in the pipeline, so their `after`/`on_error` run last, when the span has ended and the metrics are
recorded. One of the two runs, by the `flush` setting:
- `IdleFlushMiddleware` ("background", the default): notes the end; the flush thread flushes once the process has
  been idle for the export delay. An invocation never waits for it.
- `InvocationFlushMiddleware` ("invocation"): flushes at the end of every invocation and waits for it, at most
  `flush_timeout_ms`, for plans where the process may be frozen or stopped right after its last response. When
  a flush runs out of time or an export fails, later invocations stop waiting: each starts a flush that runs on
  its own until one gets through, and then they wait again. So a backend that is down or slow costs at most one
  invocation the wait, not every one.
"""

from __future__ import annotations

from typing import Any

from ..shared.invocation import Invocation
from ..telemetry.flush import BoundedFlush

__all__ = ["IdleFlushMiddleware", "InvocationFlushMiddleware"]


class IdleFlushMiddleware:
    """Flushes once no invocation has ended for `idle_ms` (per invocation: a clock read and a flag)."""

    def __init__(self, telemetry: BoundedFlush, idle_ms: int) -> None:
        self._telemetry = telemetry
        self._idle_s = idle_ms / 1000

    def after(self, invocation: Invocation, result: Any) -> None:
        self._telemetry.flush_when_idle(self._idle_s)

    def on_error(self, invocation: Invocation, exc: BaseException) -> None:
        self._telemetry.flush_when_idle(self._idle_s)


class InvocationFlushMiddleware:
    """Flushes at the end of every invocation, waiting at most `flush_timeout_ms`."""

    def __init__(self, telemetry: BoundedFlush) -> None:
        self._telemetry = telemetry
        self._waiting = True  # False while the backend does not answer in time

    def after(self, invocation: Invocation, result: Any) -> None:
        self._flush()

    def on_error(self, invocation: Invocation, exc: BaseException) -> None:
        self._flush()

    def _flush(self) -> None:
        telemetry = self._telemetry
        if self._waiting:
            telemetry.flush()
            self._waiting = telemetry.delivered() is True  # not when it ran out of time or an export failed
            return
        delivered = telemetry.delivered()
        if delivered is None:
            return  # the flush started earlier is still out; this invocation's telemetry goes with the next one
        if delivered:
            telemetry.flush()  # the backend answers again
            self._waiting = telemetry.delivered() is True
        else:
            telemetry.flush(0)
