"""One worker in this process: an event loop on its own thread, a sync thread pool, hooks, logs.

This reproduces the worker's concurrency model: each invocation runs in its own task on the
loop, marked with its invocation id; sync functions go to the pool with ``run_in_executor``;
async functions are awaited in the invocation's task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from time import perf_counter
from typing import Any, TypeVar

from ..instrumentation import sigterm
from .context import Context, RetryContext, TraceContext, invocation_local
from .errors import EmulatorError
from .extension_manager import ExtensionManager, set_hook_model
from .http_streaming import HttpStreaming, http_streaming_enabled
from .isolation import ProcessIsolation
from .loader import LoadedFunction, load_app
from .logs import InvocationLogHandler, LogRouter
from .model import Call, FunctionInfo, InvocationResult, Timings
from .tasks import ContextEnabledTask, task_factory

__all__ = ["InProcessRuntime"]

_SHUTDOWN_WAIT_S = 30.0
T = TypeVar("T")
_live_lock = threading.Lock()
_live: InProcessRuntime | None = None


def _is_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true")


class _WorkerPool(concurrent.futures.ThreadPoolExecutor):
    """The sync pool, handing work to a thread that is just finishing rather than starting a new one.

    In the worker, the next invocation arrives a gRPC round trip after the previous one answered, by when the
    previous invocation's pool thread is idle again, so invocations one after another run on one thread. Here
    the next one can be submitted a few microseconds after the previous result, before that thread has told the
    pool it is idle, and the pool would start another thread. So while fewer items run than there are threads,
    `submit` waits (briefly) for a thread to become idle, as it would be by the time the host's next request came.
    Under concurrency (every thread busy) the pool grows exactly as the worker's does.
    """

    _IDLE_WAIT_S = 0.05

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers)
        self._running = 0
        self._running_lock = threading.Lock()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        with self._running_lock:
            self._running += 1
        try:
            return super().submit(self._counted, fn, args, kwargs)
        except BaseException:
            self._finished()
            raise

    def _counted(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            self._finished()

    def _finished(self) -> None:
        with self._running_lock:
            self._running -= 1

    def _adjust_thread_count(self) -> None:
        # Called by submit() with the new item queued: `_running` counts it, so a thread is finishing when fewer
        # items run than there are threads. CPython's ThreadPoolExecutor keeps an idle semaphore for this.
        idle = getattr(self, "_idle_semaphore", None)
        with self._running_lock:
            finishing = self._running <= len(self._threads)
        if idle is not None and finishing and idle.acquire(timeout=self._IDLE_WAIT_S):
            return
        super()._adjust_thread_count()


class _Batch:
    """Calls started from the loop itself, at most ``limit`` at a time, each in its own task; results in order.

    Each call's arguments are built by ``prepare`` as it starts, on the loop, as the worker builds them from each
    request it receives: the batch holds only the calls not started yet, never the arguments of all of them (in a
    long batch those made up most of the process's objects, and every garbage collection walked them).
    """

    def __init__(
        self,
        runtime: InProcessRuntime,
        items: Sequence[Call],
        prepare: Callable[[Call], tuple[Call, dict[str, Any], dict[str, Any]]],
        limit: int,
        submitted: float,
    ) -> None:
        self._runtime = runtime
        self._items = items
        self._prepare = prepare
        self._limit = limit
        self._submitted = submitted
        self._next = 0
        self._running = 0
        self._results: list[Any] = [None] * len(items)
        self.future: concurrent.futures.Future[list[InvocationResult]] = concurrent.futures.Future()

    def start(self) -> None:
        # The first wave was handed over at ``submitted``; later calls are handed over as slots free.
        while self._next < len(self._items) and self._running < self._limit and not self.future.done():
            self._launch(self._submitted)

    def _launch(self, submitted: float) -> None:
        index = self._next
        self._next += 1
        runtime = self._runtime
        if runtime._closed:
            self.future.set_exception(EmulatorError("the Worker is closed"))
            return
        try:
            call, args, outs = self._prepare(self._items[index])
        except BaseException as exc:  # validated before the batch started: only a payload that changed since
            self.future.set_exception(exc)
            return
        coro = runtime._invoke(runtime.functions[call.function_name], call, args, outs, submitted)
        try:
            # The batch's callbacks run in the empty context submit_many starts it in, and a task copies the
            # context it is created in: each invocation starts from nothing, as from the worker's gRPC thread.
            task = runtime._loop.create_task(coro)
        except BaseException as exc:
            coro.close()
            self.future.set_exception(exc)
            return
        self._running += 1
        task.add_done_callback(functools.partial(self._finished, index))

    def _finished(self, index: int, task: asyncio.Task[InvocationResult]) -> None:
        self._running -= 1
        if self.future.done():
            return
        if task.cancelled():
            self.future.cancel()
        elif task.exception() is not None:
            self.future.set_exception(task.exception())
        else:
            self._results[index] = task.result()
            if self._next < len(self._items):
                self._launch(perf_counter())
            elif self._running == 0:
                self.future.set_result(self._results)


class InProcessRuntime:
    """The in-process worker; construct only through :class:`funcscope.emulator.Worker`."""

    def __init__(self, root: Path, *, thread_count: int, classic_hooks: bool, set_env: Any) -> None:
        global _live
        with _live_lock:
            if _live is not None:
                raise EmulatorError(
                    "another in-process Worker is running in this process; close it first "
                    "(the worker allows one dispatcher per process)"
                )
            _live = self
        self.root = root
        self.classic_hooks = classic_hooks
        self.thread_count = thread_count
        self.router = LogRouter()
        self.functions: dict[str, LoadedFunction] = {}
        self._inflight: set[asyncio.Task[Any]] = set()
        self._isolation = ProcessIsolation(root)
        self._handler = InvocationLogHandler(self.router)
        self._root_logger = logging.getLogger()
        self._saved_level = self._root_logger.level
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="worker-event-loop", daemon=True)
        self._pool = _WorkerPool(thread_count)
        self._http: HttpStreaming | None = None
        self._host_pool: concurrent.futures.ThreadPoolExecutor | None = None  # the host's side of HTTP streaming
        self._closed = False
        self._pid = os.getpid()
        self._own_sigterm = False  # the SIGTERM handler was installed for this Worker: close() takes it out
        try:
            set_env("AzureWebJobsScriptRoot", str(root))
            self._isolation.add_to_sys_path()
            self._root_logger.addHandler(self._handler)
            self._root_logger.setLevel(logging.DEBUG if _is_true("PYTHON_ENABLE_DEBUG_LOGGING") else logging.INFO)
            set_hook_model(classic_hooks)
            self._thread.start()
            if threading.current_thread() is threading.main_thread():
                # The worker loads the app on its loop thread, which there is the process's main thread, where the
                # app (funcscope.configure()) can install a SIGTERM handler. Here the loop has a thread of its own,
                # so the handler is installed on the thread that plays the main thread's part: this one.
                had_handler = sigterm.installed()
                sigterm.instrument()
                self._own_sigterm = not had_handler and sigterm.installed()
            # Functions load on the loop thread, as the worker handles load requests there.
            self.functions = self._start(self._load()).result()
            # As the worker at init: with init indexing, an HTTP extension the app imported gets its web server.
            if _is_true("PYTHON_ENABLE_INIT_INDEXING") and http_streaming_enabled():
                self._http = self._start(self._start_http()).result()
                self._host_pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="host-http")
                self._http.wait_until_serving()
        except BaseException:
            self.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------------

    def _start(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` as a task on the loop, starting from an empty contextvars context.

        ``run_coroutine_threadsafe`` would copy the caller's context into the task; the worker's
        tasks start from its gRPC thread, where nothing is set, so a caller's context (say, a test's
        active span) must not leak into invocations.
        """
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def relay(task: asyncio.Task[T]) -> None:
            if task.cancelled():
                result.cancel()
            elif task.exception() is not None:
                result.set_exception(task.exception())
            else:
                result.set_result(task.result())

        def start() -> None:
            try:
                task = self._loop.create_task(coro)
            except BaseException as exc:
                coro.close()
                result.set_exception(exc)
                return
            task.add_done_callback(relay)

        self._loop.call_soon_threadsafe(start, context=contextvars.Context())
        return result

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_task_factory(task_factory)  # type: ignore[arg-type]  # typeshed: also generators
        self._loop.run_forever()

    async def _load(self) -> dict[str, LoadedFunction]:
        def on_loaded(info: FunctionInfo) -> None:
            if self.classic_hooks:
                ExtensionManager.function_load_extension(info.name, info.directory)

        return load_app(self.root, on_loaded)

    async def _start_http(self) -> HttpStreaming:
        return HttpStreaming(asyncio.get_running_loop())

    async def _shutdown(self) -> None:
        me = asyncio.current_task()
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=_SHUTDOWN_WAIT_S)
        others = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=5.0)
        await self._loop.shutdown_asyncgens()
        with contextlib.suppress(asyncio.TimeoutError, RuntimeError):
            await asyncio.wait_for(self._loop.shutdown_default_executor(), timeout=10.0)

    def close(self) -> None:
        global _live
        if self._closed:
            return
        self._closed = True
        try:
            if self._thread.is_alive():
                with contextlib.suppress(Exception):
                    self._start(self._shutdown()).result()
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join()
            if not self._loop.is_running():
                self._loop.close()
            self._pool.shutdown(wait=not self._inflight, cancel_futures=True)
            if self._host_pool is not None:
                self._host_pool.shutdown(wait=False, cancel_futures=True)
        finally:
            set_hook_model(None)
            self._root_logger.removeHandler(self._handler)
            self._root_logger.setLevel(self._saved_level)
            if self._own_sigterm:  # the process goes on after the app: its SIGTERM is its own again
                sigterm.uninstrument()
            self._isolation.restore()
            with _live_lock:
                if _live is self:
                    _live = None

    # -- invocations -------------------------------------------------------------------------

    def submit(
        self, call: Call, args: dict[str, Any], outs: dict[str, Any], submitted: float
    ) -> concurrent.futures.Future[InvocationResult]:
        if self._closed:
            raise EmulatorError("the Worker is closed")
        fn = self.functions[call.function_name]
        return self._start(self._invoke(fn, call, args, outs, submitted))

    def submit_many(
        self,
        items: Sequence[Call],
        prepare: Callable[[Call], tuple[Call, dict[str, Any], dict[str, Any]]],
        limit: int,
        submitted: float,
    ) -> concurrent.futures.Future[list[InvocationResult]]:
        """Run ``items`` with at most ``limit`` in flight, each invocation exactly as :meth:`submit` runs it, its
        arguments built by ``prepare`` as it starts.

        The loop starts the next call when one finishes, so the batch crosses threads once each way
        rather than twice per call.
        """
        if self._closed:
            raise EmulatorError("the Worker is closed")
        batch = _Batch(self, items, prepare, limit, submitted)
        self._loop.call_soon_threadsafe(batch.start, context=contextvars.Context())
        return batch.future

    def _run_sync(
        self, invocation_id: str, ctx: Context, fn: LoadedFunction, args: dict[str, Any], times: list[float]
    ) -> Any:
        # Same steps as the worker's pool-side helper: set the thread-local, run, reset to None.
        ctx.thread_local_storage.invocation_id = invocation_id
        try:
            times[0] = perf_counter()
            try:
                if self.classic_hooks:
                    return ExtensionManager.get_sync_invocation_wrapper(ctx, fn.func)(args)
                return fn.func(**args)
            finally:
                times[1] = perf_counter()
        finally:
            ctx.thread_local_storage.invocation_id = None

    async def _run_async(self, ctx: Context, fn: LoadedFunction, args: dict[str, Any], times: list[float]) -> Any:
        times[0] = perf_counter()
        try:
            if self.classic_hooks:
                return await ExtensionManager.get_async_invocation_wrapper(ctx, fn.func, args)
            return await fn.func(**args)
        finally:
            times[1] = perf_counter()

    async def _invoke(
        self, fn: LoadedFunction, call: Call, args: dict[str, Any], outs: dict[str, Any], submitted: float
    ) -> InvocationResult:
        invocation_id = call.invocation_id or ""
        task = asyncio.current_task()
        if isinstance(task, ContextEnabledTask):
            task.set_azure_invocation_id(invocation_id)
        if task is not None:
            self._inflight.add(task)
        collector = self.router.begin(invocation_id)
        info = fn.info
        times = [0.0, 0.0]
        value: Any = None
        error: BaseException | None = None
        streamed = self._http if self._http is not None and info.trigger_type.lower() == "httptrigger" else None
        sent: asyncio.Future[Any] | None = None
        try:
            ctx = Context(
                info.name,
                info.directory,
                invocation_id,
                invocation_local,
                TraceContext(call.trace_parent or "", call.trace_state, dict(call.trace_attributes or {})),
                RetryContext(max_retry_count=info.max_retry_count)
                if call.retry_context is None
                else call.retry_context,
            )
            # On the loop thread the worker sets this for every invocation and never clears it.
            invocation_local.invocation_id = invocation_id
            if streamed is not None:
                request = args[info.trigger_binding_name]
                sent = self._loop.run_in_executor(
                    self._host_pool,
                    streamed.send,
                    request.method,
                    request.url,
                    dict(request.headers),
                    request.get_body(),
                    invocation_id,
                )
                web_request = await streamed.request_for(invocation_id)
                streamed.synchronizer.sync_route_params(web_request, request.route_params)
                args[info.trigger_binding_name] = web_request
            if info.requires_context:
                args["context"] = ctx
            if info.is_async:
                value = await self._run_async(ctx, fn, args, times)
            else:
                value = await self._loop.run_in_executor(
                    self._pool, self._run_sync, invocation_id, ctx, fn, args, times
                )
            if value is not None and not info.has_return:
                raise RuntimeError(f"function {info.name!r} without a $return binding returned a non-None value")
            if streamed is not None:
                streamed.respond(invocation_id, value)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the host sees any failure as a failed invocation
            error = exc
            value = None
            if streamed is not None:
                streamed.respond(invocation_id, exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
        finally:
            self.router.end(invocation_id)
            if task is not None:
                self._inflight.discard(task)
        if sent is not None:  # the host reads the response to its end, after the invocation itself ended
            value = await sent
        done = perf_counter()
        started = times[0] or done
        ended = times[1] or done
        return InvocationResult(
            invocation_id=invocation_id,
            function_name=info.name,
            value=value,
            exception=error,
            logs=collector.logs,
            unattributed_logs=collector.unattributed,
            timings=Timings(
                queued_s=max(0.0, started - submitted),
                run_s=max(0.0, ended - started),
                total_s=max(0.0, done - submitted),
            ),
            pid=self._pid,
            trace_parent=call.trace_parent or "",
            outputs={name: out.get() for name, out in outs.items()},
        )
