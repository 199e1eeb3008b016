"""Child processes export what they record: `multiprocessing` processes and pool workers, fork and spawn alike.

A `multiprocessing` child never runs the exit handler that flushes: a forked one ends with `os._exit()`, and a
spawned one starts without funcscope configured, so it records into no provider at all. `instrument()` patches,
with `wrapt`, once `multiprocessing` is imported:
- `BaseProcess.start` (in the parent) hands the child what it needs to set funcscope up the same way: the app's
  settings (the plain ones: providers and middlewares cannot cross a process boundary) and, when the process is
  started inside an invocation, its trace context, so the child's spans are children of the invocation's span. A
  forked child needs neither (it inherits both), but a spawned one sets funcscope up from them as it unpickles the
  process object, before the process runs.
- `BaseProcess._bootstrap` (in the child) flushes when the process's `run()` returns, raises or exits; a pool
  worker (`multiprocessing.Pool`, `concurrent.futures.ProcessPoolExecutor`) also flushes before it sends each
  result back, so what a task recorded has left before the pool is terminated, as `with Pool() as pool:` does on
  leaving the block (SIGTERM to its workers). A pool worker serves every invocation's tasks, so it runs in an empty
  context, as the service threads do (see `threads`).

Nothing here runs per invocation: only when a process starts, a pool task returns, or a child ends.
"""

from __future__ import annotations

import contextvars
import dataclasses
import sys
import threading
from typing import Any

import wrapt

from ..shared.current import current_invocation, live
from ..shared.diagnostics import report_once
from ..shared.values import safe_str

__all__ = ["instrument", "is_instrumented", "uninstrument"]

_SETUP = "_funcscope_child"  # on a Process object: the _ChildSetup its child applies
_POOL_WORKERS = {("multiprocessing.pool", "worker"), ("concurrent.futures.process", "_process_worker")}
_SERVICE_MODULES = {"multiprocessing.pool", "concurrent.futures.process", "multiprocessing.managers"}

_lock = threading.Lock()
_enabled = False
_hooked = False
_wrapped: dict[str, Any] = {}  # BaseProcess attribute -> our FunctionWrapper


class _ChildSetup:
    """What a child process needs to record like its parent: the parent's plain settings and the trace context of
    the invocation that started it. Unpickled in a spawned child, it sets funcscope up there."""

    __slots__ = ("options", "carrier", "fresh")

    def __init__(self, options: dict[str, Any] | None, carrier: dict[str, str], fresh: bool = False) -> None:
        self.options = options
        self.carrier = carrier
        self.fresh = fresh  # True in a child that unpickled it: a new interpreter, funcscope not set up yet

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (self.options, self.carrier))


def _restore(options: dict[str, Any] | None, carrier: dict[str, str]) -> _ChildSetup:
    # Runs as a spawned child unpickles its process object, before the process runs: never raises.
    try:
        instrument()
        if options is not None:
            from ..runtime.runner import get_runner

            get_runner().configure(**options)
    except Exception as exc:
        report_once(
            ("processes", "child-setup", type(exc).__name__),
            f"could not set funcscope up in a child process ({safe_str(exc)}); what it records may not be exported.",
            exc=exc,
        )
    return _ChildSetup(options, carrier, fresh=True)


def _target_of(process: Any) -> tuple[str | None, str | None]:
    target = getattr(process, "_target", None)
    if target is None:
        return type(process).__module__, None
    return getattr(target, "__module__", None), getattr(target, "__name__", None)


_PLAIN = (str, int, float, bool, type(None))


def _plain_options() -> dict[str, Any]:
    # The settings that can cross a process boundary: plain values. Providers, middlewares and a credential are
    # objects of this process; a child sets up what it needs from the plain ones and the app settings.
    from ..runtime.runner import get_runner

    settings = get_runner().settings
    options = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    return {
        name: value
        for name, value in options.items()
        if isinstance(value, _PLAIN) or (isinstance(value, tuple) and all(isinstance(v, str) for v in value))
    }


# -- the parent ------------------------------------------------------------------------------------------------


def _start(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if _enabled:
        try:
            carrier: dict[str, str] = {}
            module, _ = _target_of(instance)
            if module not in _SERVICE_MODULES and live(current_invocation.get()) is not None:
                from opentelemetry.propagate import inject

                inject(carrier)
            instance.__dict__[_SETUP] = _ChildSetup(_plain_options(), carrier)
        except Exception as exc:
            report_once(
                ("processes", "start", type(exc).__name__),
                f"could not prepare a child process ({safe_str(exc)}); it may export nothing.",
            )
    return wrapped(*args, **kwargs)


# -- the child -------------------------------------------------------------------------------------------------


def _flush() -> None:
    from ..runtime.runner import get_runner

    get_runner().shutdown()  # ends the child's own invocations still in flight, then a bounded flush


class _FlushingQueue:
    """A pool worker's result queue that flushes before each result goes back to the pool."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def put(self, obj: Any) -> None:
        try:
            _flush()
        except Exception as exc:
            report_once(("processes", "flush", type(exc).__name__), f"flush failed: {safe_str(exc)}")
        self._queue.put(obj)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


def _flushing_run(run: Any) -> Any:
    def run_then_flush() -> None:
        try:
            run()
        finally:
            _flush()

    return run_then_flush


def _bootstrap(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    setup = instance.__dict__.pop(_SETUP, None)
    if not _enabled or setup is None:
        return wrapped(*args, **kwargs)
    module, name = _target_of(instance)
    context = None
    try:
        if (module, name) in _POOL_WORKERS:
            worker_args = list(instance._args)
            worker_args[1] = _FlushingQueue(worker_args[1])
            instance._args = tuple(worker_args)
        instance.run = _flushing_run(instance.run)  # before _bootstrap's exit handling and thread shutdown
        if module in _SERVICE_MODULES:
            context = contextvars.Context()  # a pool worker belongs to no invocation
        elif setup.fresh and setup.carrier:
            context = contextvars.copy_context()
            context.run(_attach_carried, setup.carrier)
    except Exception as exc:
        report_once(
            ("processes", "child", type(exc).__name__),
            f"could not prepare this child process ({safe_str(exc)}); it may export nothing.",
        )
    if context is None:
        return wrapped(*args, **kwargs)
    return context.run(wrapped, *args, **kwargs)


def _attach_carried(carrier: dict[str, str]) -> None:
    from opentelemetry import context as otel_context
    from opentelemetry.propagate import extract

    otel_context.attach(extract(carrier))


# -- public API ------------------------------------------------------------------------------------------------


def _patch(module: Any) -> None:
    with _lock:
        base = module.BaseProcess
        for name, wrapper in (("start", _start), ("_bootstrap", _bootstrap)):
            if name not in _wrapped or base.__dict__.get(name) is not _wrapped[name]:
                wrapt.wrap_function_wrapper(base, name, wrapper)
                _wrapped[name] = base.__dict__[name]


def instrument() -> None:
    """Patch `multiprocessing` once it is imported (at once if it is); idempotent."""
    global _enabled, _hooked
    with _lock:
        _enabled = True
        hook, _hooked = not _hooked, True
    if hook:
        wrapt.register_post_import_hook(_patch, "multiprocessing.process")  # runs now if imported already
    elif "multiprocessing.process" in sys.modules:
        _patch(sys.modules["multiprocessing.process"])  # again, after uninstrument()


def uninstrument() -> None:
    """Restore `multiprocessing`'s own methods (a patch wrapped again by someone else passes straight through)."""
    global _enabled
    with _lock:
        _enabled = False
        module = sys.modules.get("multiprocessing.process")
        if module is None:
            return
        base = module.BaseProcess
        for name, wrapper in list(_wrapped.items()):
            if base.__dict__.get(name) is wrapper:
                setattr(base, name, wrapper.__wrapped__)
                del _wrapped[name]


def is_instrumented() -> bool:
    return _enabled
