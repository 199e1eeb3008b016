"""Runs ``azure.functions`` extension hooks the way the Python worker (4.x) does.

The class keeps the worker's ``ExtensionManager`` structure and method names on purpose, so that
code which wraps the worker's methods (for instance with ``wrapt``) can wrap these the same way.
Every method looks its collaborators up through ``cls`` at call time for the same reason.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from azure.functions import ExtensionMeta

__all__ = [
    "APP_EXT_POST_FUNCTION_LOAD",
    "APP_EXT_POST_INVOCATION",
    "APP_EXT_PRE_INVOCATION",
    "ENABLE_EXTENSIONS_SETTING",
    "FUNC_EXT_POST_FUNCTION_LOAD",
    "FUNC_EXT_POST_INVOCATION",
    "FUNC_EXT_PRE_INVOCATION",
    "SYSTEM_LOG_PREFIX",
    "ExtensionManager",
    "extensions_enabled",
    "hooks_run",
    "set_hook_model",
]

FUNC_EXT_POST_FUNCTION_LOAD = "post_function_load"
FUNC_EXT_PRE_INVOCATION = "pre_invocation"
FUNC_EXT_POST_INVOCATION = "post_invocation"
APP_EXT_POST_FUNCTION_LOAD = "post_function_load_app_level"
APP_EXT_PRE_INVOCATION = "pre_invocation_app_level"
APP_EXT_POST_INVOCATION = "post_invocation_app_level"

ENABLE_EXTENSIONS_SETTING = "PYTHON_ENABLE_WORKER_EXTENSIONS"
SYSTEM_LOG_PREFIX = "azure_functions_worker"

_PRE_HOOKS = frozenset({FUNC_EXT_PRE_INVOCATION, APP_EXT_PRE_INVOCATION})
_POST_HOOKS = frozenset({FUNC_EXT_POST_INVOCATION, APP_EXT_POST_INVOCATION})

_system_logger = logging.getLogger(SYSTEM_LOG_PREFIX)


def extensions_enabled() -> bool:
    """Whether the app setting turns hooks on; read on every call, as the worker does (off on 3.9+)."""
    return os.environ.get(ENABLE_EXTENSIONS_SETTING, "").strip().lower() in ("1", "true")


# Whether the emulated worker running in this process models the classic worker (True) or one that runs no
# hooks at all (False, the Python 3.13+ worker); None while none runs. Set by the in-process worker.
_classic_hooks: bool | None = None


def set_hook_model(classic_hooks: bool | None) -> None:
    global _classic_hooks
    _classic_hooks = classic_hooks


def hooks_run() -> bool | None:
    """Whether the emulated worker running in this process runs extension hooks now; None when none runs."""
    if _classic_hooks is None:
        return None
    return _classic_hooks and extensions_enabled()


class ExtensionManager:
    """Dispatches load and invocation hooks registered through ``azure.functions.ExtensionMeta``."""

    @classmethod
    def function_load_extension(cls, func_name: str, func_directory: str) -> None:
        """Run function-level then app-level load hooks for one function; failures are logged."""
        if not extensions_enabled():
            return
        funcs = ExtensionMeta.get_function_hooks(func_name)
        cls._safe_execute_function_load_hooks(funcs, FUNC_EXT_POST_FUNCTION_LOAD, func_name, func_directory)
        apps = ExtensionMeta.get_application_hooks()
        cls._safe_execute_function_load_hooks(apps, APP_EXT_POST_FUNCTION_LOAD, func_name, func_directory)

    @classmethod
    def _invocation_extension(cls, ctx: Any, hook_name: str, func_args: dict[str, Any], func_ret: Any = None) -> None:
        """Run one invocation hook: the function's extensions first, then the app's."""
        if not extensions_enabled():
            return
        funcs = ExtensionMeta.get_function_hooks(ctx.function_name)
        cls._safe_execute_invocation_hooks(funcs, hook_name, ctx, func_args, func_ret)
        apps = ExtensionMeta.get_application_hooks()
        cls._safe_execute_invocation_hooks(apps, hook_name, ctx, func_args, func_ret)

    @classmethod
    def get_sync_invocation_wrapper(cls, ctx: Any, func: Callable[..., Any]) -> Callable[[dict[str, Any]], Any]:
        """A callable taking the argument dict and running hooks around ``func``."""
        return functools.partial(cls._raw_invocation_wrapper, ctx, func)

    @classmethod
    async def get_async_invocation_wrapper(cls, ctx: Any, function: Callable[..., Any], args: dict[str, Any]) -> Any:
        """Await ``function`` between the hooks; a raising function skips every post hook."""
        cls._invocation_extension(ctx, APP_EXT_PRE_INVOCATION, args)
        cls._invocation_extension(ctx, FUNC_EXT_PRE_INVOCATION, args)
        result = await function(**args)
        cls._invocation_extension(ctx, FUNC_EXT_POST_INVOCATION, args, result)
        cls._invocation_extension(ctx, APP_EXT_POST_INVOCATION, args, result)
        return result

    @classmethod
    def _raw_invocation_wrapper(cls, ctx: Any, function: Callable[..., Any], args: dict[str, Any]) -> Any:
        """Call ``function`` between the hooks; a raising function skips every post hook."""
        cls._invocation_extension(ctx, APP_EXT_PRE_INVOCATION, args)
        cls._invocation_extension(ctx, FUNC_EXT_PRE_INVOCATION, args)
        result = function(**args)
        cls._invocation_extension(ctx, FUNC_EXT_POST_INVOCATION, args, result)
        cls._invocation_extension(ctx, APP_EXT_POST_INVOCATION, args, result)
        return result

    @classmethod
    def _safe_execute_invocation_hooks(
        cls, hooks: Any, hook_name: str, ctx: Any, fargs: dict[str, Any], fret: Any
    ) -> None:
        if not hooks:
            return
        # Registration order in both pre and post phases: the worker never reverses them.
        for hook_meta in getattr(hooks, hook_name, ()):
            ext_logger = logging.getLogger(f"{SYSTEM_LOG_PREFIX}.extension.{hook_meta.ext_name}")
            try:
                if hook_name in _PRE_HOOKS:
                    hook_meta.ext_impl(ext_logger, ctx, fargs)
                elif hook_name in _POST_HOOKS:
                    hook_meta.ext_impl(ext_logger, ctx, fargs, fret)
            except Exception as e:
                ext_logger.error(e, exc_info=True)

    @classmethod
    def _safe_execute_function_load_hooks(cls, hooks: Any, hook_name: str, fname: str, fdir: str) -> None:
        if not hooks:
            return
        for hook_meta in getattr(hooks, hook_name, ()):
            try:
                hook_meta.ext_impl(fname, fdir)
            except Exception as e:
                _system_logger.error(e, exc_info=True)
