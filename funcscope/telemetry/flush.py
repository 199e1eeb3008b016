"""Getting telemetry out of the process: soon after each invocation, at the end of each one when asked, and at
stop. It works on the providers funcscope emits into, whoever created them (funcscope, the Azure Monitor distro,
the app itself).

- Export delay: the SDK's batch processors wait `OTEL_BSP_SCHEDULE_DELAY` (spans) and `OTEL_BLRP_SCHEDULE_DELAY`
  (logs) before they export, 5 s unless set. `set_export_delay_defaults()` sets both, where the app has not, before
  providers are created, so an invocation's spans and logs leave within about a second of its end.
- Idle flush: once no invocation has ended for that long, every provider is flushed, so what waits longer (metrics,
  exported every `OTEL_METRIC_EXPORT_INTERVAL`, 60 s by default; spans of a provider created before funcscope could
  set its delay) leaves too, once per burst of invocations rather than once per invocation.
- `flush()` and `shutdown()` wait at most `flush_timeout_ms`. The SDK's own `force_flush`/`shutdown` do not keep
  to their timeouts (they wait for the exporter, whose own timeout and retries can take many seconds against a
  backend that is down or slow), so funcscope runs them on a daemon thread and stops waiting when the time is up.
  A flush still blocked in an exporter past its time makes the next ones return at once: they would only queue
  behind it. That thread is started with the providers, not at the flush: the last flush runs at interpreter exit,
  where Python 3.12.0 and 3.12.1 refuse to start threads.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import queue
import threading
from collections.abc import Callable
from time import monotonic
from typing import Any

from ..shared.diagnostics import report_once
from . import drops

__all__ = ["BoundedFlush", "EXPORT_DELAY_SETTINGS", "set_export_delay_defaults"]

EXPORT_DELAY_SETTINGS = ("OTEL_BSP_SCHEDULE_DELAY", "OTEL_BLRP_SCHEDULE_DELAY")


def set_export_delay_defaults(delay_ms: int) -> None:
    """Make batch processors created from now on export every `delay_ms`, unless the app set their delays."""
    for name in EXPORT_DELAY_SETTINGS:
        if not os.environ.get(name, "").strip():
            os.environ[name] = str(delay_ms)


def _global_logger_provider() -> Any:
    from opentelemetry import _logs

    return _logs.get_logger_provider()


class BoundedFlush:
    """Flushing that never waits longer than `flush_timeout_ms`, mixed into `Telemetry`, which holds the providers
    (`_tracer_provider`, `_meter_provider`, `_logger_provider`) and those funcscope created itself (`_owned`). The
    global logger provider is flushed with them, whoever configured it."""

    flush_timeout_ms: int
    meter: Any
    _owned: list[Any]
    _tracer_provider: Any
    _meter_provider: Any
    _logger_provider: Any
    _last_job: _FlushJob | None = None  # the latest flush, running, queued or done
    _ended_at = 0.0  # when the latest invocation ended (monotonic seconds)
    _idle_s = 1.0
    _idle_pending = False  # an idle flush is scheduled

    def after_fork_in_child(self) -> None:
        """In a forked child: forget the parent's latest flush and idle flush (the child has no thread doing them,
        so they would never end and block every flush of the child)."""
        self._last_job = None
        self._idle_pending = False

    def flush(self, timeout_ms: int | None = None) -> bool:
        """Push buffered telemetry out, waiting at most `timeout_ms` (default: the configured flush timeout).

        True when the flush ended in time; False when the time ran out or an earlier flush is still stuck in an
        exporter. Whether every export succeeded is `delivered()`'s to say. `flush(0)` starts a flush and returns
        without waiting.
        """
        timeout = self.flush_timeout_ms if timeout_ms is None else timeout_ms
        return self._bounded(lambda: self._flush_providers(self.flush_timeout_ms if timeout == 0 else timeout), timeout)

    def shutdown(self) -> None:
        """Flush and shut down the providers funcscope created (providers it reused are left alone), waiting at
        most the configured flush timeout."""

        def flush_and_shut_down() -> bool:
            ok = self._flush_providers(self.flush_timeout_ms)
            for provider in self._owned:
                try:
                    provider.shutdown()
                except Exception as exc:
                    report_once(("telemetry", "shutdown", type(exc).__name__), f"shutdown failed: {exc!r}")
            return ok

        self._bounded(flush_and_shut_down, self.flush_timeout_ms)

    def delivered(self) -> bool | None:
        """How the latest flush went: True when it ended in time and no export failed while it ran, False when
        it did not, None while it runs (or before any)."""
        job = self._last_job
        return None if job is None or not job.done.is_set() else job.outcome and not job.export_failed

    def watch_drops(self) -> None:
        """Count what the exporters of these providers fail to deliver, and report it (see `drops`)."""
        drops.watch(self._tracer_provider, self._meter_provider, self.meter, self._logger_provider)

    def flush_when_idle(self, idle_s: float) -> None:
        """Note that an invocation ended: flush once no other has ended for `idle_s` seconds.

        Runs at the end of every invocation, so it only reads the clock and sets a flag; the flush thread waits.
        """
        self._ended_at = monotonic()
        if not self._idle_pending:
            self._idle_pending = True
            self._idle_s = idle_s
            _flusher.call_at(self._ended_at + idle_s, self._flush_if_idle)

    def _flush_if_idle(self) -> None:
        # On the flush thread, when the gap may have passed: flush, or look again when the latest end is old enough.
        due = self._ended_at + self._idle_s
        if monotonic() < due:
            _flusher.call_at(due, self._flush_if_idle)
            return
        self._idle_pending = False
        ended = self._ended_at
        job = _FlushJob(lambda: self._flush_providers(self.flush_timeout_ms), self.flush_timeout_ms)
        self._last_job = job
        _flusher.run(job)
        if self._ended_at != ended and not self._idle_pending:  # one ended meanwhile and may have found the flag set
            self._idle_pending = True
            _flusher.call_at(self._ended_at + self._idle_s, self._flush_if_idle)

    def _providers(self) -> list[tuple[Any, bool]]:
        """(provider, whether its outcome counts): the ones funcscope emits into count; the global logger provider
        of someone else's (the app's records) is flushed too, for what it holds, but answers for itself."""
        providers = [(self._tracer_provider, True), (self._meter_provider, True), (self._logger_provider, True)]
        global_logs = _global_logger_provider()
        if all(global_logs is not p for p, _ in providers):
            providers.append((global_logs, False))
        return providers

    def _flush_providers(self, timeout_ms: int) -> bool:
        ok = True
        for provider, counts in self._providers():
            force_flush = getattr(provider, "force_flush", None)
            if force_flush is None:
                continue
            try:
                flushed = bool(force_flush(timeout_millis=timeout_ms))
            except Exception as exc:
                report_once(("telemetry", "flush", type(exc).__name__), f"flush failed: {exc!r}")
                flushed = False
            ok = ok and (flushed or not counts)
        return ok

    def _bounded(self, work: Callable[[], bool], timeout_ms: int) -> bool:
        # An earlier flush still blocked in an exporter holds the processors' export locks: a new one would only
        # queue behind it, so waiting again would add to the delay without sending anything.
        last = self._last_job
        if last is not None and last.stuck():
            return False
        job = _FlushJob(work, timeout_ms or self.flush_timeout_ms)
        self._last_job = job
        if not _flusher.submit(job):  # no thread can be had (e.g. this late in interpreter exit): flush here
            _flusher.run(job)
            return job.outcome
        if not job.done.wait(timeout_ms / 1000):
            if timeout_ms > 0:
                report_once(
                    ("telemetry", "flush-timeout"),
                    f"exporting telemetry took longer than flush_timeout_ms={timeout_ms}; stopped "
                    "waiting, so spans and metrics not yet exported may be lost (is the exporter's endpoint slow "
                    "or down?).",
                )
            return False
        return job.outcome


class _FlushJob:
    __slots__ = ("work", "done", "outcome", "export_failed", "deadline")

    def __init__(self, work: Callable[[], bool], timeout_ms: int) -> None:
        self.work = work
        self.done = threading.Event()
        self.outcome = False
        self.export_failed = False  # an export failed while it ran (its own or the batch processors')
        self.deadline = monotonic() + timeout_ms / 1000

    def stuck(self) -> bool:
        """Still running (or queued) past the time it was given."""
        return not self.done.is_set() and monotonic() > self.deadline


class _Flusher:
    """One daemon thread that runs flushes, so whoever asked can stop waiting while an exporter still blocks, and
    the calls scheduled with `call_at` (idle flushes)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_FlushJob | tuple[float, Callable[[], None]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> bool:
        """Start the thread unless it runs; False when no thread can be started now."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return True
            thread = threading.Thread(target=self._serve, name="funcscope-flush", daemon=True)
            try:
                # An empty context: the thread serves the whole process, never the invocation that started it.
                contextvars.Context().run(thread.start)
            except RuntimeError:
                return False
            self._thread = thread
            return True

    def submit(self, job: _FlushJob) -> bool:
        if not self.start():
            return False
        self._jobs.put(job)
        return True

    def call_at(self, when: float, call: Callable[[], None]) -> None:
        """Have the flush thread run `call` at monotonic time `when` (dropped when no thread can be started)."""
        if self.start():
            self._jobs.put((when, call))

    def run(self, job: _FlushJob) -> None:
        try:
            failed_before = drops.export_failures()
            job.outcome = bool(job.work())
            job.export_failed = drops.export_failures() != failed_before
        except Exception as exc:
            report_once(("telemetry", "flush", type(exc).__name__), f"flush failed: {exc!r}")
        finally:
            job.done.set()

    def _serve(self) -> None:
        timers: list[tuple[float, int, Callable[[], None]]] = []
        order = itertools.count()  # ties in time keep their order, and calls are never compared
        while True:
            timeout = max(0.0, timers[0][0] - monotonic()) if timers else None
            try:
                item = self._jobs.get(timeout=timeout)
            except queue.Empty:
                item = None
            if isinstance(item, _FlushJob):
                self.run(item)
            elif item is not None:
                heapq.heappush(timers, (item[0], next(order), item[1]))
            while timers and timers[0][0] <= monotonic():
                _, _, call = heapq.heappop(timers)
                try:
                    call()
                except Exception as exc:
                    report_once(("telemetry", "flush", type(exc).__name__), f"flush failed: {exc!r}")


_flusher = _Flusher()


def _after_fork_in_child() -> None:
    # The flush thread does not exist in a forked child, and its queue and lock are as it left them: start afresh,
    # in place (other modules hold this object).
    _flusher.__init__()  # type: ignore[misc]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
