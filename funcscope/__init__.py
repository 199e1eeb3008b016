"""funcscope: telemetry middleware and worker extensions for Azure Functions Python apps.

Importing this package imports nothing else and registers no worker extension: every name below is loaded on
first access. The extension classes register with the worker when they are first accessed (e.g.
`from funcscope import FuncScopeExtension`), and the rest brings in OpenTelemetry and `azure.functions`, which
`import funcscope` alone (a pytest plugin, a console script) need not pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .extensions.app_level.funcscope_extension import FuncScopeExtension
    from .extensions.func_level.decorator import function
    from .extensions.func_level.function_scope import FunctionScope
    from .shared.current import current
    from .shared.invocation import Invocation, RetryInfo
    from .shared.pipeline import Middleware, Pipeline
    from .shared.settings import FunctionOptions, Settings

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

# name -> the module that defines it
_LAZY = {
    "FuncScopeExtension": "funcscope.extensions.app_level.funcscope_extension",
    "FunctionScope": "funcscope.extensions.func_level.function_scope",
    "function": "funcscope.extensions.func_level.decorator",
    "current": "funcscope.shared.current",
    "Invocation": "funcscope.shared.invocation",
    "RetryInfo": "funcscope.shared.invocation",
    "Middleware": "funcscope.shared.pipeline",
    "Pipeline": "funcscope.shared.pipeline",
    "FunctionOptions": "funcscope.shared.settings",
    "Settings": "funcscope.shared.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'funcscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups (`funcscope.current()` in a function) find it directly
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


def configure(**options: Any) -> Settings:
    """Register the app-level extension and configure it: the one line a function app needs.

    Equivalent to `from funcscope import FuncScopeExtension; FuncScopeExtension.configure(**options)`.
    """
    settings: Settings = __getattr__("FuncScopeExtension").configure(**options)
    return settings
