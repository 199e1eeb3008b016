"""`FuncScopeExtension`: the umbrella application-level extension. Importing this module registers it."""

from __future__ import annotations

import logging
from typing import Any

from azure.functions import AppExtensionBase, Context

from ...instrumentation import classic_worker
from ...runtime.runner import get_runner
from ...shared.settings import Settings

__all__ = ["FuncScopeExtension"]


class FuncScopeExtension(AppExtensionBase):
    """Runs funcscope's pipeline around every invocation of every function in the app.

    Configure it once, in `function_app.py` (v2) or a module every function imports (v1)::

        from funcscope import FuncScopeExtension
        FuncScopeExtension.configure()

    The worker calls the hooks below only when the app setting `PYTHON_ENABLE_WORKER_EXTENSIONS=1` is set.
    """

    @classmethod
    def init(cls) -> None:
        """Called by `azure.functions` when this class is created (the module's import): inside the classic
        worker, patch its invocation wrappers so failed invocations reach the pipeline's `on_error`."""
        classic_worker.instrument()

    @classmethod
    def configure(cls, **options: Any) -> Settings:
        """Apply options on top of the app settings; see `funcscope.Settings` for the names and defaults."""
        return get_runner().configure(**options)

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
