"""`FunctionScope`: per-function options and middleware for v1 apps, as a function-level extension."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from azure.functions import Context, FuncExtensionBase

from ...instrumentation import classic_worker, function_wrapping
from ...runtime.runner import get_runner
from ...shared.settings import FunctionOptions

__all__ = ["FunctionScope"]


class FunctionScope(FuncExtensionBase):
    """Options for one function of a v1 app. Create it at module level in the function's script::

        from funcscope import FunctionScope
        scope = FunctionScope(__file__, sample_ratio=0.1, attributes={"team": "billing"})

    The function is the folder `__file__` lies in (the worker needs `AzureWebJobsScriptRoot` to tell it).
    When the app-level `FuncScopeExtension` is registered too (or, where the worker runs no hooks, when the app
    called `funcscope.configure()`), it runs the pipeline and this only adds the options; otherwise this runs the
    pipeline for its function by itself: through its hooks, or by having the function wrapped as it loads.
    """

    def __init__(
        self,
        file_path: str,
        *,
        sample_ratio: float | None = None,
        attributes: Mapping[str, Any] | None = None,
        tracing: bool = True,
        middleware: Sequence[Any] = (),
    ) -> None:
        super().__init__(file_path)
        self.function_name: str = self._trigger_name
        self.options = FunctionOptions(
            sample_ratio=sample_ratio, attributes=dict(attributes or {}), tracing=tracing, middleware=tuple(middleware)
        )
        get_runner().set_function_options(self.function_name, self.options)
        classic_worker.instrument()
        function_wrapping.trace_function(self.function_name)  # for workers that run no hook

    def post_function_load(self, function_name: str, function_directory: str, *args: Any, **kwargs: Any) -> None:
        """Called once, right after the worker loaded this function."""
        get_runner().function_loaded(function_name, function_directory)

    def pre_invocation(
        self,
        logger: logging.Logger,
        context: Context,
        func_args: dict[str, object] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Called before each invocation of this function, after the app-level hooks."""
        get_runner().start(context, func_args, self)

    def post_invocation(
        self,
        logger: logging.Logger,
        context: Context,
        func_args: dict[str, object] | None = None,
        func_ret: object | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Called after each invocation of this function that returned, before the app-level hooks."""
        get_runner().finish(context, func_ret, self)
