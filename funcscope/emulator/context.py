"""The invocation context objects, shaped as the Python worker (4.x) builds them.

These are deliberately *not* subclasses of ``azure.functions.Context``: the worker's own
classes are not either, and code under test must cope with exactly what the worker hands out.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Context", "RetryContext", "RpcException", "TraceContext", "invocation_local"]

#: One ``threading.local`` for the whole process, shared by every invocation's context, as in
#: the worker. Its ``invocation_id`` is what log attribution falls back to outside a marked task.
invocation_local = threading.local()


class RpcException:
    """The previous failure as the host reports it in a retry context."""

    def __init__(self, source: str = "", stack_trace: str = "", message: str = "") -> None:
        self._source = source
        self._stack_trace = stack_trace
        self._message = message

    @property
    def source(self) -> str:
        return self._source

    @property
    def stack_trace(self) -> str:
        return self._stack_trace

    @property
    def message(self) -> str:
        return self._message

    def __repr__(self) -> str:
        return f"RpcException(source={self._source!r}, message={self._message!r})"


@dataclass
class RetryContext:
    """Retry state of an invocation, a dataclass as in the worker.

    The worker exposes ``rpc_exception``; the SDK's documented ``exception`` attribute does not
    exist there, so reading it raises ``AttributeError`` here too.
    """

    retry_count: int = 0
    max_retry_count: int = 0
    rpc_exception: RpcException = field(default_factory=RpcException)


class TraceContext:
    """The host's W3C trace context for one invocation."""

    def __init__(self, trace_parent: str, trace_state: str, attributes: dict[str, str]) -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state
        self._attributes = attributes

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes

    @property
    def Traceparent(self) -> str:  # noqa: N802 - the worker's deprecated spelling
        warnings.warn("Traceparent is deprecated, use trace_parent", DeprecationWarning, stacklevel=2)
        return self._trace_parent

    @property
    def Tracestate(self) -> str:  # noqa: N802 - the worker's deprecated spelling
        warnings.warn("Tracestate is deprecated, use trace_state", DeprecationWarning, stacklevel=2)
        return self._trace_state

    @property
    def Attributes(self) -> dict[str, str]:  # noqa: N802 - the worker's deprecated spelling
        warnings.warn("Attributes is deprecated, use attributes", DeprecationWarning, stacklevel=2)
        return self._attributes

    def __repr__(self) -> str:
        return f"TraceContext(trace_parent={self._trace_parent!r}, trace_state={self._trace_state!r})"


class Context:
    """What a function receives as ``context``: read-only properties, as in the worker."""

    def __init__(
        self,
        func_name: str,
        func_dir: str,
        invocation_id: str,
        thread_local_storage: threading.local,
        trace_context: TraceContext,
        retry_context: Any,
    ) -> None:
        self._name = func_name
        self._directory = func_dir
        self._invocation_id = invocation_id
        self._thread_local_storage = thread_local_storage
        self._trace_context = trace_context
        # Passed verbatim: tests hand in odd objects to prove consumers read it defensively.
        self._retry_context = retry_context

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:
        return self._thread_local_storage

    @property
    def function_name(self) -> str:
        return self._name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> Any:
        return self._retry_context

    def __repr__(self) -> str:
        return f"Context(function_name={self._name!r}, invocation_id={self._invocation_id!r})"
