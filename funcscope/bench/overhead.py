"""Per-invocation overhead: the worker's hook path, driven directly, in each configuration.

The emulator's `Worker.invoke_many` hands every invocation across threads, which costs several times what the
instrumentation does, so overhead is not measured through it. `HookHarness` builds the worker's `Context`s (each
with its own invocation id and host `traceparent`) and `HttpRequest` arguments up front, then runs each
invocation the way the worker does, minus the hand-off:

- sync-pool: on a thread-pool thread, the thread-local `invocation_id` set before and reset to None after,
  around `ExtensionManager.get_sync_invocation_wrapper(ctx, func)(args)`;
- async: each invocation in its own task on an event loop (the worker's task factory, the task marked with the
  invocation id, the loop thread's thread-local set), awaiting `ExtensionManager.get_async_invocation_wrapper`;
- 2-process: the sync-pool loop in two processes at once.

The function body is trivial, so what is measured is the cost of the hooks and of what the configuration does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import statistics
import threading
import uuid
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any

from .configs import OVERHEAD_CONFIGS, BenchConfig, config, install, providers, user_span

__all__ = ["MODES", "HookHarness", "measure_overhead"]

MODES = ("sync-pool", "async", "2-process")
FUNCTION_NAME = "bench_http"
FUNCTION_DIRECTORY = "/home/site/wwwroot"
BASELINE = "manual"
CHUNK = 250


def _trace_parent(sampled: bool) -> str:
    return f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-{'01' if sampled else '00'}"


def _functions(cfg: BenchConfig) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The benchmark function (sync and async flavours) for a configuration: trivial, plus the span the
    configuration's users open themselves."""
    import azure.functions as func

    response = func.HttpResponse("ok", status_code=200)
    if cfg.body == "manual":
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        propagator = TraceContextTextMapPropagator()
        tracer = providers().tracer

        def manual(req: Any, context: Any) -> Any:
            tc = context.trace_context
            parent = propagator.extract({"traceparent": tc.trace_parent, "tracestate": tc.trace_state})
            with tracer.start_as_current_span(context.function_name, context=parent, kind=SpanKind.INTERNAL):
                return response

        async def manual_async(req: Any, context: Any) -> Any:
            tc = context.trace_context
            parent = propagator.extract({"traceparent": tc.trace_parent, "tracestate": tc.trace_state})
            with tracer.start_as_current_span(context.function_name, context=parent, kind=SpanKind.INTERNAL):
                return response

        return manual, manual_async
    if cfg.body == "manual-equivalent":
        return _equivalent_functions(response)
    if cfg.body == "opencensus":

        def spanned(req: Any, context: Any) -> Any:
            with user_span(context):
                return response

        async def spanned_async(req: Any, context: Any) -> Any:
            with user_span(context):
                return response

        return spanned, spanned_async

    def plain(req: Any, context: Any) -> Any:
        return response

    async def plain_async(req: Any, context: Any) -> Any:
        return response

    return plain, plain_async


def _equivalent_functions(response: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """What funcscope records per invocation through the SDK, written by hand in the function: the span with the
    same semantic-convention attributes and status code, and the duration histogram. Against it, funcscope-full
    shows what funcscope itself adds (the runner, the hooks, the tallies, the propagation and log patches)."""
    import time
    from urllib.parse import urlsplit

    from opentelemetry.semconv._incubating.attributes import faas_attributes as faas
    from opentelemetry.semconv.attributes import http_attributes as http
    from opentelemetry.semconv.attributes import url_attributes as url
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from ..middleware.metrics import DURATION_BUCKETS

    propagator = TraceContextTextMapPropagator()
    tracer = providers().tracer
    duration = (
        providers()
        .meter_provider.get_meter("funcscope.bench")
        .create_histogram("faas.invoke_duration", unit="s", explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
    )
    metric_attributes = {faas.FAAS_NAME: FUNCTION_NAME, faas.FAAS_TRIGGER: "http"}

    def span_attributes(req: Any, context: Any) -> dict[str, Any]:
        return {
            faas.FAAS_NAME: context.function_name,
            faas.FAAS_TRIGGER: "http",
            faas.FAAS_INVOCATION_ID: context.invocation_id,
            faas.FAAS_COLDSTART: False,
            http.HTTP_REQUEST_METHOD: req.method,
            url.URL_FULL: req.url,
            url.URL_PATH: urlsplit(req.url).path,
        }

    def equivalent(req: Any, context: Any) -> Any:
        started = time.time_ns()
        tc = context.trace_context
        parent = propagator.extract({"traceparent": tc.trace_parent, "tracestate": tc.trace_state})
        with tracer.start_as_current_span(
            context.function_name, context=parent, kind=SpanKind.INTERNAL, attributes=span_attributes(req, context)
        ) as span:
            span.set_attribute(http.HTTP_RESPONSE_STATUS_CODE, response.status_code)
            duration.record((time.time_ns() - started) / 1e9, metric_attributes)
            return response

    async def equivalent_async(req: Any, context: Any) -> Any:
        return equivalent(req, context)

    return equivalent, equivalent_async


class HookHarness:
    """One configuration installed in this process, and the means to run invocations through its hooks.

    Use as a context manager (or call `close()`): it removes the configuration again.
    """

    def __init__(self, config_name: str) -> None:
        from ..emulator.extension_manager import ExtensionManager
        from ..emulator.tasks import task_factory

        self.config = config(config_name)
        self._installed = install(self.config)
        self._manager = ExtensionManager
        self._sync_fn, self._async_fn = _functions(self.config)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-pool")
        self._loop = asyncio.new_event_loop()
        self._loop.set_task_factory(task_factory)  # type: ignore[arg-type]  # typeshed: also generators
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench-event-loop", daemon=True)
        self._thread.start()
        self._attach: Callable[[Any], Any] | None = None
        if self.config.builtin:
            from opentelemetry import context as otel_context
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

            propagator = TraceContextTextMapPropagator()

            def attach(ctx: Any) -> Any:
                tc = ctx.trace_context
                return otel_context.attach(
                    propagator.extract({"traceparent": tc.trace_parent, "tracestate": tc.trace_state})
                )

            self._attach = attach
            self._detach = otel_context.detach
        # The worker runs the load hooks once per function, on the loop thread, before any invocation.
        self._on_loop(ExtensionManager.function_load_extension, FUNCTION_NAME, FUNCTION_DIRECTORY)

    def _on_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result()

    # -- building the invocations ----------------------------------------------------------------------------------

    def invocations(self, n: int) -> list[tuple[Any, dict[str, Any]]]:
        """`n` distinct (context, arguments) pairs, as the worker builds them for an HTTP-triggered function."""
        import azure.functions as func

        from ..emulator.context import Context, RetryContext, TraceContext, invocation_local

        out = []
        for _ in range(n):
            invocation_id = str(uuid.uuid4())
            ctx = Context(
                FUNCTION_NAME,
                FUNCTION_DIRECTORY,
                invocation_id,
                invocation_local,
                TraceContext(_trace_parent(self.config.sampled), "", {}),
                RetryContext(),
            )
            req = func.HttpRequest(
                "GET",
                "http://localhost:7071/api/bench?name=bench",
                headers={"user-agent": "funcscope-bench"},
                params={"name": "bench"},
                route_params={},
                body=b"",
            )
            out.append((ctx, {"req": req, "context": ctx}))
        return out

    # -- sync-pool ---------------------------------------------------------------------------------------------------

    def _sync_batch(self, batch: Sequence[tuple[Any, dict[str, Any]]]) -> float:
        from ..emulator.context import invocation_local

        get_wrapper = self._manager.get_sync_invocation_wrapper
        fn = self._sync_fn
        attach = self._attach
        started = perf_counter()
        for ctx, args in batch:
            invocation_local.invocation_id = ctx.invocation_id
            try:
                if attach is None:
                    get_wrapper(ctx, fn)(args)
                else:
                    token = attach(ctx)
                    try:
                        get_wrapper(ctx, fn)(args)
                    finally:
                        self._detach(token)
            finally:
                invocation_local.invocation_id = None
        return perf_counter() - started

    def run_sync(self, batch: Sequence[tuple[Any, dict[str, Any]]]) -> float:
        """Run `batch` one after another on a pool thread; seconds per invocation."""
        gc.collect()
        return self._pool.submit(self._sync_batch, batch).result() / max(1, len(batch))

    def run_batch(self, mode: str, batch: Sequence[tuple[Any, dict[str, Any]]]) -> float:
        """Run `batch` in `mode` and return the seconds it took (for a timer outside, e.g. pytest-benchmark)."""
        if mode == "async":
            return asyncio.run_coroutine_threadsafe(self._async_batch(batch), self._loop).result()
        return self._pool.submit(self._sync_batch, batch).result()

    # -- async -------------------------------------------------------------------------------------------------------

    async def _async_one(self, ctx: Any, args: dict[str, Any]) -> Any:
        from ..emulator.context import invocation_local

        task = asyncio.current_task()
        task.set_azure_invocation_id(ctx.invocation_id)  # type: ignore[union-attr]
        invocation_local.invocation_id = ctx.invocation_id  # set on the loop thread and never cleared, as the worker
        if self._attach is None:
            return await self._manager.get_async_invocation_wrapper(ctx, self._async_fn, args)
        token = self._attach(ctx)
        try:
            return await self._manager.get_async_invocation_wrapper(ctx, self._async_fn, args)
        finally:
            self._detach(token)

    async def _async_batch(self, batch: Sequence[tuple[Any, dict[str, Any]]]) -> float:
        loop = asyncio.get_running_loop()
        one = self._async_one
        started = perf_counter()
        for ctx, args in batch:
            await loop.create_task(one(ctx, args))
        return perf_counter() - started

    def run_async(self, batch: Sequence[tuple[Any, dict[str, Any]]]) -> float:
        """Run `batch` one after another, each invocation in its own task on the loop; seconds per invocation."""
        gc.collect()
        future = asyncio.run_coroutine_threadsafe(self._async_batch(batch), self._loop)
        return future.result() / max(1, len(batch))

    def run(self, mode: str, n: int) -> float:
        """Run `n` invocations in `mode` ("sync-pool"/"2-process" or "async"); µs per invocation.

        They are built and run in chunks, so the prepared invocations do not swell the heap every garbage
        collection walks (a worker builds each invocation's objects just before it runs).
        """
        run_batch = self.run_async if mode == "async" else self.run_sync
        total = 0.0
        done = 0
        while done < n:
            batch = self.invocations(min(CHUNK, n - done))
            total += run_batch(batch) * len(batch)
            done += len(batch)
        return total / max(1, n) * 1e6

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the loop and the pool, and take the configuration out of this process."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
        self._pool.shutdown(wait=True)
        self._installed.remove()

    def __enter__(self) -> HookHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- in a child process ------------------------------------------------------------------------------------------


class ChildHandler:
    """The overhead side of a benchmark child process: one configuration, warmed up, measuring on request."""

    def __init__(self, config_name: str, warmup: int = 300) -> None:
        self.harness = HookHarness(config_name)
        for mode in ("sync-pool", "async"):
            self.harness.run(mode, warmup)

    def handle(self, request: dict[str, Any]) -> Any:
        return self.harness.run(request["mode"], int(request["n"]))

    def close(self) -> None:
        self.harness.close()


# -- orchestration -------------------------------------------------------------------------------------------------


def measure_overhead(
    configs: Sequence[str] = OVERHEAD_CONFIGS,
    modes: Sequence[str] = MODES,
    *,
    rounds: int = 5,
    invocations: int = 2000,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """µs per invocation for every configuration and mode: the median over `rounds` batches of `invocations`.

    Each configuration runs in fresh child processes (two for 2-process), all started up front; rounds
    interleave the configurations, so a change in machine load hits all of them alike and ratios stay fair.
    """
    from .child import Child, start_all

    for name in configs:
        config(name)
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise ValueError(f"unknown overhead mode(s) {unknown}; known: {', '.join(MODES)}")
    primary = {name: Child("overhead", name) for name in configs}
    secondary = {name: Child("overhead", name) for name in configs} if "2-process" in modes else {}
    children = [*primary.values(), *secondary.values()]
    samples: dict[tuple[str, str], list[float]] = {(c, m): [] for c in configs for m in modes}
    try:
        start_all(children)
        order = list(configs)
        for r in range(rounds):
            rotated = order[r % len(order) :] + order[: r % len(order)]
            for mode in modes:
                for name in rotated:
                    if mode == "2-process":
                        pair = (primary[name], secondary[name])
                        for child in pair:
                            child.send({"mode": "sync-pool", "n": invocations})
                        values = [child.receive() for child in pair]
                        samples[(name, mode)].append(statistics.fmean(values))
                    else:
                        samples[(name, mode)].append(primary[name].request({"mode": mode, "n": invocations}))
                    if progress is not None:
                        progress(f"overhead {mode} {name}")
    finally:
        for child in children:
            child.close()
    rows = []
    for mode in modes:
        base = statistics.median(samples[(BASELINE, mode)]) if (BASELINE, mode) in samples else None
        for name in configs:
            value = statistics.median(samples[(name, mode)])
            rows.append(
                {
                    "config": name,
                    "mode": mode,
                    "us_per_invocation": round(value, 2),
                    "ratio_to_manual_span": round(value / base, 3) if base else None,
                }
            )
    return rows


def overhead_steps(configs: Sequence[str], modes: Sequence[str], rounds: int) -> int:
    """How many progress steps `measure_overhead` reports."""
    return len(configs) * len(modes) * rounds
