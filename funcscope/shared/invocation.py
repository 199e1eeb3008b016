"""The invocation snapshot: what every middleware needs to know about one invocation, built once, cheaply.

The worker's `Context` is read defensively (its `retry_context` differs between the SDK's documentation and
the worker; odd or missing values give defaults). Parsing the host's trace parent is deferred until a
middleware asks for it, so an invocation that is not traced does not pay for it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .attribute_reading import read_attribute
from .trace_context import HostTraceContext, read_host_trace_context
from .triggers import Trigger
from .values import MAX_MESSAGE_LENGTH, in_int64, redacted_text

MAX_NAME_LENGTH = 256  # function names are at most 127 characters; invocation ids are GUIDs
_NO_ARGUMENTS: Mapping[str, object] = MappingProxyType({})

__all__ = ["Invocation", "InvocationAbandoned", "RetryInfo", "read_retry_info", "NO_RETRY"]


@dataclass(frozen=True)
class RetryInfo:
    """The retry policy's view of this attempt.

    `count` is 0 on the first attempt; `max_count` is the policy's maximum (0 when the function has no retry
    policy, -1 for "retry forever"). `is_final` is True when no further retry will follow a failure of this
    attempt. `previous_failure` is the message of the failure that caused this retry, if the worker passed one.
    """

    count: int = 0
    max_count: int = 0
    previous_failure: str | None = None

    @property
    def is_final(self) -> bool:
        return self.max_count >= 0 and self.count >= self.max_count

    @property
    def is_retry(self) -> bool:
        return self.count > 0


NO_RETRY = RetryInfo()


def _as_count(value: object, default: int) -> int:
    # A count is a whole number from -1 up that fits the 64 bits OTLP encodes integers in; anything else (a
    # bool, NaN, 10**30, "x") is the default.
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        count = value
    elif isinstance(value, (float, str, bytes)):
        try:
            count = int(value)  # strings such as "2" from odd hosts
        except (TypeError, ValueError, OverflowError):
            return default
    else:
        return default
    return count if count >= -1 and in_int64(count) else default


def _failure_message(retry_context: object) -> str | None:
    # The worker provides `rpc_exception`; the SDK documents `exception`, which raises AttributeError there.
    failure = read_attribute(retry_context, "rpc_exception", "exception")
    message = failure if isinstance(failure, str) else read_attribute(failure, "message")
    if not isinstance(message, str) or not message:
        return None
    return redacted_text(message if type(message) is str else str.__str__(message), MAX_MESSAGE_LENGTH)


def read_retry_info(context: object) -> RetryInfo:
    """Read `context.retry_context`; a missing or odd one gives `NO_RETRY`-style defaults, never an error."""
    # Nearly every invocation is a first attempt without a retry policy: recognise that at once.
    try:
        retry_context = context.retry_context  # type: ignore[attr-defined]
        count, max_count = retry_context.retry_count, retry_context.max_retry_count
        if type(count) is int and type(max_count) is int and count == 0 == max_count:
            return NO_RETRY
    except KeyboardInterrupt:
        raise
    except BaseException:
        retry_context = read_attribute(context, "retry_context")
    if retry_context is None:
        return NO_RETRY
    count = max(_as_count(read_attribute(retry_context, "retry_count"), 0), 0)
    max_count = _as_count(read_attribute(retry_context, "max_retry_count"), 0)
    previous_failure = _failure_message(retry_context) if count else None
    if count == 0 and max_count == 0 and previous_failure is None:
        return NO_RETRY
    return RetryInfo(count, max_count, previous_failure)


class Invocation:
    """One invocation of one function, as funcscope's middlewares see it.

    Attributes: `function_name`, `function_directory`, `invocation_id`, `trigger`, `retry`, `start_ns`
    (epoch nanoseconds), `cold_start` (first invocation in this worker process), `context` and `func_args`
    (what the worker passed; the arguments as a read-only view, so no middleware can change what the function
    receives), `options` (the function's `FunctionOptions`), `ended` (True once its end was reported: threads it
    started stop carrying it then), and `state`, a dict where each middleware keeps what it must carry from
    `before` to `after`/`on_error`, keyed by the middleware.
    """

    __slots__ = (
        "function_name",
        "function_directory",
        "invocation_id",
        "trigger",
        "retry",
        "start_ns",
        "cold_start",
        "context",
        "func_args",
        "options",
        "state",
        "ended",
        "_host",
    )

    def __init__(
        self,
        context: Any,
        func_args: Mapping[str, object] | None,
        trigger: Trigger,
        options: Any = None,
        cold_start: bool = False,
    ) -> None:
        self.start_ns = time.time_ns()
        self.cold_start = cold_start
        self.context = context
        self.func_args: Mapping[str, object] = (
            MappingProxyType(func_args) if isinstance(func_args, Mapping) else _NO_ARGUMENTS
        )
        # Every invocation builds one of these: the checks are inline rather than a helper call each.
        name = getattr(context, "function_name", None)
        self.function_name = (
            (name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH])
            if type(name) is str and name
            else "unknown"
        )
        directory = getattr(context, "function_directory", None)
        self.function_directory = directory if type(directory) is str else ""
        invocation_id = getattr(context, "invocation_id", None)
        self.invocation_id = (
            (invocation_id if len(invocation_id) <= MAX_NAME_LENGTH else invocation_id[:MAX_NAME_LENGTH])
            if type(invocation_id) is str
            else ""
        )
        self.trigger = trigger
        self.retry = read_retry_info(context)
        self.options = options
        self.state: dict[object, Any] = {}
        self.ended = False
        self._host: HostTraceContext | None = None

    @property
    def host(self) -> HostTraceContext:
        """The host's trace context, parsed on first use."""
        host = self._host
        if host is None:
            host = self._host = read_host_trace_context(self.context)
        return host

    def __repr__(self) -> str:
        return f"<Invocation {self.function_name} {self.invocation_id}>"


class InvocationAbandoned(Exception):
    """Given to `on_error` for an invocation whose end the worker never reported.

    `in_own_context` is True when `on_error` runs in the invocation's own thread context (so context
    variables it set can be reset), False when it runs elsewhere (a finished task's callback, shutdown).
    """

    def __init__(self, reason: str, *, in_own_context: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.in_own_context = in_own_context
