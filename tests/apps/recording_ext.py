"""Test extensions that record every hook call; importing this module registers AppExtA and AppExtB.

A hook raises when the request asks for it with ``hook_raise=<Extension>.<hook>``.
"""

from __future__ import annotations

from typing import Any

import apprecorder
from azure.functions import AppExtensionBase, FuncExtensionBase


def _maybe_raise(ext: str, hook: str, func_args: Any) -> None:
    req = (func_args or {}).get("req")
    params = getattr(req, "params", None) or {}
    if params.get("hook_raise") == f"{ext}.{hook}":
        raise RuntimeError(f"boom in {ext}.{hook}")


def _detail(logger: Any, func_args: Any, func_ret: Any = None) -> dict[str, Any]:
    return {"logger": logger.name, "args": sorted(func_args or {}), "ret": type(func_ret).__name__}


class AppExtA(AppExtensionBase):
    @classmethod
    def post_function_load_app_level(
        cls, function_name: str, function_directory: str, *args: Any, **kwargs: Any
    ) -> None:
        apprecorder.record("post_function_load_app_level", cls.__name__, function_name, None, function_directory)

    @classmethod
    def pre_invocation_app_level(
        cls, logger: Any, context: Any, func_args: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        apprecorder.record(
            "pre_invocation_app_level",
            cls.__name__,
            context.function_name,
            context.invocation_id,
            _detail(logger, func_args),
        )
        _maybe_raise(cls.__name__, "pre_invocation_app_level", func_args)

    @classmethod
    def post_invocation_app_level(
        cls, logger: Any, context: Any, func_args: Any = None, func_ret: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        apprecorder.record(
            "post_invocation_app_level",
            cls.__name__,
            context.function_name,
            context.invocation_id,
            _detail(logger, func_args, func_ret),
        )
        _maybe_raise(cls.__name__, "post_invocation_app_level", func_args)


class AppExtB(AppExtA):
    """Registers separately (its own class creation), after AppExtA."""


class FuncExtA(FuncExtensionBase):
    def __init__(self, file_path: str) -> None:
        super().__init__(file_path)

    def post_function_load(self, function_name: str, function_directory: str, *args: Any, **kwargs: Any) -> None:
        apprecorder.record("post_function_load", type(self).__name__, function_name, None, function_directory)

    def pre_invocation(self, logger: Any, context: Any, func_args: Any = None, *args: Any, **kwargs: Any) -> None:
        apprecorder.record(
            "pre_invocation",
            type(self).__name__,
            context.function_name,
            context.invocation_id,
            _detail(logger, func_args),
        )
        _maybe_raise(type(self).__name__, "pre_invocation", func_args)

    def post_invocation(
        self, logger: Any, context: Any, func_args: Any = None, func_ret: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        apprecorder.record(
            "post_invocation",
            type(self).__name__,
            context.function_name,
            context.invocation_id,
            _detail(logger, func_args, func_ret),
        )
        _maybe_raise(type(self).__name__, "post_invocation", func_args)


class FuncExtB(FuncExtA):
    """A second function-level extension, instantiated after FuncExtA."""
