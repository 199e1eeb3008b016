"""The invocation context objects, shaped as the Python worker (4.x) builds them.

These are deliberately *not* subclasses of ``azure.functions.Context``: the worker's own
classes are not either, and code under test must cope with exactly what the worker hands out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AttributeMap", "Context", "RetryContext", "RpcException", "TraceContext", "invocation_local"]

#: One ``threading.local`` for the whole process, shared by every invocation's context, as in
#: the worker. Its ``invocation_id`` is what log attribution falls back to outside a marked task.
invocation_local = threading.local()


class RpcException:
    """The previous failure as the host reports it in a retry context.

    In the worker this is the protobuf message itself (`RpcException` of the gRPC protocol), so it has the
    message's fields, compares by value, cannot be hashed, and prints in protobuf's text format: one
    `field: value` line per field that is set, nothing at all when none is.
    """

    _FIELDS = ("source", "stack_trace", "message", "is_user_exception", "type")

    def __init__(
        self,
        source: str = "",
        stack_trace: str = "",
        message: str = "",
        is_user_exception: bool = False,
        type: str = "",
    ) -> None:
        self._source = source
        self._stack_trace = stack_trace
        self._message = message
        self._is_user_exception = is_user_exception
        self._type = type

    @property
    def source(self) -> str:
        return self._source

    @property
    def stack_trace(self) -> str:
        return self._stack_trace

    @property
    def message(self) -> str:
        return self._message

    @property
    def is_user_exception(self) -> bool:
        return self._is_user_exception

    @property
    def type(self) -> str:
        return self._type

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RpcException):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # a protobuf message is not hashable

    def __str__(self) -> str:
        lines = []
        for name, value in zip(self._FIELDS, self._values(), strict=True):
            if value:
                shown = "true" if value is True else '"' + _text_escape(str(value)) + '"'
                lines.append(f"{name}: {shown}\n")
        return "".join(lines)

    __repr__ = __str__


def _text_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")


class AttributeMap(MutableMapping[str, str]):
    """`trace_context.attributes`: in the worker a protobuf map, which acts as a mapping but is no `dict` (so,
    for one, `json.dumps` refuses it)."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._items[key] = value

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr(self._items)


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
    """The host's W3C trace context for one invocation. The capitalised properties are the worker's deprecated
    spellings; the worker says so only in their docstrings (reading them warns of nothing)."""

    def __init__(self, trace_parent: str, trace_state: str, attributes: Mapping[str, str]) -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state
        self._attributes = attributes if isinstance(attributes, AttributeMap) else AttributeMap(attributes)

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> AttributeMap:
        return self._attributes

    @property
    def Traceparent(self) -> str:  # noqa: N802 - the worker's deprecated spelling
        return self._trace_parent

    @property
    def Tracestate(self) -> str:  # noqa: N802 - the worker's deprecated spelling
        return self._trace_state

    @property
    def Attributes(self) -> AttributeMap:  # noqa: N802 - the worker's deprecated spelling
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
