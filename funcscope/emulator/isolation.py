"""Puts back what loading an app changes process-wide: the extension registry, modules, sys.path.

``azure.functions.ExtensionMeta`` keeps its registry in class-level globals, and an extension
registers as a side effect of importing its module. To let many apps run one after another in one
process, the registry is snapshotted at start and restored at close, and the app's modules plus
every module that defined an extension registered meanwhile are dropped from ``sys.modules`` so
that importing them again registers again.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from azure.functions import ExtensionMeta

from .loader import APP_PACKAGE

__all__ = ["ExtensionRegistrySnapshot", "ProcessIsolation"]

_PROTECTED_PREFIXES = ("azure.functions", "funcscope.emulator")
_PROTECTED = frozenset({"__main__", "__mp_main__", "builtins", "sys"})


def _hook_lists(hooks: Any) -> list[list[Any]]:
    return [] if hooks is None else list(hooks)


class ExtensionRegistrySnapshot:
    """The extension registry as it is now; :meth:`restore` puts it back and drops the modules that defined the
    extensions registered since, so that importing them again registers them again."""

    def __init__(self) -> None:
        self.func = {name: (hooks, [list(lst) for lst in hooks]) for name, hooks in ExtensionMeta._func_exts.items()}
        app = ExtensionMeta._app_exts
        self.app = None if app is None else (app, [list(lst) for lst in app])
        self.info = copy.deepcopy(ExtensionMeta._info)
        self.known = {id(m) for _, lists in self.func.values() for lst in lists for m in lst}
        if self.app is not None:
            self.known.update(id(m) for lst in self.app[1] for m in lst)

    def new_hook_metas(self) -> list[Any]:
        current = [m for hooks in ExtensionMeta._func_exts.values() for lst in hooks for m in lst]
        current += [m for lst in _hook_lists(ExtensionMeta._app_exts) for m in lst]
        return [m for m in current if id(m) not in self.known]

    def restore(self) -> None:
        extension_modules = {m for m in map(_defining_module, self.new_hook_metas()) if m}
        self._restore_registry()
        for name in extension_modules:
            if name in sys.modules and _droppable(name):
                _drop_module(name)

    def _restore_registry(self) -> None:
        # In place where possible, so anything holding the registry objects sees the restored state.
        func_exts = ExtensionMeta._func_exts
        func_exts.clear()
        for name, (hooks, lists) in self.func.items():
            for lst, saved in zip(hooks, lists, strict=True):
                lst[:] = saved
            func_exts[name] = hooks
        if self.app is None:
            ExtensionMeta._app_exts = None
        else:
            app_hooks, app_lists = self.app
            for lst, saved in zip(app_hooks, app_lists, strict=True):
                lst[:] = saved
            ExtensionMeta._app_exts = app_hooks
        ExtensionMeta._info.clear()
        ExtensionMeta._info.update(copy.deepcopy(self.info))


def _defining_module(hook_meta: Any) -> str | None:
    impl = hook_meta.ext_impl
    owner = getattr(impl, "__self__", None)
    if owner is None:
        return getattr(impl, "__module__", None)
    cls = owner if isinstance(owner, type) else type(owner)
    return getattr(cls, "__module__", None)


def _droppable(name: str) -> bool:
    return name not in _PROTECTED and not name.startswith(_PROTECTED_PREFIXES)


def _drop_module(name: str) -> None:
    module = sys.modules.pop(name, None)
    parent_name, _, child = name.rpartition(".")
    parent = sys.modules.get(parent_name) if parent_name else None
    # ``from pkg import mod`` reads the package attribute first; a stale one would skip the re-import.
    if parent is not None and module is not None and getattr(parent, child, None) is module:
        with contextlib.suppress(AttributeError):
            delattr(parent, child)


class ProcessIsolation:
    """Snapshot at construction; :meth:`restore` undoes the app's process-wide footprint."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._registry = ExtensionRegistrySnapshot()
        self._path_added = False

    def add_to_sys_path(self) -> None:
        root = str(self.root)
        if root not in sys.path:
            sys.path.insert(0, root)
            self._path_added = True

    def restore(self) -> None:
        self._registry.restore()
        prefix = str(self.root) + os.sep
        for name, module in list(sys.modules.items()):
            if name == APP_PACKAGE or name.startswith(APP_PACKAGE + "."):
                _drop_module(name)
            elif not _droppable(name):
                continue
            else:
                try:
                    file = getattr(module, "__file__", None)
                except Exception:
                    file = None
                if isinstance(file, str) and os.path.abspath(file).startswith(prefix):
                    _drop_module(name)
        if self._path_added:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(self.root))
            self._path_added = False
        importlib.invalidate_caches()
