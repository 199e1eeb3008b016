"""Process-wide record of what test extensions and functions observed.

Lives outside every app folder, so a Worker's cleanup never drops it: records survive close and
the same list is visible to the test (in-process) or via ``Worker.run_in_each_process``.
"""

from __future__ import annotations

import os
import threading
from typing import Any, NamedTuple


class Record(NamedTuple):
    hook: str
    extension: str
    function: str
    invocation_id: str | None
    thread: str
    detail: Any = None


RECORDS: list[Record] = []
_lock = threading.Lock()


def record(hook: str, extension: str, function: str, invocation_id: str | None, detail: Any = None) -> None:
    with _lock:
        RECORDS.append(Record(hook, extension, function, invocation_id, threading.current_thread().name, detail))


def snapshot() -> list[Record]:
    with _lock:
        return list(RECORDS)


def clear() -> None:
    with _lock:
        RECORDS.clear()


def pid() -> int:
    return os.getpid()


def registered_extensions() -> dict[str, Any]:
    """What azure.functions' extension registry holds right now (names only)."""
    from azure.functions import ExtensionMeta

    return dict(ExtensionMeta._info)


def note_start(label: str) -> None:
    """A Worker initializer: records what the worker process looks like before the app loads."""
    import sys

    record("initializer", label, "", None, (os.environ.get("EMULATOR_TEST_MARKER"), "function_app" in sys.modules))
