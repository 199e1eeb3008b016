"""`BenchApp`: a function app in the worker emulator with one benchmark configuration in place, what the
`funcscope_worker` pytest fixture (`funcscope.pytest_plugin`) returns.

`call()` runs one invocation through the worker's hook path on the calling thread (no hand-off), which is what a
benchmark should time; `invoke()` and `invoke_many()` go through the whole emulated worker, hand-off included.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["BenchApp"]


class BenchApp:
    """A function app loaded by the worker emulator with one benchmark configuration in place.

    Configurations (`funcscope.bench.configs.APP_CONFIGS`): "none" (extension hooks off), "app" (hooks on, only
    what the app registers itself), "funcscope-full", "funcscope-tracing" and "opencensus" (hooks on, and that
    extension registered before the app loads, exporting to a sink that drops everything). An app that registers
    an extension itself keeps it in every configuration with hooks on; its own `funcscope.configure()` options
    apply on top of the configuration's.
    """

    def __init__(
        self,
        app_dir: str | Path,
        config: str = "funcscope-full",
        *,
        thread_count: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        from ..emulator import Worker
        from .configs import APP_CONFIGS, install

        if config not in APP_CONFIGS:
            raise ValueError(f"unknown configuration {config!r} for an app; choose from {', '.join(APP_CONFIGS)}")
        self.config = config
        self._installed = install(config)
        try:
            self.worker = Worker(
                app_dir,
                thread_count=thread_count,
                process_count=1,
                extensions_enabled=self._installed.config.hooks,
                env=env,
            )
        except BaseException:
            self._installed.remove()
            raise
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def functions(self) -> list[str]:
        return sorted(self.worker.functions)

    def invoke(self, function_name: str, payload: Any = None, **options: Any) -> Any:
        """One invocation through the emulated worker (its thread pool or event loop); see `Worker.invoke`."""
        return self.worker.invoke(function_name, payload, **options)

    def invoke_many(self, calls: Any, concurrency: int | None = None) -> Any:
        """Many invocations through the emulated worker; see `Worker.invoke_many`."""
        return self.worker.invoke_many(calls, concurrency)

    def call(self, function_name: str, payload: Any = None, *, trace_parent: str | None = None) -> Any:
        """One invocation through the worker's hook path, on this thread; returns the function's result.

        A sync function runs here between the thread-local set and reset, as on a pool thread; an async one in
        its own task on this fixture's event loop. Building the context and arguments is part of each call, and
        costs the same in every configuration. The function's exception propagates.
        """
        from ..emulator.bindings import build_arguments
        from ..emulator.context import Context, RetryContext, TraceContext, invocation_local
        from ..emulator.extension_manager import ExtensionManager

        runtime = self.worker._local
        assert runtime is not None
        loaded = runtime.functions[function_name]
        info = loaded.info
        invocation_id = str(uuid.uuid4())
        parent = trace_parent or f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
        ctx = Context(
            info.name, info.directory, invocation_id, invocation_local, TraceContext(parent, "", {}), RetryContext()
        )
        args, _ = build_arguments(info.name, info.bindings, info.trigger_binding_name, payload)
        if info.requires_context:
            args["context"] = ctx
        hooks = self.worker.extensions_enabled
        if info.is_async:
            return self._run_async(ctx, loaded.func, args, hooks)
        invocation_local.invocation_id = invocation_id
        try:
            if hooks:
                return ExtensionManager.get_sync_invocation_wrapper(ctx, loaded.func)(args)
            return loaded.func(**args)
        finally:
            invocation_local.invocation_id = None

    def _run_async(self, ctx: Any, func: Callable[..., Any], args: dict[str, Any], hooks: bool) -> Any:
        from ..emulator.context import invocation_local
        from ..emulator.extension_manager import ExtensionManager
        from ..emulator.tasks import task_factory

        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._loop.set_task_factory(task_factory)  # type: ignore[arg-type]  # typeshed: also generators

        async def run() -> Any:
            asyncio.current_task().set_azure_invocation_id(ctx.invocation_id)  # type: ignore[union-attr]
            invocation_local.invocation_id = ctx.invocation_id
            if hooks:
                return await ExtensionManager.get_async_invocation_wrapper(ctx, func, args)
            return await func(**args)

        # The worker never clears the loop thread's invocation id; this loop runs on the caller's thread, whose own
        # records must not be attributed to an invocation that is over.
        before = getattr(invocation_local, "invocation_id", None)
        try:
            return self._loop.run_until_complete(run())
        finally:
            invocation_local.invocation_id = before

    def close(self) -> None:
        """Close the worker and take the configuration out of this process."""
        try:
            self.worker.close()
            if self._loop is not None:
                self._loop.close()
        finally:
            self._installed.remove()
