"""Bounded flushing of the providers funcscope emits into.

`flush()` and `shutdown()` wait at most `flush_timeout_ms`. The SDK's own `force_flush`/`shutdown` do not keep to
their timeouts (they wait for the exporter, whose own timeout and retries can take many seconds against a backend
that is down or slow), so funcscope runs them on a daemon thread and stops waiting when the time is up. That thread
is started with the providers, not at the flush: the last flush runs at interpreter exit, where Python 3.12.0 and
3.12.1 refuse to start threads.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

from ..shared.diagnostics import report_once

__all__ = ["BoundedFlush"]


class BoundedFlush:
    """Flushing that never waits longer than `flush_timeout_ms`, mixed into `Telemetry`, which holds the providers
    (`_tracer_provider`, `_meter_provider`, `_logger_provider`) and those funcscope created itself (`_owned`)."""

    flush_timeout_ms: int
    _owned: list[Any]
    _tracer_provider: Any
    _meter_provider: Any
    _logger_provider: Any
    _stuck: _FlushJob | None  # a flush that outlived its timeout, still waiting on an exporter

    def flush(self, timeout_ms: int | None = None) -> bool:
        """Push buffered telemetry out, waiting at most `timeout_ms` (default: the configured flush timeout)."""
        timeout = self.flush_timeout_ms if timeout_ms is None else timeout_ms
        return self._bounded(lambda: self._flush_providers(timeout), timeout)

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

    def _flush_providers(self, timeout_ms: int) -> bool:
        ok = True
        for provider in (self._tracer_provider, self._meter_provider, self._logger_provider):
            force_flush = getattr(provider, "force_flush", None)
            if force_flush is None:
                continue
            try:
                ok = bool(force_flush(timeout_millis=timeout_ms)) and ok
            except Exception as exc:
                report_once(("telemetry", "flush", type(exc).__name__), f"flush failed: {exc!r}")
                ok = False
        return ok

    def _bounded(self, work: Callable[[], bool], timeout_ms: int) -> bool:
        # An earlier flush still blocked in an exporter holds the processors' export locks: a new one would only
        # queue behind it, so waiting again would add to the delay without sending anything.
        stuck = self._stuck
        if stuck is not None and not stuck.done.is_set():
            return False
        job = _FlushJob(work)
        if not _flusher.submit(job):  # no thread can be had (e.g. this late in interpreter exit): flush here
            return work()
        if not job.done.wait(timeout_ms / 1000):
            self._stuck = job
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
    __slots__ = ("work", "done", "outcome")

    def __init__(self, work: Callable[[], bool]) -> None:
        self.work = work
        self.done = threading.Event()
        self.outcome = False


class _Flusher:
    """One daemon thread that runs flushes, so whoever asked can stop waiting while an exporter still blocks."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_FlushJob] = queue.SimpleQueue()
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

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job.outcome = bool(job.work())
            except Exception as exc:
                report_once(("telemetry", "flush", type(exc).__name__), f"flush failed: {exc!r}")
            finally:
                job.done.set()


_flusher = _Flusher()
