"""Every function traced where the worker runs no extension hooks: each is wrapped where the worker reads it.

The Python 3.13+ worker (a proxy calling `azure-functions-runtime` for v2 apps, `azure-functions-runtime-v1` for
v1 apps) runs no extension hooks, and the classic worker runs none while `PYTHON_ENABLE_WORKER_EXTENSIONS` is
off. There `instrument()`, which `funcscope.configure()` calls, has the worker load every function as a
`funcscope.runtime.wrapper.TracedFunction`, which runs the pipeline itself, just as the app-level extension
runs for every function once `configure()` registered it; `trace_function(name)` has one function wrapped (a
v1 `FunctionScope` alone, as its hooks would run for its function alone). Patched with `wrapt`, each when its
module is imported:

- v2 apps: `azure.functions.decorators.function_app.Function.get_user_function`. Every worker (and funcscope's
  emulator) indexes a v2 app by importing `function_app.py`, then asking its `FunctionApp` for `get_functions()`
  and each function for its callable here; so every function of the app and of the blueprints it registered is
  wrapped, whether it was registered before or after `configure()` ran. Its bindings, read here too, tell its
  trigger (`funcscope.shared.triggers`), on every worker, hooks or not.
- v1 apps: the registry each loaded entry point (`main`, or `entryPoint` in `function.json`) is added to:
  `azure_functions_runtime_v1.functions.Registry.add_function`, the classic worker's
  `azure_functions_worker.functions.Registry.add_function` and the emulator's `loader.add_function`. The worker
  adds a function right after importing its script, so the first function whose import configures funcscope
  is wrapped too; a function loaded before any import configured funcscope is not (`funcscope doctor` lists it).
  Its folder's function.json, read here too, tells its trigger.

The worker reads the wrapper's signature, annotations and coroutine flag as the function's own, so bindings
and the sync/async dispatch are unchanged. A function the `funcscope.function` decorator wrapped already is
left as it is. Where the hooks run (the classic worker with its setting on), nothing is wrapped: the hooks run
the pipeline already. `uninstrument()` restores the originals; functions the worker loaded meanwhile keep
their wrapper (the worker holds them), which passes straight through while funcscope is disabled.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import wrapt

from ..runtime.wrapper import TracedFunction, is_traced, wrap_function
from ..shared.triggers import declare_indexed_function, declare_loaded_folder

__all__ = ["hooks_run", "instrument", "is_instrumented", "trace_function", "uninstrument", "wrapped_function"]

SDK_MODULE = "azure.functions.decorators.function_app"
V1_REGISTRIES = (
    "azure_functions_runtime_v1.functions",
    "azure_functions_worker.functions",
)
EMULATOR_LOADER = "funcscope.emulator.loader"
EMULATOR_HOOKS = "funcscope.emulator.extension_manager"
CLASSIC_EXTENSION = "azure_functions_worker.extension"
CLASSIC_COMMON = "azure_functions_worker.utils.common"
EXTENSIONS_SETTING = "PYTHON_ENABLE_WORKER_EXTENSIONS"

_lock = threading.Lock()
_enabled = False  # every function (the app called configure())
_named: set[str] = set()  # v1 functions with a FunctionScope of their own: wrapped even so
_hooks_registered = False
_patched: list[tuple[Any, str, Any]] = []  # (owner, attribute, our wrapper) of every patch in place
# One wrapper per user function, whoever asks for it and however often.
_wrappers: weakref.WeakKeyDictionary[Any, TracedFunction] = weakref.WeakKeyDictionary()


def hooks_run() -> bool:
    """Whether the worker running this process runs extension hooks: the classic worker with its setting on
    (read with the worker's own rule), or funcscope's emulator in that mode. False on the Python 3.13+ worker."""
    emulator = sys.modules.get(EMULATOR_HOOKS)
    decided = emulator.hooks_run() if emulator is not None else None
    if decided is not None:
        return bool(decided)
    common = sys.modules.get(CLASSIC_COMMON)
    if CLASSIC_EXTENSION in sys.modules and common is not None:
        return bool(common.is_envvar_true(EXTENSIONS_SETTING))
    return False


def wrapped_function(fn: Any, function_name: str | None = None, binding_names: Iterable[object] = ()) -> Any:
    """`fn` as the worker should load it now: wrapped, unless it is wrapped already, hooks run, or funcscope's
    wrapping is off (for this function). `binding_names` are its bindings' names, where the worker has them."""
    if not (_enabled or function_name in _named) or is_traced(fn) or not callable(fn) or hooks_run():
        return fn
    try:
        wrapper = _wrappers.get(fn)
        if wrapper is None:
            # A binding named `context` gets the name, and the worker passes the function no Context.
            context_binding = (
                (function_name or getattr(fn, "__name__", "unknown")) if "context" in binding_names else None
            )
            wrapper = _wrappers[fn] = wrap_function(fn, context_binding=context_binding)
        return wrapper
    except (TypeError, ValueError):  # no signature or not weakly referable (a builtin, an odd callable)
        return fn


# -- the patches ---------------------------------------------------------------------------------------------


def _get_user_function(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    declare_indexed_function(instance)  # where every worker reads a v2 function: its bindings tell its trigger
    try:
        name, binding_names = instance.get_function_name(), [b.name for b in instance.get_bindings()]
    except Exception:
        name, binding_names = None, []
    return wrapped_function(wrapped(*args, **kwargs), name, binding_names)


def _add_function(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # (function_id, func, metadata, ...) everywhere; the metadata names the function.
    metadata = kwargs["metadata"] if "metadata" in kwargs else args[2] if len(args) > 2 else None
    name = getattr(metadata, "name", None)
    if isinstance(name, str):
        declare_loaded_folder(name, getattr(metadata, "directory", None))
    bindings = getattr(metadata, "bindings", None) or ()  # the runtime's name -> BindingInfo, the emulator's dicts
    binding_names = [b.get("name") if isinstance(b, dict) else b for b in bindings]
    if "func" in kwargs:
        kwargs["func"] = wrapped_function(kwargs["func"], name, binding_names)
    elif len(args) > 1:
        args = (args[0], wrapped_function(args[1], name, binding_names), *args[2:])
    return wrapped(*args, **kwargs)


def _patch(owner: Any, attribute: str, wrapper: Callable[..., Any]) -> None:
    with _lock:
        if not callable(getattr(owner, attribute, None)) or any(p[:2] == (owner, attribute) for p in _patched):
            return
        wrapt.wrap_function_wrapper(owner, attribute, wrapper)
        _patched.append((owner, attribute, vars(owner)[attribute]))


def _on_sdk(module: Any) -> None:
    _patch(getattr(module, "Function", None), "get_user_function", _get_user_function)


def _on_v1_registry(module: Any) -> None:
    _patch(getattr(module, "Registry", None), "add_function", _add_function)


def _on_emulator_loader(module: Any) -> None:
    _patch(module, "add_function", _add_function)


def _patch_when_imported(module_name: str, patch: Callable[[Any], None]) -> None:
    def hook(module: Any) -> None:
        if _enabled or _named:
            patch(module)

    wrapt.register_post_import_hook(hook, module_name)


# -- public API ------------------------------------------------------------------------------------------------


def _install() -> None:
    global _hooks_registered
    with _lock:
        first = not _hooks_registered
        _hooks_registered = True
    targets = (
        (SDK_MODULE, _on_sdk),
        *((n, _on_v1_registry) for n in V1_REGISTRIES),
        (EMULATOR_LOADER, _on_emulator_loader),
    )
    for module_name, patch in targets:
        if first:  # a post-import hook runs at once for a module imported already, and stays for good
            _patch_when_imported(module_name, patch)
        elif module_name in sys.modules:
            patch(sys.modules[module_name])


def instrument() -> None:
    """Wrap every function the worker loads from now on (where it runs no hooks); idempotent and thread-safe."""
    global _enabled
    _enabled = True
    _install()


def trace_function(function_name: str) -> None:
    """Wrap this one function when the worker loads it (where it runs no hooks), even with `instrument()` off."""
    _named.add(function_name)
    _install()


def uninstrument() -> None:
    """Restore the originals and forget `trace_function()`'s names; functions loaded meanwhile keep their
    wrappers."""
    global _enabled
    with _lock:
        _enabled = False
        _named.clear()
        kept = []
        for owner, attribute, ours in _patched:
            # Read the owner's dict, not getattr: only our own wrapper is ours to replace. One that another
            # library wrapped again stays in place, and passes straight through while disabled.
            if vars(owner).get(attribute) is ours:
                setattr(owner, attribute, ours.__wrapped__)
            else:
                kept.append((owner, attribute, ours))
        _patched[:] = kept


def is_instrumented() -> bool:
    return _enabled
