"""`PipelineHooks`: the app-level hooks that run funcscope's pipeline, shared by the app-level extensions.

A plain class, not an extension: an extension is `class X(PipelineHooks, AppExtensionBase)`, and registers when
that class is created. When two of them are registered (funcscope's and the OpenCensus drop-in), the first to see
an invocation starts it and ends it; the other's hooks find it started and do nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from azure.functions import Context

from ...instrumentation import classic_worker
from ...runtime.runner import get_runner

__all__ = ["PipelineHooks"]


class PipelineHooks:
    """The worker calls these only when the app setting `PYTHON_ENABLE_WORKER_EXTENSIONS=1` is set."""

    @classmethod
    def init(cls) -> None:
        """Called by `azure.functions` when the extension class is created (its module's import): inside the
        classic worker, patch its invocation wrappers so failed invocations reach the pipeline's `on_error`."""
        classic_worker.instrument()

    @classmethod
    def post_function_load_app_level(
        cls, function_name: str, function_directory: str, *args: Any, **kwargs: Any
    ) -> None:
        """Called once per function, right after the worker loaded it: learns the function's trigger."""
        get_runner().function_loaded(function_name, function_directory)

    @classmethod
    def pre_invocation_app_level(
        cls,
        logger: logging.Logger,
        context: Context,
        func_args: dict[str, object] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Called before each invocation, on the thread (sync) or task (async) that runs the function."""
        get_runner().start(context, func_args, cls)

    @classmethod
    def post_invocation_app_level(
        cls,
        logger: logging.Logger,
        context: Context,
        func_args: dict[str, object] | None = None,
        func_ret: object | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Called after each invocation whose function returned; the worker skips it when the function raised."""
        get_runner().finish(context, func_ret, cls)
