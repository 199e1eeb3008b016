"""The wrapper path: the pipeline around one function, for workers that run no extension hooks.

The Python 3.13+ worker runs no extension hooks at all, and the classic worker runs none while
`PYTHON_ENABLE_WORKER_EXTENSIONS` is off. A function wrapped here runs the pipeline itself on such workers. On a
worker whose hooks already started the invocation it only reports a failure (which the classic worker would
otherwise never tell the extension about) and otherwise passes straight through.

The worker hands a function its `context` only when the function's signature asks for it, so the wrapper's
signature is the user's plus a keyword-only `context`, which is removed again before the user's function is
called when it did not ask for it itself.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from .runner import get_runner

__all__ = ["wrap_function"]


class _WrapperOwner:
    """Starts and finishes the invocations the wrapper runs the pipeline for itself."""

    def __repr__(self) -> str:
        return "<funcscope function wrapper>"


OWNER = _WrapperOwner()


def _with_context(signature: inspect.Signature) -> inspect.Signature:
    if "context" in signature.parameters:
        return signature
    params = list(signature.parameters.values())
    context = inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY)
    at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
    return signature.replace(parameters=[*params[:at], context, *params[at:]])


def wrap_function(fn: Callable[..., Any], on_call: Callable[[Any], None] | None = None) -> Callable[..., Any]:
    """`fn` with the pipeline around it on workers that run no hooks. `on_call(context)` runs first each time."""
    takes_context = "context" in inspect.signature(fn).parameters

    def begin(kwargs: dict[str, Any]) -> tuple[Any, bool]:
        context = kwargs.get("context") if takes_context else kwargs.pop("context", None)
        if context is None:  # called outside the worker (a unit test, another function): nothing to trace
            return None, False
        if on_call is not None:
            on_call(context)
        return context, get_runner().start(context, kwargs, OWNER) is not None

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            context, started = begin(kwargs)
            try:
                result = await fn(*args, **kwargs)
            except Exception as exc:
                if context is not None:
                    get_runner().fail(context, exc)
                raise
            if started:
                get_runner().finish(context, result, OWNER)
            return result

        wrapper: Callable[..., Any] = async_wrapper
    else:

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            context, started = begin(kwargs)
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                if context is not None:
                    get_runner().fail(context, exc)
                raise
            if started:
                get_runner().finish(context, result, OWNER)
            return result

        wrapper = sync_wrapper
    wrapper.__signature__ = _with_context(inspect.signature(fn))  # type: ignore[attr-defined]
    return wrapper
