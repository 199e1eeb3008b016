"""Plain, picklable records the emulator hands back: function metadata, calls and results."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .logs import LogEntry

__all__ = ["Call", "FunctionInfo", "InvocationResult", "Timings"]


@dataclass(frozen=True)
class FunctionInfo:
    """What the worker knows about one loaded function."""

    name: str
    directory: str
    trigger_type: str
    trigger_binding_name: str
    is_async: bool
    requires_context: bool
    #: Binding dicts as in function.json, with ``direction`` lower-cased ("in", "out", "inout").
    bindings: tuple[dict[str, Any], ...] = ()
    #: Parameters annotated with an SDK type (``azurefunctions-extensions-bindings-*``, e.g. a ``BlobClient``): the
    #: parameter's name and its type's "module:qualname", for the worker's deferred-binding path.
    sdk_types: tuple[tuple[str, str], ...] = ()
    #: The retry policy's maximum (`maxRetryCount`; -1 retries forever, 0 is no policy): the host sends it in the
    #: retry context of every attempt, the first one too.
    max_retry_count: int = 0

    @cached_property  # read on every invocation; the bindings never change
    def has_return(self) -> bool:
        """A `$return` binding, or a trigger whose converter has an implicit output (the Durable Functions
        triggers), whose return value the worker sends back as the worker does."""
        if any(b.get("name") == "$return" for b in self.bindings):
            return True
        from azure.functions import meta

        converter = meta.get_binding_registry().get(self.trigger_type)
        return bool(converter is not None and converter.has_implicit_output())

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(b["name"] for b in self.bindings if b.get("direction") == "out" and b.get("name") != "$return")


@dataclass
class Call:
    """One invocation request; the fields mirror :meth:`Worker.invoke`'s parameters."""

    function_name: str
    payload: Any = None
    trace_parent: str | None = None
    trace_state: str = ""
    trace_attributes: dict[str, str] | None = None
    retry_context: Any = None
    invocation_id: str | None = None


@dataclass(frozen=True)
class Timings:
    """``time.perf_counter`` spans of one invocation, in seconds.

    ``queued_s``: from submission until the function (with its hooks) started running;
    ``run_s``: the function with its hooks; ``total_s``: submission until the result was ready.
    With several processes ``run_s`` is measured in the worker process and ``total_s`` here, so
    ``queued_s`` (their difference) includes the trip between processes.
    """

    queued_s: float
    run_s: float
    total_s: float


@dataclass
class InvocationResult:
    """The outcome of one invocation as the host would see it, plus what was logged meanwhile."""

    invocation_id: str
    function_name: str
    value: Any
    exception: BaseException | None
    #: Records the host attributes to this invocation.
    logs: list[LogEntry]
    #: Records with no invocation id emitted while this invocation ran (a superset under concurrency).
    unattributed_logs: list[LogEntry]
    timings: Timings
    pid: int
    trace_parent: str
    #: Values set on output bindings, by binding name (``None`` when never set).
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exception is None

    def raise_for_exception(self) -> None:
        """Re-raise the function's exception, if it raised one."""
        if self.exception is not None:
            raise self.exception
