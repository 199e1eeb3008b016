"""Carry the current invocation into the threads and pool work it starts.

Work started from inside an invocation runs with that invocation's
- context variables, copied when the work is started: OpenTelemetry's context (so spans made there are children
  of the invocation's span) and funcscope's `current_invocation`;
- thread-local invocation id: the worker names the invocation of a log record from another thread by
  `context.thread_local_storage.invocation_id`, which a new thread does not have. It is set around the work and
  the thread's previous value is restored afterwards;
- on the Python 3.13+ worker, the runtime's `invocation_id_cv` (`azure_functions_runtime` for v2 apps,
  `azure_functions_runtime_v1` for v1): the proxy worker files a record under that context variable before any
  thread-local, and the runtime sets it around sync functions only, so it is set in the carried work whatever
  the function was.

`instrument()` patches, with `wrapt`, once per process:
- `threading.Thread.start` captures, `threading.Thread.run` applies (so a subclass whose `run` calls
  `super().run()` is covered; one that overrides `run` entirely is not), and `threading.Timer.run` applies
  (it does not call `Thread.run`);
- `concurrent.futures.ThreadPoolExecutor.submit` wraps the callable, which also covers `map`,
  `loop.run_in_executor` with any thread pool, and `asyncio.to_thread` (that copies context variables itself,
  but does not set the thread-local).

These patches sit on the worker's hot path: it hands every sync invocation to its pool through `submit` and
starts its pool threads with `Thread.start`. Outside an invocation a patched call reads one context variable
and goes straight through. Pool threads are never given an invocation: they live on and serve later work, so
pool work is carried per submitted callable and the thread's own state is restored after each one.

A thread carries its invocation only until the invocation ends (see `shared.current`): a long-lived thread of
the app's own that is started lazily from inside an invocation (a poller, a queue consumer) runs outside any
invocation from then on, so the work later invocations hand it is never filed under the one that started it (to
have it filed under the invocation that hands it over, hand over `contextvars.copy_context()` with the work and
run the work in it). Pool work is carried per submitted callable, for as long as the callable runs.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import Context, ContextVar, copy_context
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace

from ..shared.carried_span import UntilEnded
from ..shared.current import current_invocation, in_started_thread, live
from ..shared.diagnostics import report_once
from ..shared.invocation import Invocation

__all__ = ["instrument", "uninstrument", "is_instrumented", "runtime_invocation_vars"]

# Standard-library modules whose threads are long-lived service threads: thread-pool workers
# (`concurrent.futures.thread._worker`, `multiprocessing.pool.worker`) and the threads that manage pools and
# queues (process-pool manager, pool handlers, queue feeders, `QueueListener`). Such a thread outlives the
# invocation that happened to start it — a pool grows inside `submit`, a queue starts its feeder on the first
# `put`, possibly while an invocation is current — and would run every later piece of work, or handle every
# later record, as that invocation. So its start captures nothing. A thread is recognised by the module of its
# target (of its class when it has none): no user code lives there, and it stays right if a Python version
# renames the function.
_SERVICE_MODULES = frozenset(
    {
        "concurrent.futures.thread",
        "concurrent.futures.process",
        "multiprocessing.pool",
        "multiprocessing.queues",
        "logging.handlers",
    }
)

_CARRIED = "_funcscope_carried"  # on a started Thread: (context, invocation) for its run()
_RUNTIME_MODULES = ("azure_functions_runtime", "azure_functions_runtime_v1")
_MISSING = object()

_lock = threading.Lock()
_enabled = False
_wrappers: dict[tuple[type, str], Any] = {}  # our FunctionWrapper per patched attribute


def _is_service_thread(thread: object) -> bool:
    target = getattr(thread, "_target", None)
    module = type(thread).__module__ if target is None else getattr(target, "__module__", None)
    return module in _SERVICE_MODULES


def _is_interpreter_pool(executor: object) -> bool:
    # Python 3.14's InterpreterPoolExecutor is a ThreadPoolExecutor that ships the callable to another
    # interpreter; a callable carrying a Context cannot go there. Look only if that module was imported.
    module = sys.modules.get("concurrent.futures.interpreter")
    cls = getattr(module, "InterpreterPoolExecutor", None)
    return cls is not None and isinstance(executor, cls)


def runtime_invocation_vars() -> tuple[ContextVar[Any], ...]:
    """The `invocation_id_cv` of each Python 3.13+ runtime loaded in this process (none on other workers)."""
    found = []
    for name in _RUNTIME_MODULES:
        var = getattr(sys.modules.get(name), "invocation_id_cv", None)
        if isinstance(var, ContextVar):
            found.append(var)
    return tuple(found)


# -- applying what was carried ---------------------------------------------------------------------------------


def _set_thread_local(invocation: Invocation) -> tuple[Any, object] | None:
    try:
        storage = getattr(invocation.context, "thread_local_storage", None)
        if storage is None:  # a context without one (not the worker's): nothing to set
            return None
        previous = getattr(storage, "invocation_id", _MISSING)
        storage.invocation_id = invocation.invocation_id
        return storage, previous
    except Exception as exc:
        _report("thread-local", exc)
        return None


def _restore_thread_local(storage: Any, previous: object) -> None:
    try:
        if previous is _MISSING:
            del storage.invocation_id
        else:
            storage.invocation_id = previous
    except Exception as exc:
        _report("thread-local", exc)


def _run_in(
    context: Context, invocation_id: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    entered = False

    def call() -> Any:
        nonlocal entered
        entered = True
        # The copy is this work's own, so what is set here needs no reset.
        for var in runtime_invocation_vars():
            var.set(invocation_id)
        return fn(*args, **kwargs)

    try:
        return context.run(call)
    except RuntimeError as exc:
        if entered:  # the user's own error: unchanged
            raise
        # The context could not be entered (it is already entered elsewhere): the work still runs, as if it
        # had been started outside the invocation.
        _report("context", exc)
    return fn(*args, **kwargs)


def _run_carried(
    context: Context, invocation: Invocation, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    saved = _set_thread_local(invocation)
    try:
        return _run_in(context, invocation.invocation_id, fn, args, kwargs)
    finally:
        if saved is not None:
            _restore_thread_local(*saved)


class _Carried:
    """A callable submitted to a pool from inside an invocation, bound to what it must run with."""

    __slots__ = ("fn", "context", "invocation")

    def __init__(self, fn: Callable[..., Any], context: Context, invocation: Invocation) -> None:
        self.fn = fn
        self.context = context
        self.invocation = invocation

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _run_carried(self.context, self.invocation, self.fn, args, kwargs)

    def __repr__(self) -> str:
        return f"<funcscope carried {self.fn!r} for {self.invocation!r}>"


def _report(what: str, exc: BaseException) -> None:
    report_once(
        ("propagation", what, type(exc).__name__),
        f"could not carry the invocation's {what} into a thread ({exc!r}); the work runs without it, "
        "so its logs or spans may not be attributed to the invocation. Further failures of this kind are not logged.",
        exc=exc,
    )


# -- the wrappers (hot path: keep the outside-an-invocation branch to one context variable read) ---------------


def _until_the_end(invocation: Invocation) -> None:
    # Run in the context a thread is given: it carries the invocation only while the invocation is in flight.
    in_started_thread.set(True)
    otel_context.attach(trace.set_span_in_context(UntilEnded(trace.get_current_span(), invocation)))


def _thread_start(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    invocation = current_invocation.get()
    if invocation is None or not _enabled or _is_service_thread(instance) or live(invocation) is None:
        return wrapped(*args, **kwargs)
    try:
        state = instance.__dict__
        context = copy_context()
        context.run(_until_the_end, invocation)
        state[_CARRIED] = (context, invocation)
    except Exception as exc:
        _report("context", exc)
        return wrapped(*args, **kwargs)
    try:
        return wrapped(*args, **kwargs)
    except BaseException:
        state.pop(_CARRIED, None)  # never started: hold no invocation
        raise


def _thread_run(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # Once per thread, not per invocation. Popped, so the thread holds no invocation after its run and a
    # second run() (called by hand) runs plainly.
    state = getattr(instance, "__dict__", None)
    carried = state.pop(_CARRIED, None) if state else None
    if carried is None:
        return wrapped(*args, **kwargs)
    return _run_carried(carried[0], carried[1], wrapped, args, kwargs)


def _pool_submit(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    invocation = current_invocation.get()
    if invocation is None or not _enabled or not args or _is_interpreter_pool(instance) or live(invocation) is None:
        return wrapped(*args, **kwargs)
    return wrapped(_Carried(args[0], copy_context(), invocation), *args[1:], **kwargs)


_PATCHES: tuple[tuple[type, str, Callable[..., Any]], ...] = (
    (threading.Thread, "start", _thread_start),
    (threading.Thread, "run", _thread_run),
    (threading.Timer, "run", _thread_run),
    (ThreadPoolExecutor, "submit", _pool_submit),
)


def _in_chain(cls: type, name: str, wrapper: object) -> bool:
    # Is our wrapper still reachable from the class attribute (possibly under someone else's wrapper)?
    obj = cls.__dict__.get(name)
    while obj is not None:
        if obj is wrapper:
            return True
        obj = getattr(obj, "__wrapped__", None)
    return False


# -- public API ------------------------------------------------------------------------------------------------


def instrument() -> None:
    """Patch threads, timers and thread pools to carry the current invocation; idempotent and thread-safe."""
    global _enabled
    with _lock:
        for cls, name, wrapper in _PATCHES:
            key = (cls, name)
            ours = _wrappers.get(key)
            if ours is not None and _in_chain(cls, name, ours):
                continue  # still in place (perhaps under another library's wrapper): re-enabled below
            wrapt.wrap_function_wrapper(cls, name, wrapper)
            _wrappers[key] = cls.__dict__[name]
        _enabled = True


def uninstrument() -> None:
    """Restore the original methods.

    A patch another library has wrapped again since cannot be taken out without dropping that library's
    wrapper too; it is left in place and passes straight through until `instrument()` enables it again.
    """
    global _enabled
    with _lock:
        _enabled = False
        for (cls, name), wrapper in list(_wrappers.items()):
            # Read the class dict, not getattr: an inherited attribute is not ours to replace.
            original = wrapper.__wrapped__
            if cls.__dict__.get(name) is wrapper:
                setattr(cls, name, original)
                del _wrappers[(cls, name)]
            elif not _in_chain(cls, name, wrapper):
                del _wrappers[(cls, name)]  # someone replaced it outright: nothing of ours left


def is_instrumented() -> bool:
    return _enabled
