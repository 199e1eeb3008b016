"""Which way funcscope reaches an app's invocations on the worker it will run on, and which functions it misses:
the logic of `funcscope doctor`'s tracing-path check, as plain functions.

- The classic worker (Python 3.10-3.12) with `PYTHON_ENABLE_WORKER_EXTENSIONS` on runs funcscope's extension
  hooks: the "hooks" path, every function once `FuncScopeExtension` is registered (`funcscope.configure()`).
- The classic worker with the setting off, and the Python 3.13+ worker (which runs no hooks at all): the
  "wrapping" path, every function the worker loads once funcscope is configured.
- Either way, a function decorated with `@funcscope.function` runs the pipeline through its decorator when
  nothing else does: the "decorator" path, and where a hook or the wrapping run, the decorator only adds options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["Finding", "TracingPath", "tracing_path", "untraced_functions"]

EXTENSIONS_SETTING = "PYTHON_ENABLE_WORKER_EXTENSIONS"
_TRUE_LIKE = {"1", "true", "t", "yes", "y"}  # the classic worker's own reading of the setting


@dataclass(frozen=True)
class TracingPath:
    """How funcscope reaches the invocations on one worker: `path` is "hooks" or "wrapping"."""

    python: tuple[int, int]
    worker: Literal["classic", "3.13+"]
    path: Literal["hooks", "wrapping"]

    def describe(self) -> str:
        version = f"Python {self.python[0]}.{self.python[1]}"
        if self.worker == "3.13+":
            return (
                f"{version}: the Python 3.13+ worker runs no extension hooks; funcscope wraps every function as the "
                "worker loads it, so funcscope.configure() is all it takes."
            )
        if self.path == "hooks":
            return (
                f"{version}, {EXTENSIONS_SETTING} on: the classic worker runs funcscope's extension hooks around "
                "every function."
            )
        return (
            f"{version}, {EXTENSIONS_SETTING} off: the classic worker runs no extension hooks; funcscope wraps "
            "every function as the worker loads it, so funcscope.configure() is all it takes."
        )


@dataclass(frozen=True)
class Finding:
    """A problem found, and its fix."""

    problem: str
    fix: str


def tracing_path(python: tuple[int, int], settings: Mapping[str, str]) -> TracingPath:
    """The path an app gets on the worker for Python `python` (major, minor) with these app settings."""
    if python >= (3, 13):
        return TracingPath(python, "3.13+", "wrapping")
    hooks = settings.get(EXTENSIONS_SETTING, "").strip().lower() in _TRUE_LIKE
    return TracingPath(python, "classic", "hooks" if hooks else "wrapping")


def untraced_functions(app_dir: str | Path, path: TracingPath) -> Finding | None:
    """Load the app in the worker emulator the way `path`'s worker loads it and name the functions funcscope
    would not trace there; None when it traces them all. Raises `funcscope.emulator.EmulatorError` when the app
    does not load. Meant for a process of its own (doctor's): it starts funcscope afresh."""
    import azure.functions as func

    from ..emulator import Worker
    from .runner import reset_runner
    from .wrapper import is_traced

    reset_runner()  # as in a fresh worker process: funcscope not configured until the app configures it

    model: dict[str, Any] = {"extensions_enabled": path.path == "hooks"}
    if path.worker == "3.13+":
        model = {"extensions_enabled": True, "hooks": "none"}
    with Worker(app_dir, thread_count=1, process_count=1, **model) as worker:
        assert worker._local is not None  # one process: the functions as the worker loaded them are here
        loaded = {name: worker._local.functions[name].func for name in worker.functions}
        # Registered when the app imported it (funcscope.configure() does): then it runs for every function.
        app_level = "FuncScopeExtension" in func.ExtensionMeta.get_registered_extensions_json()
        missed = []
        for name, fn in sorted(loaded.items()):
            if is_traced(fn):
                continue  # wrapped by the worker's loading, or by its decorator
            if path.path == "hooks" and (app_level or func.ExtensionMeta.get_function_hooks(name)):
                continue  # the app-level extension, or the function's FunctionScope, runs for it
            missed.append(name)
    if not missed:
        return None
    if path.path == "hooks":
        fix = (
            "call funcscope.configure() at the top of function_app.py (v2) or in a module every function's "
            "script imports (v1)"
        )
    else:
        fix = (
            "call funcscope.configure() at the top of function_app.py (v2), or import the module that calls it "
            "from every function's script (v1): a function loaded before any import configured funcscope is "
            "loaded unwrapped"
        )
    return Finding(f"funcscope would not trace {', '.join(missed)} on this worker.", fix)
