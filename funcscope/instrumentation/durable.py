"""Durable Functions (`azure-functions-durable`): what each orchestrator, activity and entity invocation is.

The worker invokes the framework's handles: an orchestrator function's handle gets the orchestration's history
as JSON, builds a `DurableOrchestrationContext` and runs the user's generator from the start, replaying every
step whose result the history already holds (`context.is_replaying` is True then) until it reaches new events;
the next steps are the real work of this invocation (an "episode"). So every invocation re-runs earlier steps,
and whatever they log or trace would be reported again, as if it were new work.

`instrument()` patches, with `wrapt`, once each module is imported:

- `azure.durable_functions.orchestrator.Orchestrator.handle`: the invocation span gets the orchestration's
  instance id (and parent instance id, for a sub-orchestration) and the number of steps it replayed; the user's
  generator is stepped through a generator of ours that reads `context.is_replaying` before each step. A replayed
  step runs, with `replays="omit"` (the default), in an unsampled context (spans started there are not recorded
  by a parent-based sampler, which funcscope's providers use) and with its log records dropped before any
  handler sees them (the worker's, funcscope's exporter); with `replays="mark"`, under a "<function> replay"
  span marked `azure.functions.durable.is_replaying`, which the replayed steps' spans and records hang under.
- `azure.durable_functions.entity.Entity.handle`: the entity's instance id (`@name@key`) and the number of
  operations in the batch.
- `azure.functions.durable_functions.ActivityTriggerConverter.decode`: the instance id of the orchestration an
  activity runs for, which the Durable extension sends in the trigger metadata (`instanceId`) and the converter
  drops; it is kept with the decoded input until the invocation that receives that input starts.

Activities and entities are traced as any invocation, under the host's trace context; the trace joins client,
orchestrator and activity where the framework passes the context: the durable client sends the current span's
`traceparent` with `start_new` and `signal_entity` (so with the invocation span current, the orchestration's
host spans join the client's trace), and the Durable extension passes the orchestration's context to the
orchestrator and activity invocations it starts (its distributed tracing), which funcscope parents to.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Generator
from contextvars import ContextVar
from types import GeneratorType
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from ..shared import attributes as attr
from ..shared.current import current_invocation
from ..shared.diagnostics import report_once

__all__ = ["REPLAY_MODES", "claim_activity_instance", "instrument", "is_instrumented", "uninstrument"]

REPLAY_MODES = ("omit", "mark")
ORCHESTRATOR_MODULE = "azure.durable_functions.orchestrator"
ENTITY_MODULE = "azure.durable_functions.entity"
CONVERTER_MODULE = "azure.functions.durable_functions"
_PENDING_LIMIT = 1024  # decoded activity inputs whose invocation has not started yet

_lock = threading.Lock()
_enabled = False
_replays = "omit"
_tracer: trace.Tracer | None = None
_hooks_registered = False
_patched: list[tuple[Any, str, Any]] = []  # (owner, attribute, our wrapper)
_replaying: ContextVar[bool] = ContextVar("funcscope_durable_replaying", default=False)
# id(decoded activity input) -> (the input, its orchestration's instance id); the input is held so its id stays
# unique while it waits.
_pending: OrderedDict[int, tuple[object, str | None]] = OrderedDict()
_pending_lock = threading.Lock()


def _report(what: str, exc: BaseException) -> None:
    report_once(
        ("durable", what, type(exc).__name__),
        f"could not read a Durable Functions {what} ({exc!r}); the invocation is traced without what it "
        "tells. Further failures of this kind are not logged.",
        exc=exc,
    )


# -- orchestrators -------------------------------------------------------------------------------------------------


class _Episode:
    """One orchestrator invocation: counts its replayed steps and gives each step the context it runs in."""

    __slots__ = ("context", "function_name", "parent", "replayed", "replay_span")

    def __init__(self, context: Any, function_name: str) -> None:
        self.context = context
        self.function_name = function_name
        self.parent = otel_context.get_current()
        self.replayed = 0
        self.replay_span: trace.Span | None = None

    def enter(self) -> tuple[object, object] | None:
        try:
            replaying = bool(self.context.is_replaying)
        except Exception:
            replaying = False
        if not replaying:
            self.end_replay()
            return None
        self.replayed += 1
        if _replays == "mark":
            if self.replay_span is None and _tracer is not None:
                self.replay_span = _tracer.start_span(
                    f"{self.function_name} replay", context=self.parent, attributes={attr.DURABLE_IS_REPLAYING: True}
                )
            step = trace.set_span_in_context(self.replay_span or trace.INVALID_SPAN, self.parent)
            return otel_context.attach(step), None
        current = trace.get_current_span(self.parent).get_span_context()
        unsampled = SpanContext(current.trace_id, current.span_id, False, TraceFlags(TraceFlags.DEFAULT))
        step = trace.set_span_in_context(NonRecordingSpan(unsampled), self.parent)
        return otel_context.attach(step), _replaying.set(True)

    @staticmethod
    def exit(tokens: tuple[Any, Any] | None) -> None:
        if tokens is None:
            return
        otel_token, replaying_token = tokens
        if replaying_token is not None:
            _replaying.reset(replaying_token)
        otel_context.detach(otel_token)

    def end_replay(self) -> None:
        span, self.replay_span = self.replay_span, None
        if span is not None:
            span.end()


def _stepped(generator: Generator[Any, Any, Any], episode: _Episode) -> Generator[Any, Any, Any]:
    """The user's orchestrator generator, step for step (what it yields, is sent, is thrown, returns), each step
    run in the context its replay state calls for."""
    sent: Any = None
    thrown: BaseException | None = None
    try:
        while True:
            tokens = episode.enter()
            try:
                item = generator.send(sent) if thrown is None else generator.throw(thrown)
            except StopIteration as stop:
                return stop.value
            finally:
                episode.exit(tokens)
            try:
                sent, thrown = (yield item), None
            except GeneratorExit:
                generator.close()
                raise
            except BaseException as exc:  # the framework throws a failed task's exception into the orchestrator
                sent, thrown = None, exc
    finally:
        episode.end_replay()


def _orchestrator_handle(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    invocation = current_invocation.get()
    context = args[0] if args else kwargs.get("context")
    if invocation is None or not _enabled or context is None:
        return wrapped(*args, **kwargs)
    episode = None
    try:
        episode = _Episode(context, invocation.function_name)
        user_function = instance.fn

        def replay_aware(*fn_args: Any, **fn_kwargs: Any) -> Any:
            result = user_function(*fn_args, **fn_kwargs)
            return _stepped(result, episode) if isinstance(result, GeneratorType) else result

        instance.fn = replay_aware
        span = trace.get_current_span()
        span.set_attribute(attr.DURABLE_INSTANCE_ID, str(context.instance_id))
        parent_instance = getattr(context, "parent_instance_id", None)
        if isinstance(parent_instance, str) and parent_instance:
            span.set_attribute(attr.DURABLE_PARENT_INSTANCE_ID, parent_instance)
    except Exception as exc:
        _report("orchestration", exc)
    try:
        return wrapped(*args, **kwargs)
    finally:
        if episode is not None:
            episode.end_replay()
            trace.get_current_span().set_attribute(attr.DURABLE_REPLAYED_STEPS, episode.replayed)


def _call_handlers(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # Every log record in the process passes here once: one context variable read, unless a replayed step runs.
    if _replaying.get():
        return None
    return wrapped(*args, **kwargs)


# -- entities and activities ---------------------------------------------------------------------------------------


def _entity_handle(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if _enabled and current_invocation.get() is not None:
        try:
            context: Any = args[0] if args else kwargs.get("context")
            batch = args[1] if len(args) > 1 else kwargs.get("batch")
            span = trace.get_current_span()
            span.set_attribute(attr.DURABLE_INSTANCE_ID, f"@{context.entity_name}@{context.entity_key}")
            if isinstance(batch, list):
                span.set_attribute(attr.DURABLE_OPERATION_COUNT, len(batch))
        except Exception as exc:
            _report("entity", exc)
    return wrapped(*args, **kwargs)


def _activity_decode(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    decoded = wrapped(*args, **kwargs)
    if not _enabled:
        return decoded
    try:
        metadata = kwargs.get("trigger_metadata")
        datum = metadata.get("instanceId") if metadata else None
        value = datum.python_value if datum is not None else None
        instance_id = value if isinstance(value, str) and value else None
        if instance_id is not None:
            with _pending_lock:
                seen = _pending.get(id(decoded))
                if seen is not None and seen[1] != instance_id:
                    instance_id = None  # one shared object (a small int, None) for two activities: tell neither
                _pending[id(decoded)] = (decoded, instance_id)
                while len(_pending) > _PENDING_LIMIT:
                    _pending.popitem(last=False)
    except Exception as exc:
        _report("activity", exc)
    return decoded


def claim_activity_instance(activity_input: object) -> str | None:
    """The instance id of the orchestration whose activity got `activity_input` (as decoded), once; else None."""
    if not _pending:
        return None
    with _pending_lock:
        entry = _pending.pop(id(activity_input), None)
    return entry[1] if entry is not None and entry[0] is activity_input else None


# -- the patches ---------------------------------------------------------------------------------------------------


def _patch(owner: Any, attribute: str, wrapper: Any) -> None:
    with _lock:
        if owner is None or any(p[0] is owner and p[1] == attribute for p in _patched):
            return
        wrapt.wrap_function_wrapper(owner, attribute, wrapper)
        _patched.append((owner, attribute, vars(owner)[attribute]))


def _on_orchestrator(module: Any) -> None:
    if _enabled:
        _patch(getattr(module, "Orchestrator", None), "handle", _orchestrator_handle)
        if _replays == "omit":
            _patch(logging.Logger, "callHandlers", _call_handlers)


def _on_entity(module: Any) -> None:
    if _enabled:
        _patch(getattr(module, "Entity", None), "handle", _entity_handle)


def _on_converter(module: Any) -> None:
    if _enabled:
        _patch(getattr(module, "ActivityTriggerConverter", None), "decode", _activity_decode)


_TARGETS = ((ORCHESTRATOR_MODULE, _on_orchestrator), (ENTITY_MODULE, _on_entity), (CONVERTER_MODULE, _on_converter))


def instrument(replays: str = "omit", tracer: trace.Tracer | None = None) -> None:
    """Follow Durable Functions invocations (each patch once its module is imported); `replays` is "omit" or
    "mark", `tracer` makes the replay spans of "mark". Idempotent."""
    import sys

    global _enabled, _replays, _tracer, _hooks_registered
    if replays not in REPLAY_MODES:
        raise ValueError(f"replays must be one of {', '.join(REPLAY_MODES)}, got {replays!r}")
    with _lock:
        _enabled, _replays, _tracer = True, replays, tracer
        first = not _hooks_registered
        _hooks_registered = True
    for module_name, patch in _TARGETS:
        if first:  # runs at once for a module imported already, and stays for good
            wrapt.register_post_import_hook(patch, module_name)
        elif module_name in sys.modules:
            patch(sys.modules[module_name])
    if replays == "mark":
        _unpatch(logging.Logger, "callHandlers")


def _unpatch(owner: Any, attribute: str) -> None:
    with _lock:
        kept = []
        for patched_owner, patched_attribute, ours in _patched:
            if patched_owner is owner and patched_attribute == attribute and vars(owner).get(attribute) is ours:
                setattr(owner, attribute, ours.__wrapped__)
            else:
                kept.append((patched_owner, patched_attribute, ours))
        _patched[:] = kept


def uninstrument() -> None:
    """Restore the originals (where ours are still the ones in place)."""
    global _enabled
    with _lock:
        _enabled = False
        patched = list(_patched)
    for owner, attribute, _ in patched:
        _unpatch(owner, attribute)
    with _pending_lock:
        _pending.clear()


def is_instrumented() -> bool:
    return _enabled
