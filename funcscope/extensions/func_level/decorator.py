"""`funcscope.function(...)`: per-function options for v2 apps, where a `FuncExtensionBase` cannot bind to one
function (every v2 function lives in the same file), and the pipeline for workers that run no hooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ...runtime.runner import get_runner
from ...runtime.wrapper import wrap_function
from ...shared.settings import FunctionOptions

__all__ = ["function"]

F = TypeVar("F", bound=Callable[..., Any])


def function(
    name: str | Callable[..., Any] | None = None,
    *,
    sample_ratio: float | None = None,
    attributes: Mapping[str, Any] | None = None,
    tracing: bool = True,
    middleware: Sequence[Any] = (),
) -> Any:
    """Trace one function: set its options, and run the pipeline around it on workers that run no hooks.

    Put it directly above the `def`, under the app's decorators (bare `@funcscope.function` works too)::

        @app.route(route="orders")
        @funcscope.function(sample_ratio=0.1, attributes={"team": "orders"})
        def orders(req: func.HttpRequest) -> func.HttpResponse: ...

    With the app-level extension running (classic worker, `PYTHON_ENABLE_WORKER_EXTENSIONS=1`) the wrapper adds
    only the options and reports failures; on the Python 3.13+ worker, or with extensions off, it runs the whole
    pipeline for the function itself. `name` is the function's name as the host knows it, used to find the
    options before its first invocation: the Python name unless `@app.function_name(...)` gave another.
    """
    if callable(name):  # used bare: @funcscope.function
        return function()(name)
    options = FunctionOptions(
        sample_ratio=sample_ratio, attributes=dict(attributes or {}), tracing=tracing, middleware=tuple(middleware)
    )

    def decorate(fn: F) -> F:
        function_name = name or getattr(fn, "__name__", None)
        if not isinstance(function_name, str) or not function_name:
            raise TypeError("funcscope.function: pass name=... for a callable without a __name__")
        get_runner().set_function_options(function_name, options)

        def on_call(context: Any) -> None:
            # The host's name for the function may differ (a v1 entry point is `main`): options follow it.
            get_runner().ensure_function_options(getattr(context, "function_name", function_name), options)

        return wrap_function(fn, on_call)  # type: ignore[return-value]

    return decorate
