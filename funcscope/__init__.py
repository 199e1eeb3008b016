"""funcscope: telemetry middleware and worker extensions for Azure Functions Python apps.

Importing this package registers no worker extension: the extension classes are loaded on first access, e.g.
`from funcscope import FuncScopeExtension`, which is what registers it with the worker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .shared.current import current
from .shared.invocation import Invocation, RetryInfo
from .shared.pipeline import Middleware, Pipeline
from .shared.settings import FunctionOptions, Settings

if TYPE_CHECKING:
    from .extensions.app_level.funcscope_extension import FuncScopeExtension
    from .extensions.func_level.decorator import function
    from .extensions.func_level.function_scope import FunctionScope

__version__ = "0.1.0"

__all__ = [
    "FuncScopeExtension",
    "FunctionOptions",
    "FunctionScope",
    "Invocation",
    "Middleware",
    "Pipeline",
    "RetryInfo",
    "Settings",
    "configure",
    "current",
    "function",
]

# Loaded on first use: the extension classes because importing them registers them with the worker, and all three
# because they bring the runtime (the OpenTelemetry SDK), which `import funcscope` alone need not pay for.
_LAZY = {
    "FuncScopeExtension": "funcscope.extensions.app_level.funcscope_extension",
    "FunctionScope": "funcscope.extensions.func_level.function_scope",
    "function": "funcscope.extensions.func_level.decorator",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'funcscope' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def configure(**options: Any) -> Settings:
    """Register the app-level extension and configure it: the one line a function app needs.

    Equivalent to `from funcscope import FuncScopeExtension; FuncScopeExtension.configure(**options)`.
    """
    settings: Settings = __getattr__("FuncScopeExtension").configure(**options)
    return settings
