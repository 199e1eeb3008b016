"""HTTP streaming: a response streamed after the function returned is still part of its invocation.

With HTTP streaming (`azurefunctions-extensions-http-fastapi`, `PYTHON_ENABLE_INIT_INDEXING`), an HTTP function
returns a Starlette `StreamingResponse` and the worker's web server sends its body afterwards: the function has
returned (and the worker has answered the host) while the body is still being produced, chunk by chunk, from an
async iterator on the web server's own task, or from a plain iterator that Starlette steps on a thread of its own
(anyio's worker threads, which get a copy of the stepping task's context variables).

`instrument()` patches `starlette.responses.StreamingResponse.__init__` (with `wrapt`, when Starlette is imported):
a streaming response made during an invocation gets an `InvocationStream` as its body iterator, which steps the
body in the invocation's context: its OpenTelemetry context (spans made there are children of the invocation
span), funcscope's current invocation (log fields), the invocation id the worker files log records by (the task's
mark on the classic worker, the runtime's `invocation_id_cv` on the Python 3.13+ worker, the thread-local on the
thread a plain iterator is stepped on). The trace middleware hands the invocation span over to it
(`response_stream`): the span then ends when the body ends, with the time to the first chunk; ERROR, with the
exception recorded, when producing the body raised; and when the server stops reading (the client went away), with
`azure.functions.http.stream.outcome` = "cancelled". A body nobody ever reads ends the span when the response is
dropped ("abandoned").
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextvars import ContextVar, Token
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry.trace import Span, Status, StatusCode

from ..shared import attributes as attr
from ..shared.current import current_invocation
from ..shared.diagnostics import report_once
from ..shared.invocation import Invocation
from ..shared.values import record_exception
from .threads import runtime_invocation_vars

__all__ = ["InvocationStream", "instrument", "is_instrumented", "response_stream", "uninstrument"]

STARLETTE_RESPONSES = "starlette.responses"
_TASK_MARK = "__azure_function_invocation_id__"  # the classic worker's ContextEnabledTask.AZURE_INVOCATION_ID
_MISSING = object()

_lock = threading.Lock()
_enabled = False
_hook_registered = False
_patched: list[tuple[type, Any]] = []  # (class, our wrapper)


def _end_span(span: Span, outcome: str, first_byte_ns: int | None, start_ns: int, error: BaseException | None) -> None:
    try:
        span.set_attribute(attr.STREAM_OUTCOME, outcome)
        if first_byte_ns is not None:
            span.set_attribute(attr.TIME_TO_FIRST_BYTE, (first_byte_ns - start_ns) / 1e9)
        if error is not None:
            record_exception(span, error)  # redacted and bounded, stack trace too
        elif outcome == "abandoned":
            span.set_status(Status(StatusCode.ERROR, "the response stream was never read"))
        span.end()
    except Exception as exc:
        report_once(("http_streaming", "end", type(exc).__name__), f"could not end a streamed span: {exc!r}", exc=exc)


class _SpanHandle:
    """The span a stream ends, shared with the finalizer that ends it if the stream is dropped unread."""

    __slots__ = ("span", "start_ns", "first_byte_ns", "ended")

    def __init__(self) -> None:
        self.span: Span | None = None
        self.start_ns = 0
        self.first_byte_ns: int | None = None
        self.ended = False

    def end(self, outcome: str, error: BaseException | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        if self.span is not None:
            _end_span(self.span, outcome, self.first_byte_ns, self.start_ns, error)


class _CarriedIterator:
    """A plain body iterator, stepped on a thread Starlette picks, with the worker's thread-local set to the
    invocation (the context variables arrive with anyio's copy of the stepping task's context)."""

    __slots__ = ("_inner", "_invocation")

    def __init__(self, inner: Iterator[Any], invocation: Invocation) -> None:
        self._inner = inner
        self._invocation = invocation

    def __iter__(self) -> _CarriedIterator:
        return self

    def __next__(self) -> Any:
        storage = getattr(self._invocation.context, "thread_local_storage", None)
        previous = getattr(storage, "invocation_id", _MISSING) if storage is not None else _MISSING
        if storage is not None:
            storage.invocation_id = self._invocation.invocation_id
        try:
            return next(self._inner)
        finally:
            if storage is not None:
                if previous is _MISSING:
                    vars(storage).pop("invocation_id", None)
                else:
                    storage.invocation_id = previous


class InvocationStream(AsyncIterator[Any]):
    """A streaming response's body, stepped in its invocation's context; ends the invocation span it is handed."""

    def __init__(self, inner: AsyncIterable[Any], invocation: Invocation) -> None:
        self._inner = inner.__aiter__()
        self._invocation = invocation
        self._otel = otel_context.get_current()
        self._handle = _SpanHandle()
        # Ends the span if the response is dropped without its body being read to the end.
        self._finalizer = weakref.finalize(self, self._handle.end, "abandoned")

    @property
    def invocation(self) -> Invocation:
        return self._invocation

    def hand_over(self, span: Span, start_ns: int) -> None:
        """Make this stream end `span` (the invocation's, which started at `start_ns`) when the body ends."""
        self._handle.span = span
        self._handle.start_ns = start_ns

    def __aiter__(self) -> InvocationStream:
        return self

    async def __anext__(self) -> Any:
        handle = self._handle
        tokens = self._enter()
        try:
            chunk = await self._inner.__anext__()
        except StopAsyncIteration:
            handle.end("completed")
            self._finalizer.detach()
            raise
        except (asyncio.CancelledError, GeneratorExit):
            handle.end("cancelled")
            self._finalizer.detach()
            raise
        except BaseException as exc:
            handle.end("failed", exc)
            self._finalizer.detach()
            raise
        finally:
            self._exit(tokens)
        if handle.first_byte_ns is None:
            handle.first_byte_ns = time.time_ns()
        return chunk

    async def aclose(self) -> None:
        """Close the body (the server stopped reading it): the span ends as "cancelled"."""
        try:
            close = getattr(self._inner, "aclose", None)
            if close is not None:
                await close()
        finally:
            self._handle.end("cancelled")
            self._finalizer.detach()

    def _enter(self) -> tuple[Any, ...]:
        invocation = self._invocation
        otel_token = otel_context.attach(self._otel)
        invocation_token = current_invocation.set(invocation)
        runtime_tokens = [(var, var.set(invocation.invocation_id)) for var in runtime_invocation_vars()]
        # Only the worker's own tasks (ContextEnabledTask) carry the mark it files log records by.
        task = asyncio.current_task()
        if task is None or not hasattr(task, "set_azure_invocation_id"):
            task = None
        previous_mark = getattr(task, _TASK_MARK, _MISSING) if task is not None else _MISSING
        if task is not None:
            setattr(task, _TASK_MARK, invocation.invocation_id)
        return otel_token, invocation_token, runtime_tokens, task, previous_mark

    @staticmethod
    def _exit(tokens: tuple[Any, ...]) -> None:
        otel_token, invocation_token, runtime_tokens, task, previous_mark = tokens
        if task is not None:
            if previous_mark is _MISSING:
                delattr(task, _TASK_MARK)
            else:
                setattr(task, _TASK_MARK, previous_mark)
        for var, token in reversed(runtime_tokens):
            _reset(var, token)
        _reset(current_invocation, invocation_token)
        otel_context.detach(otel_token)


def _reset(var: ContextVar[Any], token: Token[Any]) -> None:
    try:  # noqa: SIM105 - a context manager per chunk costs more
        var.reset(token)
    except ValueError:
        pass  # reset from another context: nothing of this step is left there


def response_stream(result: object) -> InvocationStream | None:
    """The `InvocationStream` of a streaming response made during an invocation, else None."""
    body = getattr(result, "body_iterator", None)
    return body if isinstance(body, InvocationStream) else None


# -- the patch ---------------------------------------------------------------------------------------------------


def _streaming_init(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    invocation = current_invocation.get()
    if invocation is None or not _enabled:
        return wrapped(*args, **kwargs)
    try:
        if args:
            content = args[0]
            if not isinstance(content, AsyncIterable) and isinstance(content, Iterable):
                args = (_CarriedIterator(iter(content), invocation), *args[1:])
        elif "content" in kwargs:
            content = kwargs["content"]
            if not isinstance(content, AsyncIterable) and isinstance(content, Iterable):
                kwargs["content"] = _CarriedIterator(iter(content), invocation)
    except Exception as exc:  # iter() of an odd iterable raised: Starlette gets it as it was given
        _report(exc)
    result = wrapped(*args, **kwargs)
    try:
        body = getattr(instance, "body_iterator", None)
        if isinstance(body, AsyncIterable) and not isinstance(body, InvocationStream):
            instance.body_iterator = InvocationStream(body, invocation)
    except Exception as exc:
        _report(exc)
    return result


def _report(exc: BaseException) -> None:
    report_once(
        ("http_streaming", "wrap", type(exc).__name__),
        f"could not follow a streaming response ({exc!r}); its invocation span ends when the function "
        "returns. Further failures of this kind are not logged.",
        exc=exc,
    )


def _patch(module: Any) -> None:
    cls = getattr(module, "StreamingResponse", None)
    if not isinstance(cls, type):
        return
    with _lock:
        if any(patched is cls for patched, _ in _patched):
            return
        wrapt.wrap_function_wrapper(cls, "__init__", _streaming_init)
        _patched.append((cls, cls.__dict__["__init__"]))


def _on_import(module: Any) -> None:
    if _enabled:
        _patch(module)


def instrument() -> None:
    """Follow streaming responses made during invocations (once Starlette is imported); idempotent."""
    global _enabled, _hook_registered
    with _lock:
        _enabled = True
        first = not _hook_registered
        _hook_registered = True
    if first:  # runs at once when Starlette is imported already, and stays for good
        wrapt.register_post_import_hook(_on_import, STARLETTE_RESPONSES)
    elif STARLETTE_RESPONSES in sys.modules:
        _patch(sys.modules[STARLETTE_RESPONSES])


def uninstrument() -> None:
    """Restore `StreamingResponse.__init__` (where ours is still the one in place)."""
    global _enabled
    with _lock:
        _enabled = False
        kept: list[tuple[type, Any]] = []
        for cls, ours in _patched:
            if cls.__dict__.get("__init__") is ours:
                original: Any = cls.__dict__["__init__"].__wrapped__
                setattr(cls, "__init__", original)  # noqa: B010 - mypy refuses assigning __init__
            else:
                kept.append((cls, ours))
        _patched[:] = kept


def is_instrumented() -> bool:
    return _enabled
