"""`funcscope.function(...)`: per-function options for v2 apps, where a `FuncExtensionBase` cannot bind to one
function (every v2 function lives in the same file)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar, cast, overload

from ...runtime.runner import get_runner
from ...runtime.wrapper import wrap_function
from ...shared.settings import FunctionOptions

__all__ = ["function"]

P = ParamSpec("P")
R = TypeVar("R")


@overload
def function(name: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def function(
    name: str | None = None,
    *,
    sample_ratio: float | None = None,
    attributes: Mapping[str, Any] | None = None,
    tracing: bool = True,
    middleware: Sequence[Any] = (),
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def function(
    name: str | Callable[..., Any] | None = None,
    *,
    sample_ratio: float | None = None,
    attributes: Mapping[str, Any] | None = None,
    tracing: bool = True,
    middleware: Sequence[Any] = (),
) -> Any:
    """Options for one function: its own sample ratio, span attributes, tracing switch and middlewares.

    Put it directly above the `def`, under the app's decorators (bare `@funcscope.function` works too)::

        @app.route(route="orders")
        @funcscope.function(sample_ratio=0.1, attributes={"team": "orders"})
        def orders(req: func.HttpRequest) -> func.HttpResponse: ...

    Tracing needs no decorator: `funcscope.configure()` traces every function, through the extension hooks
    where the worker runs them and by wrapping each function where it runs none. The decorated function keeps
    its signature for type checkers and for the worker, and there is exactly one span per invocation either
    way. `name` is the function's name as the host knows it, used to find the options before its first
    invocation: the Python name unless `@app.function_name(...)` gave another.
    """
    if callable(name):  # used bare: @funcscope.function
        return function()(name)
    options = FunctionOptions(
        sample_ratio=sample_ratio, attributes=dict(attributes or {}), tracing=tracing, middleware=tuple(middleware)
    )

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        from azure.functions.decorators.function_app import FunctionBuilder

        if isinstance(fn, FunctionBuilder):  # above the app's decorators: what they made of the function
            raise TypeError(
                "funcscope.function: put it directly above the def, below the app's decorators (@app.route(...) "
                "and the like), which have made something else of the function by the time it is reached here"
            )
        function_name = name or getattr(fn, "__name__", None)
        if not isinstance(function_name, str) or not function_name:
            raise TypeError("funcscope.function: pass name=... for a callable without a __name__")
        get_runner().set_function_options(function_name, options)

        def on_call(context: Any) -> None:
            # The host's name for the function may differ (a v1 entry point is `main`): options follow it.
            get_runner().ensure_function_options(getattr(context, "function_name", function_name), options)

        return cast("Callable[P, R]", wrap_function(fn, on_call))

    return decorate
