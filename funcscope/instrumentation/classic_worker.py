"""The on-error path for the classic worker (`azure_functions_worker` 4.x).

That worker runs no post hook when the user's function raises, so an extension alone never learns of the
failure. `instrument()` wraps the worker's invocation wrappers (`ExtensionManager._raw_invocation_wrapper` for
sync functions, `get_async_invocation_wrapper` for async ones) with `wrapt`: an exception is handed to the
pipeline's `on_error` in the invocation's own thread or task, then re-raised unchanged. `uninstrument()`
restores the originals. Where the worker is not present, nothing is patched and the runner ends such
invocations itself (at the next invocation on the thread, when the task ends, or at shutdown).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import wrapt

from ..runtime.runner import get_runner

__all__ = ["instrument", "uninstrument", "is_instrumented"]

WORKER_EXTENSION_MODULE = "azure_functions_worker.extension"
EMULATOR_EXTENSION_MODULE = "funcscope.emulator.extension_manager"
_SYNC = "_raw_invocation_wrapper"
_ASYNC = "get_async_invocation_wrapper"

_instrumented: set[type] = set()
_lock = threading.Lock()


def _worker_managers() -> list[type]:
    # Only a worker that is already running is patched: importing the worker package ourselves would be a
    # side effect, and outside the worker there is nothing to patch. funcscope's own emulator stands in for
    # the worker, so it is treated the same way.
    managers = []
    for module_name in (WORKER_EXTENSION_MODULE, EMULATOR_EXTENSION_MODULE):
        manager = getattr(sys.modules.get(module_name), "ExtensionManager", None)
        if isinstance(manager, type):
            managers.append(manager)
    return managers


def _context_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[0] if args else kwargs.get("ctx")


def _sync_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return wrapped(*args, **kwargs)
    except Exception as exc:
        get_runner().fail(_context_of(args, kwargs), exc)
        raise


def _async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _fail_on_error(wrapped(*args, **kwargs), _context_of(args, kwargs))


async def _fail_on_error(awaitable: Any, ctx: Any) -> Any:
    try:
        return await awaitable
    except Exception as exc:
        get_runner().fail(ctx, exc)
        raise


def instrument(manager: type | None = None) -> bool:
    """Patch the worker's `ExtensionManager` (the running worker's, unless one is given); once per class.

    Returns True when a class is patched (now or before), False when there is no worker to patch or it
    does not have the expected methods (a worker version funcscope does not know).
    """
    targets = [manager] if manager is not None else _worker_managers()
    patched = False
    for target in targets:
        if not all(callable(getattr(target, name, None)) for name in (_SYNC, _ASYNC)):
            continue
        with _lock:
            if target not in _instrumented:
                wrapt.wrap_function_wrapper(target, _SYNC, _sync_wrapper)
                wrapt.wrap_function_wrapper(target, _ASYNC, _async_wrapper)
                _instrumented.add(target)
        patched = True
    return patched


def uninstrument(manager: type | None = None) -> None:
    """Restore the original methods of the classes `instrument()` patched (all of them unless one is given)."""
    with _lock:
        for target in [manager] if manager is not None else list(_instrumented):
            if target not in _instrumented:
                continue
            for name in (_SYNC, _ASYNC):
                # Read the class dict, not getattr: the wrapped object is the classmethod descriptor itself.
                wrapper = target.__dict__.get(name)
                if isinstance(wrapper, wrapt.FunctionWrapper):
                    setattr(target, name, wrapper.__wrapped__)
            _instrumented.discard(target)


def is_instrumented(manager: type) -> bool:
    return manager in _instrumented
