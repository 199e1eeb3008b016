"""funcscope's own diagnostics: one clear message per kind of problem, never one per invocation."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("funcscope")

_reported: set[tuple[str, ...]] = set()
_lock = threading.Lock()


def report_once(
    key: tuple[str, ...], message: str, *, level: int = logging.WARNING, exc: BaseException | None = None
) -> bool:
    """Log `message` the first time `key` is seen in this process; later calls with the same key are silent.

    Returns True when the message was logged. `exc` adds its traceback to the one message that is logged.
    """
    if key in _reported:
        return False
    with _lock:
        if key in _reported:
            return False
        _reported.add(key)
    logger.log(level, message, exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None)
    return True


def forget_reports() -> None:
    """Let every kind of message be logged once more (after reconfiguration, and between tests)."""
    with _lock:
        _reported.clear()
