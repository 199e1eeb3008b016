"""Helpers shared by the emulator tests (kept next to the test apps, which are on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import apprecorder

APPS_DIR = Path(__file__).resolve().parent

#: app kind -> (folder, {"sync": function name, "async": function name})
HOOK_APPS = {
    "v1": ("hooks_v1", {"sync": "SyncFunc", "async": "AsyncFunc"}),
    "v2": ("hooks_v2", {"sync": "sync_func", "async": "async_func"}),
}

INVOCATION_HOOKS = ("pre_invocation_app_level", "pre_invocation", "post_invocation", "post_invocation_app_level")
LOAD_HOOKS = ("post_function_load", "post_function_load_app_level")


def app_path(name: str) -> Path:
    return APPS_DIR / name


def body(result: Any) -> dict[str, Any]:
    result.raise_for_exception()
    return json.loads(result.value.get_body())


def req(**params: str) -> dict[str, Any]:
    return {"params": params}


def hooks_for(records: list[apprecorder.Record], invocation_id: str) -> list[tuple[str, str]]:
    return [(r.hook, r.extension) for r in records if r.invocation_id == invocation_id]


def load_records(records: list[apprecorder.Record]) -> list[tuple[str, str, str]]:
    return [(r.hook, r.extension, r.function) for r in records if r.hook in LOAD_HOOKS]


def expected_invocation_hooks(kind: str) -> list[tuple[str, str]]:
    app = [("pre_invocation_app_level", "AppExtA"), ("pre_invocation_app_level", "AppExtB")]
    post_app = [("post_invocation_app_level", "AppExtA"), ("post_invocation_app_level", "AppExtB")]
    if kind == "v2":  # function-level extensions cannot bind to a v2 function
        return app + post_app
    return (
        app
        + [
            ("pre_invocation", "FuncExtA"),
            ("pre_invocation", "FuncExtB"),
            ("post_invocation", "FuncExtA"),
            ("post_invocation", "FuncExtB"),
        ]
        + post_app
    )


def messages(entries: list[Any]) -> list[str]:
    return [e.message for e in entries]
