"""Loads a function app folder, v1 (``function.json`` folders) or v2 (``function_app.py``).

v1 modules are imported as submodules of an ``__app__`` namespace package rooted at the app
folder, as the worker does, so relative imports inside a function folder work. v2 imports the
script as a top-level module with the app folder on ``sys.path``. The caller owns process-wide
state (``sys.path``, environment, ``sys.modules`` cleanup); this module only imports and inspects.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import json
import os
import sys
import traceback
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .errors import EmulatorError
from .model import FunctionInfo

__all__ = [
    "APP_PACKAGE",
    "LoadedFunction",
    "V1Metadata",
    "add_function",
    "load_app",
    "resolve_app_dir",
    "v2_script_name",
]

APP_PACKAGE = "__app__"
SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
_DEFAULT_V2_SCRIPT = "function_app.py"
_DEFAULT_V1_SCRIPT = "__init__.py"
_DEFAULT_ENTRY_POINT = "main"


@dataclass(frozen=True)
class LoadedFunction:
    """A loaded function: its picklable metadata and the callable itself."""

    info: FunctionInfo
    func: Callable[..., Any]


def resolve_app_dir(app_dir: str | os.PathLike[str]) -> Path:
    path = Path(app_dir).expanduser()
    if not path.exists():
        raise EmulatorError(f"app folder not found: {path}")
    if not path.is_dir():
        raise EmulatorError(f"app folder is not a directory: {path}")
    return path.resolve()


def v2_script_name() -> str:
    return os.environ.get(SCRIPT_FILE_SETTING) or _DEFAULT_V2_SCRIPT


def load_app(root: Path, on_loaded: Callable[[FunctionInfo], None]) -> dict[str, LoadedFunction]:
    """Import every function of the app; ``on_loaded`` runs right after each function loads."""
    script = root / v2_script_name()
    if script.is_file():
        return _load_v2(root, script, on_loaded)
    folders = sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "function.json").is_file()
    )
    if not folders:
        raise EmulatorError(
            f"no functions found in {root}: expected {v2_script_name()} or subfolders containing function.json"
        )
    _install_app_package(root)
    loaded: dict[str, LoadedFunction] = {}
    for folder in folders:
        fn = _load_v1_function(root, folder)
        loaded[fn.info.name] = fn
        on_loaded(fn.info)
    return loaded


def _install_app_package(root: Path) -> None:
    spec = importlib.machinery.ModuleSpec(APP_PACKAGE, None, is_package=True)
    spec.submodule_search_locations = [str(root)]
    sys.modules[APP_PACKAGE] = importlib.util.module_from_spec(spec)


def _user_error(what: str, exc: BaseException, root: Path) -> EmulatorError:
    """One line naming the failure and the user code line it came from."""
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" ({exc.filename}:{exc.lineno})"
    else:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if f.filename and os.path.abspath(f.filename).startswith(str(root) + os.sep)
        ]
        if frames:
            where = f" ({frames[-1].filename}:{frames[-1].lineno})"
    return EmulatorError(f"{what}: {type(exc).__name__}: {exc}{where}")


def _normalise_bindings(raw: Any, where: str) -> tuple[dict[str, Any], ...]:
    if not isinstance(raw, list) or not raw:
        raise EmulatorError(f"{where}: 'bindings' must be a non-empty list")
    out = []
    for i, binding in enumerate(raw):
        if not isinstance(binding, dict) or not all(isinstance(binding.get(k), str) for k in ("type", "name")):
            raise EmulatorError(f"{where}: binding #{i} needs string 'type' and 'name'")
        b = dict(binding)
        b["direction"] = str(b.get("direction") or ("out" if b["name"] == "$return" else "in")).lower()
        out.append(b)
    return tuple(out)


def _trigger_of(bindings: tuple[dict[str, Any], ...], where: str) -> dict[str, Any]:
    triggers = [b for b in bindings if b["type"].lower().endswith("trigger")]
    if len(triggers) != 1:
        raise EmulatorError(f"{where}: expected exactly one trigger binding, found {len(triggers)}")
    return triggers[0]


def _check_signature(name: str, func: Callable[..., Any], bindings: tuple[dict[str, Any], ...], where: str) -> bool:
    """The worker refuses a function whose parameters and bindings disagree; so do we."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError) as exc:
        raise EmulatorError(f"cannot load function {name!r}: cannot read its signature: {exc}") from None
    declared = {b["name"] for b in bindings if b["name"] != "$return"}
    # As the worker: a `context` parameter gets the worker's Context unless a binding has that name (the
    # Durable Functions triggers' usual `context`), which then gets the binding's value instead.
    requires_context = "context" in params and "context" not in declared
    names = set(params) - ({"context"} if requires_context else set())
    missing = sorted(declared - names)
    extra = sorted(names - declared)
    if missing or extra:
        detail = "; ".join(
            filter(
                None,
                [
                    f"bindings without a parameter: {missing}" if missing else "",
                    f"parameters without a binding: {extra}" if extra else "",
                ],
            )
        )
        raise EmulatorError(f"cannot load function {name!r} ({where}): {detail}")
    return requires_context


def _sdk_types(func: Callable[..., Any], bindings: tuple[dict[str, Any], ...]) -> tuple[tuple[str, str], ...]:
    """The parameters the worker binds as SDK types: as the worker, those whose annotation the base extension's
    registry (`azurefunctions.extensions.base`) supports, when it is installed."""
    try:
        import azurefunctions.extensions.base as extension_base
    except ImportError:
        return ()
    registry = extension_base.get_binding_registry()
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        return ()
    found = []
    for binding in bindings:
        annotation = hints.get(binding["name"])
        if annotation is not None and registry.check_supported_type(annotation):
            found.append((binding["name"], f"{annotation.__module__}:{annotation.__qualname__}"))
    return tuple(found)


def _max_retry_count(value: object) -> int:
    """A retry policy's `maxRetryCount` (a number, or a string in a v2 app's decorator); 0 for none or a value
    the host would not take."""
    try:
        count = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
    return count if count >= -1 else 0


def _info(
    name: str,
    directory: str,
    func: Callable[..., Any],
    bindings: tuple[dict[str, Any], ...],
    where: str,
    max_retry_count: int = 0,
) -> FunctionInfo:
    trigger = _trigger_of(bindings, where)
    requires_context = _check_signature(name, func, bindings, where)
    return FunctionInfo(
        name=name,
        directory=directory,
        trigger_type=trigger["type"],
        trigger_binding_name=trigger["name"],
        is_async=inspect.iscoroutinefunction(func),
        requires_context=requires_context,
        bindings=bindings,
        sdk_types=_sdk_types(func, bindings),
        max_retry_count=max_retry_count,
    )


def _load_v1_function(root: Path, folder: Path) -> LoadedFunction:
    name = folder.name
    fj = folder / "function.json"
    try:
        meta = json.loads(fj.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EmulatorError(f"{fj}: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EmulatorError(f"{fj}: cannot read: {exc}") from None
    if not isinstance(meta, dict):
        raise EmulatorError(f"{fj}: expected a JSON object")
    bindings = _normalise_bindings(meta.get("bindings"), str(fj))
    script_file = meta.get("scriptFile") or _DEFAULT_V1_SCRIPT
    entry_point = meta.get("entryPoint") or _DEFAULT_ENTRY_POINT
    if not isinstance(script_file, str) or not isinstance(entry_point, str):
        raise EmulatorError(f"{fj}: 'scriptFile' and 'entryPoint' must be strings")
    script = (folder / script_file).resolve()
    if not script.is_file():
        raise EmulatorError(f"cannot load function {name!r}: script file not found: {script} (scriptFile in {fj})")
    try:
        rel = script.relative_to(root)
    except ValueError:
        raise EmulatorError(
            f"cannot load function {name!r}: script {script} is outside the app folder {root}"
        ) from None
    if rel.suffix != ".py":
        raise EmulatorError(f"cannot load function {name!r}: {script} is not a .py file")
    parts = [APP_PACKAGE, *rel.parts[:-1]]
    if rel.stem != "__init__":
        parts.append(rel.stem)
    try:
        module = importlib.import_module(".".join(parts))
    except (Exception, SystemExit) as exc:  # user code: a sys.exit() must not escape either
        raise _user_error(f"cannot load function {name!r}: error importing {script}", exc, root) from None
    func = getattr(module, entry_point, None)
    if func is None or not callable(func):
        raise EmulatorError(
            f"cannot load function {name!r}: {script} has no callable {entry_point!r} (entryPoint in {fj})"
        )
    retry = meta.get("retry")
    max_retry_count = _max_retry_count(retry.get("maxRetryCount")) if isinstance(retry, dict) else 0
    return add_function(name, func, V1Metadata(name, str(folder), bindings, str(fj), max_retry_count))


class V1Metadata(NamedTuple):
    """What function.json says of a v1 function, and where it says it."""

    name: str
    directory: str
    bindings: tuple[dict[str, Any], ...]
    where: str
    max_retry_count: int = 0


def add_function(function_id: str, func: Callable[..., Any], metadata: V1Metadata) -> LoadedFunction:
    """A v1 entry point, once imported, joins the app's functions, as in the worker's registry."""
    info = _info(metadata.name, metadata.directory, func, metadata.bindings, metadata.where, metadata.max_retry_count)
    return LoadedFunction(info, func)


def _load_v2(root: Path, script: Path, on_loaded: Callable[[FunctionInfo], None]) -> dict[str, LoadedFunction]:
    import azure.functions as func_sdk

    modname = script.stem
    stale = sys.modules.get(modname)
    if stale is not None and os.path.abspath(getattr(stale, "__file__", "") or "") != str(script):
        del sys.modules[modname]  # another app's script of the same name must not shadow this one
    try:
        module = importlib.import_module(modname)
    except (Exception, SystemExit) as exc:
        raise _user_error(f"cannot index {script}", exc, root) from None
    apps = list({id(v): v for v in vars(module).values() if isinstance(v, func_sdk.FunctionRegister)}.values())
    if len(apps) != 1:
        raise EmulatorError(f"cannot index {script}: expected exactly one top-level FunctionApp, found {len(apps)}")
    try:
        functions = apps[0].get_functions()
    except Exception as exc:
        raise _user_error(f"cannot index {script}", exc, root) from None
    if not functions:
        raise EmulatorError(f"no functions found in {script}")
    loaded: dict[str, LoadedFunction] = {}
    for fn in functions:
        name = fn.get_function_name()
        where = f"{script}, function {name!r}"
        if not name:
            raise EmulatorError(f"cannot index {where}: the function has no name")
        try:
            raw = json.loads(fn.get_function_json())["bindings"]
        except Exception as exc:
            raise _user_error(f"cannot index {where}", exc, root) from None
        user_func = fn.get_user_function()
        policy = fn.get_settings_dict("retry_policy") if hasattr(fn, "get_settings_dict") else None
        retries = _max_retry_count(policy.get("max_retry_count")) if isinstance(policy, dict) else 0
        loaded[name] = LoadedFunction(
            _info(name, str(root), user_func, _normalise_bindings(raw, where), where, retries), user_func
        )
    for fn_loaded in loaded.values():
        on_loaded(fn_loaded.info)
    return loaded
