"""Where the worker imports an app, as the app sees it: the thread, and the SIGTERM handler once funcscope is
configured. Read back through the driver with `run_in_each_process("rwfacts:recorded")`."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

_facts: list[dict[str, Any]] = []


def record(where: str) -> None:
    handler = signal.getsignal(signal.SIGTERM)
    _facts.append(
        {
            "where": where,
            "thread": threading.current_thread().name,
            "main_thread": threading.current_thread() is threading.main_thread(),
            "sigterm_handler": getattr(handler, "__module__", None) or repr(handler),
            "pid": os.getpid(),
        }
    )


def recorded() -> list[dict[str, Any]]:
    return list(_facts)
