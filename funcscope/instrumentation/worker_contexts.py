"""The Context a worker builds for an invocation whose function it passes none.

A function with a binding named `context` gets that binding's value under the name, so the worker hands it no
Context: so it is with every Durable Functions orchestrator and entity, whose framework handle takes its trigger
as `context`. Every worker builds the invocation's Context all the same, before it binds the arguments (the
host's trace context and retry context in it): the classic worker (`Dispatcher._get_context`), the Python 3.13+
runtimes (`bindings.context.get_context`, on the gRPC and the native path alike) and funcscope's emulator. Where
no extension hook receives it (the 3.13+ worker, the classic worker with `PYTHON_ENABLE_WORKER_EXTENSIONS` off),
the function wrapping claims it here, by the invocation id the worker names while the function runs.

`expect(function_name)` patches, with `wrapt`, the constructor of each worker's `Context` class (once its module
is imported): a Context built for a function expected here is kept under its invocation id until `claim()` takes
it; at most `LIMIT` wait (a Context whose function never ran, say its binding failed, is dropped oldest first).
Until a function is expected nothing is patched, so other apps pay nothing; after, every other Context costs a
set look-up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import wrapt

__all__ = ["LIMIT", "claim", "expect"]

LIMIT = 1024
CONTEXT_MODULES = (
    "azure_functions_runtime.bindings.context",
    "azure_functions_runtime_v1.bindings.context",
    "azure_functions_worker.bindings.context",
    "funcscope.emulator.context",
)

_lock = threading.Lock()
_expected: set[str] = set()
_waiting: OrderedDict[str, Any] = OrderedDict()  # invocation id -> its Context
_hooks_registered = False


def _context_init(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    wrapped(*args, **kwargs)
    # (func_name, func_dir, invocation_id, thread_local_storage, trace_context, retry_context) in every worker
    name = args[0] if args else kwargs.get("func_name")
    if name not in _expected:
        return
    invocation_id = args[2] if len(args) > 2 else kwargs.get("invocation_id")
    if isinstance(invocation_id, str) and invocation_id:
        with _lock:
            _waiting[invocation_id] = instance
            while len(_waiting) > LIMIT:
                _waiting.popitem(last=False)


def _on_module(module: Any) -> None:
    owner = getattr(module, "Context", None)
    if not isinstance(owner, type) or isinstance(vars(owner).get("__init__"), wrapt.FunctionWrapper):
        return
    wrapt.wrap_function_wrapper(owner, "__init__", _context_init)


def expect(function_name: str) -> None:
    """Keep the Contexts the worker builds for `function_name` from now on, for `claim()`. Idempotent."""
    global _hooks_registered
    with _lock:
        _expected.add(function_name)
        first = not _hooks_registered
        _hooks_registered = True
    if first:  # a post-import hook runs at once for a module imported already, and stays for good
        for module_name in CONTEXT_MODULES:
            wrapt.register_post_import_hook(_on_module, module_name)


def claim(invocation_id: str | None) -> Any:
    """The Context the worker built for this invocation, once; None when it built none funcscope saw."""
    if not invocation_id or not _waiting:
        return None
    with _lock:
        return _waiting.pop(invocation_id, None)
