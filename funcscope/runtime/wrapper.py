"""The wrapper path: the pipeline around one function, for workers that run no extension hooks.

The Python 3.13+ worker runs no extension hooks at all, and the classic worker runs none while
`PYTHON_ENABLE_WORKER_EXTENSIONS` is off. A function wrapped here runs the pipeline itself on such workers. On a
worker whose hooks already started the invocation it only reports a failure (which the classic worker would
otherwise never tell the extension about) and otherwise passes straight through.

The wrapper is a `wrapt.FunctionWrapper`, so to the worker it is the user's function: the same name, module,
annotations and code object, hence the same answer from `inspect.iscoroutinefunction`, `typing.get_type_hints`
and `inspect.getfile`, which the worker uses to bind arguments and to choose the sync or async path. Its
signature is the user's plus a keyword-only `context`: the worker hands a function its `context` only when the
signature asks for it, and the wrapper removes it again before calling a function that did not ask for it.

A function with a binding named `context` gets that binding's value under the name, and the worker hands it no
Context at all: so it is with every Durable Functions orchestrator and entity, whose framework handle takes its
trigger as `context`. The worker builds the invocation's Context all the same, and the wrapper claims it by the
invocation id the worker names while the function runs (the 3.13+ runtime's `invocation_id_cv`, the current
task's invocation mark, the thread-local set around sync functions; `funcscope.instrumentation.worker_contexts`):
so such an invocation joins the host's trace as any other. On a worker whose Context funcscope does not see, it
is traced with what can be known without one: the function's name, that invocation id (a fresh one where there
is none), no host trace context, so the span starts a new trace; one message says so.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

import wrapt

from ..instrumentation import worker_contexts
from ..instrumentation.threads import runtime_invocation_vars
from ..shared.diagnostics import report_once
from .runner import get_runner

__all__ = ["TracedFunction", "is_traced", "wrap_function"]


class _WrapperOwner:
    """Starts and finishes the invocations the wrapper runs the pipeline for itself."""

    def __repr__(self) -> str:
        return "<funcscope function wrapper>"


OWNER = _WrapperOwner()


if TYPE_CHECKING:
    _FunctionWrapper = wrapt.FunctionWrapper[..., Any]
else:  # not subscriptable at run time
    _FunctionWrapper = wrapt.FunctionWrapper


class TracedFunction(_FunctionWrapper):
    """A user's function with funcscope's pipeline around it; see the module docstring for what it keeps."""

    def __init__(self, fn: Callable[..., Any], call: Callable[..., Any], signature: inspect.Signature) -> None:
        super().__init__(fn, call)
        self._self_signature = signature

    @property
    def __signature__(self) -> inspect.Signature:
        return self._self_signature


def is_traced(fn: object) -> bool:
    """Whether `fn` is already a funcscope wrapper (the decorator's, or the process-wide wrapping's)."""
    return isinstance(fn, TracedFunction)


def _with_context(signature: inspect.Signature) -> inspect.Signature:
    if "context" in signature.parameters:
        return signature
    params = list(signature.parameters.values())
    context = inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY)
    at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
    return signature.replace(parameters=[*params[:at], context, *params[at:]])


def _mark_runtime_invocation(invocation_id: str) -> list[tuple[ContextVar[Any], Token[Any]]]:
    # The 3.13+ runtime sets its `invocation_id_cv` (which the proxy worker files log records by) around sync
    # functions only; set it around an async one too, so callbacks and threads it starts are attributed.
    return [(var, var.set(invocation_id)) for var in runtime_invocation_vars()]


# Where each worker keeps the current invocation's id for its log handler, besides the 3.13+ runtime's context
# variable: the thread-local it sets around sync functions (the classic worker's, funcscope's emulator's).
_WORKER_THREAD_LOCALS = (
    ("azure_functions_worker.dispatcher", "_invocation_id_local"),
    ("funcscope.emulator.context", "invocation_local"),
)
_TASK_MARK = "__azure_function_invocation_id__"  # the workers' ContextEnabledTask.AZURE_INVOCATION_ID


def _current_invocation_id() -> str | None:
    """The invocation id the worker's log handler would name now: its context variable, the current task's mark,
    the thread-local it sets around sync functions."""
    for var in runtime_invocation_vars():
        value = var.get(None)
        if isinstance(value, str) and value:
            return value
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop: a sync function on a pool thread
        task = None
    mark = getattr(task, _TASK_MARK, None)
    if isinstance(mark, str) and mark:
        return mark
    for module_name, attribute in _WORKER_THREAD_LOCALS:
        value = getattr(getattr(sys.modules.get(module_name), attribute, None), "invocation_id", None)
        if isinstance(value, str) and value:
            return value
    return None


class _StandInContext:
    """An invocation's context as far as the wrapper knows it when it finds no Context the worker built."""

    __slots__ = ("function_name", "function_directory", "invocation_id", "trace_context", "retry_context")

    def __init__(self, function_name: str, invocation_id: str | None) -> None:
        self.function_name = function_name
        self.function_directory = ""
        self.invocation_id = invocation_id or str(uuid.uuid4())
        self.trace_context = None
        self.retry_context = None


def _worker_context(function_name: str) -> Any:
    """The Context the worker built for the running invocation of a function it passes none; else a stand-in."""
    invocation_id = _current_invocation_id()
    context = worker_contexts.claim(invocation_id)
    if context is not None:
        return context
    report_once(
        ("wrapper", "context-binding", function_name),
        f"{function_name} takes its trigger as 'context' (as every Durable Functions orchestrator and "
        "entity does), so the worker passes it no Context, and funcscope found none the worker built for it: "
        "its invocations start new traces, without the host's trace context.",
    )
    return _StandInContext(function_name, invocation_id)


def wrap_function(
    fn: Callable[..., Any],
    on_call: Callable[[Any], None] | None = None,
    *,
    context_binding: str | None = None,
) -> TracedFunction:
    """`fn` with the pipeline around it on workers that run no hooks. `on_call(context)` runs first each time.
    `context_binding` names the function when a binding of it is called `context` (then no Context comes)."""
    signature = inspect.signature(fn)
    takes_context = "context" in signature.parameters
    if context_binding is not None:
        worker_contexts.expect(context_binding)

    def begin(kwargs: dict[str, Any]) -> tuple[Any, bool]:
        if context_binding is not None:
            context: Any = _worker_context(context_binding)
            return context, get_runner().start(context, kwargs, OWNER) is not None
        context = kwargs.get("context") if takes_context else kwargs.pop("context", None)
        if context is None:  # called outside the worker (a unit test, another function): nothing to trace
            return None, False
        if on_call is not None:
            on_call(context)
        return context, get_runner().start(context, kwargs, OWNER) is not None

    if inspect.iscoroutinefunction(fn):

        async def run_async(wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            context, started = begin(kwargs)
            marks = _mark_runtime_invocation(context.invocation_id) if started else ()
            try:
                result = await wrapped(*args, **kwargs)
            except Exception as exc:
                if context is not None:
                    get_runner().fail(context, exc)
                raise
            finally:
                for var, token in reversed(marks):
                    var.reset(token)
            if started:
                get_runner().finish(context, result, OWNER)
            return result

        def call(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return run_async(wrapped, args, kwargs)

    else:

        def call(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            context, started = begin(kwargs)
            try:
                result = wrapped(*args, **kwargs)
            except Exception as exc:
                if context is not None:
                    get_runner().fail(context, exc)
                raise
            if started:
                get_runner().finish(context, result, OWNER)
            return result

    return TracedFunction(fn, call, signature if context_binding is not None else _with_context(signature))
