"""The invocation runner: turns the worker's hook calls into one pipeline run per invocation.

Every entry point (the app-level extension, the function-level extension, the classic worker's on-error patch)
calls `start`, `finish` or `fail` here. The runner owns what must be decided once per process: the settings,
the per-function options and pipelines, the trigger of each function, and the invocations in flight.

Leaks are the enemy. The worker reuses its pool threads, and when the user's function raises it runs no post
hook, so an invocation can be left "current" on a thread. The runner therefore ends such an invocation (with
`on_error` and an `InvocationAbandoned`) as soon as it can tell: at the next start on the same thread, when an
async invocation's task finishes, or at `shutdown()`.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import threading
from asyncio import _get_running_loop
from collections.abc import Callable, Mapping, Sequence
from contextvars import Token
from typing import Any

from opentelemetry import metrics, trace

from ..instrumentation import durable, http_streaming, outgoing, processes, sigterm, threads
from ..instrumentation.logging import install_log_enrichment, uninstall_log_enrichment
from ..middleware.durable import DurableMiddleware
from ..middleware.flush import IdleFlushMiddleware, InvocationFlushMiddleware
from ..middleware.metrics import MetricsMiddleware
from ..middleware.retry import RetryMiddleware
from ..middleware.tracing import TraceMiddleware
from ..shared.current import current_invocation
from ..shared.diagnostics import forget_reports, report_once
from ..shared.invocation import Invocation, InvocationAbandoned
from ..shared.pipeline import Pipeline
from ..shared.settings import DEFAULT_FUNCTION_OPTIONS, FunctionOptions, Settings, export_delay_ms
from ..shared.triggers import UNKNOWN_TRIGGER, TriggerCache
from ..shared.values import safe_str
from ..telemetry import drops
from ..telemetry.setup import Telemetry, setup_telemetry

__all__ = ["InvocationAbandoned", "InvocationRunner", "get_runner", "replace_runner", "reset_runner"]


class _Active:
    __slots__ = ("invocation", "pipeline", "owner", "token", "sync_thread", "task", "on_task_done")

    def __init__(
        self, invocation: Invocation, pipeline: Pipeline, owner: object, token: Token[Any], sync_thread: int | None
    ) -> None:
        self.invocation = invocation
        self.pipeline = pipeline
        self.owner = owner
        self.token = token
        self.sync_thread = sync_thread  # the pool thread a sync invocation runs on; None for async ones
        self.task: asyncio.Task[Any] | None = None  # an async invocation's task, watched until the end is reported
        self.on_task_done: Any = None


class InvocationRunner:
    """Runs the pipeline for each invocation the worker reports; every public method is safe to call from a
    hook: it never raises, it reports a problem once."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings if settings is not None else Settings.from_env()
        self._configured = False  # the app called configure()
        _apply_process_wide(self._settings, configured=False)
        self._function_options: dict[str, FunctionOptions] = {}
        self._pipelines: dict[str, tuple[FunctionOptions, Pipeline]] = {}
        # Built by configure(), or at the first invocation when the app never calls it: creating the runner
        # (e.g. by a FunctionScope at import) must not set providers up before the app's options arrive.
        self._telemetry: Telemetry | None = None
        self._base: Pipeline | None = None
        self._triggers = TriggerCache()
        self._active: dict[int, _Active] = {}  # by id() of the worker's context object
        self._invocation_count = itertools.count()
        self._lock = threading.RLock()

    # -- configuration (app start-up; may raise on invalid options) ----------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def configured(self) -> bool:
        """Whether the app called `configure()` (else the settings are the app settings, and what `update()` set)."""
        return self._configured

    def configure(self, **options: Any) -> Settings:
        """Apply `configure()` options on top of the current settings and build the pipeline with them."""
        settings = self._settings.with_options(**options)
        with self._lock:
            self._settings = settings
            self._configured = True
            _apply_process_wide(settings, configured=True)
            self._build()
        return settings

    def update(self, **options: Any) -> Settings:
        """Apply options like `configure()`, but set nothing up that `configure()` or the first invocation would
        not have set up anyway: the pipeline is rebuilt only if it was built already. For what an extension or an
        integration needs of the pipeline as the app is imported, before the app's own `configure()`."""
        with self._lock:
            self._settings = self._settings.with_options(**options)
            if self._base is not None:
                _apply_process_wide(self._settings, configured=self._configured)
                self._build()
            return self._settings

    def _build(self) -> Pipeline:
        with self._lock:
            self._base = Pipeline(self._middlewares(self._settings), self._settings.middleware_budget_ms / 1000)
            self._pipelines = {}
            _instrument_outgoing(self._settings, self.telemetry)
            if self._settings.enabled:  # its replay spans come from the pipeline's tracer
                durable.instrument(self._settings.durable_replays, self.telemetry.tracer)
            return self._base

    def set_function_options(self, function_name: str, options: FunctionOptions) -> None:
        with self._lock:
            self._function_options[function_name] = options
            self._pipelines.pop(function_name, None)

    def ensure_function_options(self, function_name: str, options: FunctionOptions) -> None:
        """Set a function's options unless it has some already (called per invocation: one dict lookup)."""
        if function_name not in self._function_options:
            self.set_function_options(function_name, options)

    def function_options(self, function_name: str) -> FunctionOptions:
        return self._function_options.get(function_name, DEFAULT_FUNCTION_OPTIONS)

    @property
    def telemetry(self) -> Telemetry:
        """The tracer and meter the pipeline emits with (set up now if no invocation or configure() did yet)."""
        if self._telemetry is None:
            self._build()
        assert self._telemetry is not None
        return self._telemetry

    def _middlewares(self, settings: Settings) -> Sequence[Any]:
        # The one place that knows the order of features. The flush comes first, so it runs when everything else
        # has recorded the invocation; then the span, the first thing opened and the last thing closed; the
        # user's own middlewares come last, inside everything else.
        if not settings.enabled:
            # Nothing runs, so nothing is set up: no providers, exporters or warnings about them.
            self._telemetry = Telemetry(trace.NoOpTracer(), metrics.NoOpMeter("funcscope"), "disabled")
            return []
        delay_ms = export_delay_ms()  # the batch processors' delay, which the providers funcscope sets up get too
        telemetry = self._telemetry = setup_telemetry(
            tracer_provider=settings.tracer_provider,
            meter_provider=settings.meter_provider,
            logger_provider=settings.logger_provider,
            exporter=settings.exporter,
            service_name=settings.service_name,
            flush_timeout_ms=settings.flush_timeout_ms,
            want_metrics=settings.metrics,
            logs=settings.logs,
            azure_monitor_storage=settings.azure_monitor_storage,
            connection_string=settings.connection_string,
            credential=settings.credential,
        )
        telemetry.watch_drops()
        stack: list[Any] = [
            InvocationFlushMiddleware(telemetry)
            if settings.flush == "invocation"
            else IdleFlushMiddleware(telemetry, delay_ms)
        ]
        if settings.tracing:
            stack.append(TraceMiddleware(telemetry.tracer, settings.sample_ratio, settings.span_kind))
        if settings.metrics:
            stack.append(MetricsMiddleware(telemetry.meter))
        stack.append(RetryMiddleware(telemetry.meter))
        stack.append(DurableMiddleware())
        if settings.opencensus:  # the OpenCensus drop-in's context.tracer; opencensus is an optional dependency
            from ..middleware.opencensus import OpenCensusMiddleware

            stack.append(OpenCensusMiddleware(telemetry.tracer_provider))
        stack.extend(settings.middleware)
        return stack

    def pipeline_for(self, function_name: str) -> Pipeline:
        return self._prepared(function_name)[1]

    def _prepared(self, function_name: str) -> tuple[FunctionOptions, Pipeline]:
        # What start() needs of a function, in one lookup per invocation.
        prepared = self._pipelines.get(function_name)
        if prepared is None:
            base = self._base
            if base is None:
                with self._lock:  # first invocations may arrive together on several threads: build once
                    base = self._base if self._base is not None else self._build()
            options = self.function_options(function_name)
            prepared = self._pipelines[function_name] = (options, base + options.middleware)
        return prepared

    # -- the worker's calls ----------------------------------------------------------------------------------

    def function_loaded(self, function_name: str, function_directory: str) -> None:
        """A function was loaded (the worker's load hooks): learn its trigger from function.json if it has one."""
        try:
            self._triggers.learn_from_directory(function_name, function_directory)
        except Exception as exc:
            report_once(
                ("runner", "load", type(exc).__name__),
                f"could not inspect {function_name}: {safe_str(exc)}",
                exc=exc,
            )

    def start(self, context: Any, func_args: Mapping[str, object] | None, owner: object) -> Invocation | None:
        """Begin an invocation: build its snapshot, make it current and run every `before`.

        Returns None (and does nothing) when funcscope is disabled or the invocation was already started by an
        outer scope, e.g. the app-level extension before a function-level one.

        An invocation is the worker's `context` object, which every hook of one invocation receives: two in flight
        at once with the same invocation id (a host that sends one twice) are two invocations, each with its own
        span and its own end.
        """
        if not self._settings.enabled:
            return None
        try:
            key = id(context)
            if key in self._active and self._active[key].invocation.context is context:
                return None
            on_loop = _get_running_loop() is not None
            if not on_loop:
                stale = current_invocation.get()
                if stale is not None:
                    self._abandon_if_left_on_this_thread(stale)
            invocation = Invocation(context, func_args, UNKNOWN_TRIGGER, cold_start=next(self._invocation_count) == 0)
            options, pipeline = self._prepared(invocation.function_name)
            invocation.options = options
            invocation.trigger = self._triggers.get(invocation.function_name, invocation.func_args)
            token = current_invocation.set(invocation)
            active = _Active(invocation, pipeline, owner, token, None if on_loop else threading.get_ident())
            self._active[key] = active
            if on_loop:
                self._watch_task(key, active)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            report_once(
                ("runner", "start", type(exc).__name__),
                f"could not start an invocation: {safe_str(exc)}",
                exc=exc,
            )
            return None
        pipeline.before(invocation)
        return invocation

    def finish(self, context: Any, result: Any, owner: object) -> None:
        """End an invocation whose function returned `result`: run every `after` and restore the context."""
        active = self._pop(context, owner)
        if active is not None:
            try:
                active.pipeline.after(active.invocation, result)
            finally:
                active.invocation.ended = True
                _reset(active.token)

    def fail(self, context: Any, error: BaseException) -> None:
        """End an invocation whose function raised `error` (whoever started it): run every `on_error`."""
        active = self._pop(context, None)
        if active is not None:
            try:
                active.pipeline.on_error(active.invocation, error)
            finally:
                active.invocation.ended = True
                _reset(active.token)

    def shutdown(self) -> None:
        """End every invocation still in flight (the worker is stopping): each gets `on_error`; then flush."""
        self._end_in_flight()
        if self._telemetry is not None:
            self._telemetry.flush()

    def stop(self) -> None:
        """The process is going away (interpreter exit, SIGTERM): end every invocation still in flight, then flush
        and shut down the providers funcscope set up, within `flush_timeout_ms`, and report what was lost."""
        self._end_in_flight()
        if self._telemetry is not None:
            self._telemetry.shutdown()
        drops.report_pending()

    def _end_in_flight(self) -> None:
        for key in list(self._active):
            active = self._active.pop(key, None)
            if active is not None:
                _end_elsewhere(active, "worker shut down during the invocation")

    def in_flight(self) -> int:
        return len(self._active)

    # -- internals -------------------------------------------------------------------------------------------

    def _pop(self, context: Any, owner: object | None) -> _Active | None:
        try:
            key = id(context)
            active = self._active.get(key)
            if active is None or active.invocation.context is not context:
                return None
            if owner is not None and active.owner is not owner:
                return None
            active = self._active.pop(key, None)
            if active is not None and active.task is not None:
                active.task.remove_done_callback(active.on_task_done)
            return active
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            report_once(
                ("runner", "pop", type(exc).__name__),
                f"could not end an invocation: {safe_str(exc)}",
                exc=exc,
            )
            return None

    def _abandon_if_left_on_this_thread(self, stale: Invocation) -> None:
        # A sync invocation that started on this very thread is still current: its function raised on a
        # worker that runs no post hook then, and the pool reuses the thread. End it here, in its own context,
        # so it cannot leak further. An invocation that is merely carried here (propagated into a thread its
        # code started) is not stale: the new one nests inside it and restores it when it ends.
        key = id(stale.context)
        active = self._active.get(key)
        if active is None or active.invocation is not stale or active.sync_thread != threading.get_ident():
            return
        del self._active[key]
        try:
            active.pipeline.on_error(
                stale, InvocationAbandoned("the worker never reported the end of the invocation", in_own_context=True)
            )
        finally:
            stale.ended = True
            _reset(active.token)

    def _watch_task(self, key: int, active: _Active) -> None:
        # An async invocation's context dies with its task; if the task ends before the end was reported,
        # end the invocation then. The callback is taken off again when the end is reported (see _pop), which
        # is cheaper than letting every task run it.
        task = asyncio.current_task()
        if task is not None:
            active.task = task
            active.on_task_done = lambda _task: self._task_done(key)
            task.add_done_callback(active.on_task_done)

    def _task_done(self, key: int) -> None:
        active = self._active.pop(key, None)
        if active is not None:
            _end_elsewhere(active, "the invocation's task ended before its end was reported")

    def _after_fork_in_child(self) -> None:
        # The child is a process of its own: the parent's invocations in flight are the parent's to end and
        # export (ended here they would be exported twice, as abandoned), and a lock another thread held at the
        # fork would never be released.
        self._lock = threading.RLock()
        self._active = {}
        if self._telemetry is not None:
            self._telemetry.after_fork_in_child()


def _end_elsewhere(active: _Active, reason: str) -> None:
    # Ended outside the invocation's own context (a task's done callback, shutdown): nothing there to reset.
    try:
        active.pipeline.on_error(active.invocation, InvocationAbandoned(reason, in_own_context=False))
    finally:
        active.invocation.ended = True


def _apply_process_wide(settings: Settings, configured: bool) -> None:
    # Function wrapping, propagation, log enrichment and child processes patch process-wide things (how the worker
    # loads functions, threading, concurrent.futures, the log record factory, multiprocessing), so they are
    # switched here, once per configuration, not per invocation. Every function is wrapped once the app called
    # configure(), as the app-level extension runs for every function once configure() registered it. Function
    # wrapping builds on this module, hence imported here.
    from ..instrumentation import function_wrapping

    if configured and settings.enabled:
        function_wrapping.instrument()
    else:
        function_wrapping.uninstrument()
    if settings.enabled:  # a streamed HTTP response stays in its invocation until its body ends
        http_streaming.instrument()
    else:
        http_streaming.uninstrument()
        durable.uninstrument()  # else instrumented with the pipeline's tracer (see _build)
    if settings.enabled and settings.propagation:
        threads.instrument()
    else:
        threads.uninstrument()
    if settings.enabled:
        processes.instrument()
    else:
        processes.uninstrument()
    if settings.enabled and (settings.log_enrichment or settings.propagation):
        install_log_enrichment(fields=settings.log_enrichment)  # propagation needs the factory too (see there)
    else:
        uninstall_log_enrichment()
    if not (settings.enabled and settings.instrument):
        outgoing.uninstrument()  # else instrumented with the providers, once they are set up (see _build)


def _instrument_outgoing(settings: Settings, telemetry: Telemetry) -> None:
    # Outgoing calls emit to the providers the pipeline emits to, so they are instrumented once they are known.
    outgoing.instrument(
        settings.instrument if settings.enabled else (), telemetry.tracer_provider, telemetry.meter_provider
    )


def _reset(token: Token[Any]) -> None:
    try:  # noqa: SIM105 - contextlib.suppress would cost a context manager per invocation
        current_invocation.reset(token)
    except ValueError:
        pass  # ended from another context (a task callback, shutdown): there is nothing here to restore


_runner: InvocationRunner | None = None
_runner_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _runner_lock
    _runner_lock = threading.Lock()
    if _runner is not None:
        _runner._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_runner() -> InvocationRunner:
    """The process's runner, created on first use from the app settings."""
    global _runner
    runner = _runner
    if runner is None:
        with _runner_lock:
            if _runner is None:
                _runner = InvocationRunner()
                # Created when the app is imported, which the workers do on their main thread: the one thread
                # where Python lets a SIGTERM handler be installed.
                atexit.register(_stop_at_exit)
                sigterm.instrument(_stop_on_sigterm)
            runner = _runner
    return runner


def reset_runner(settings: Settings | None = None) -> InvocationRunner:
    """Shut the current runner down and start afresh (re-reading app settings unless `settings` is given).

    For tests and for tools that host several apps in one process; a function app never needs it.
    """
    global _runner
    with _runner_lock:
        old, _runner = _runner, InvocationRunner(settings)
    if old is not None:
        old.shutdown()
    forget_reports()
    return _runner


def replace_runner(settings: Settings) -> Callable[[], None]:
    """Put a runner with `settings` in place of the current one; call the function returned to put the previous
    one back (a fresh runner with its settings, or none if there was none), process-wide patches included.

    For tools that host an app for a while in a process that goes on afterwards (a test, a benchmark).
    """
    global _runner
    had_runner = _runner is not None
    previous = get_runner().settings

    def restore() -> None:
        global _runner
        # A disabled runner undoes the process-wide patches (thread propagation, the log record factory).
        reset_runner(Settings(enabled=False, propagation=False, log_enrichment=False))
        if had_runner:
            reset_runner(previous)
        else:
            with _runner_lock:
                _runner = None

    reset_runner(settings)
    return restore


def _stop_at_exit() -> None:
    if _runner is not None:
        _runner.stop()


def _stop_on_sigterm(process_stops: bool) -> None:
    # The process dies right after this unless an earlier handler (which runs next) keeps it going; then the
    # exit handler stops the runner later, and a flush is all that is needed now.
    runner = _runner
    if runner is None:
        return
    if process_stops:
        runner.stop()
    elif runner._telemetry is not None:
        runner._telemetry.flush()
