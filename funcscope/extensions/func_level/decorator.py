"""`funcscope.function(...)`: per-function options for v2 apps, where a `FuncExtensionBase` cannot bind to one
function (every v2 function lives in the same file)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ...runtime.runner import get_runner
from ...shared.settings import FunctionOptions

__all__ = ["function"]

F = TypeVar("F", bound=Callable[..., Any])


def function(
    name: str | None = None,
    *,
    sample_ratio: float | None = None,
    attributes: Mapping[str, Any] | None = None,
    tracing: bool = True,
    middleware: Sequence[Any] = (),
) -> Callable[[F], F]:
    """Set funcscope's options for one function of a v2 app; the function itself is returned unchanged.

    Put it directly above the `def`, under the app's decorators::

        @app.route(route="orders")
        @funcscope.function(sample_ratio=0.1, attributes={"team": "orders"})
        def orders(req: func.HttpRequest) -> func.HttpResponse: ...

    `name` is the function's name as the host knows it: the Python name unless `@app.function_name(...)`
    gave another, in which case pass the same name here.
    """
    options = FunctionOptions(
        sample_ratio=sample_ratio, attributes=dict(attributes or {}), tracing=tracing, middleware=tuple(middleware)
    )

    def decorate(fn: F) -> F:
        function_name = name or getattr(fn, "__name__", None)
        if not isinstance(function_name, str) or not function_name:
            raise TypeError("funcscope.function: pass name=... for a callable without a __name__")
        get_runner().set_function_options(function_name, options)
        return fn

    return decorate
