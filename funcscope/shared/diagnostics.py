"""funcscope's own diagnostics: one clear message per kind of problem, never one per invocation.

Messages are logged on the `funcscope` logger, whose name says who speaks wherever a format shows it. Inside the
Functions host it does not: the worker relays a record's message alone, and the host files it under its own
category. There, and only there, the message itself starts with `funcscope: `. So a message reads once
`WARNING:funcscope:no exporter is configured, ...` under `logging.basicConfig()` and once
`funcscope: no exporter is configured, ...` in the host's log stream and in Application Insights. Callers write
the message without the prefix (a leading one is taken off, so either way gives one).

A message may quote what funcscope was given (a traceparent, an exception), so it is redacted like everything else
funcscope records, and so is the traceback that goes with it: it is part of the message, not the record's
`exc_info`, which a log exporter would format again from the raw exception.
"""

from __future__ import annotations

import logging
import os
import threading

from .forksafe import unlocked_in_child
from .values import MAX_STACKTRACE_LENGTH, exception_attributes, redacted_text

__all__ = ["PREFIX", "forget_reports", "message_text", "report_once", "without_prefix"]

logger = logging.getLogger("funcscope")

PREFIX = "funcscope: "
#: Set by the Functions host for every worker process it starts (Azure, and Core Tools from local.settings.json).
HOST_SETTING = "FUNCTIONS_WORKER_RUNTIME"

_reported: set[tuple[str, ...]] = set()
_lock = unlocked_in_child(threading.Lock())


def without_prefix(message: str) -> str:
    return message[len(PREFIX) :] if message.startswith(PREFIX) else message


def message_text(message: str) -> str:
    """`message` as funcscope logs it here: with the one prefix inside the Functions host, without it elsewhere."""
    bare = without_prefix(message)
    return PREFIX + bare if os.environ.get(HOST_SETTING) else bare


def report_once(
    key: tuple[str, ...], message: str, *, level: int = logging.WARNING, exc: BaseException | None = None
) -> bool:
    """Log `message` the first time `key` is seen in this process; later calls with the same key are silent.

    Returns True when the message was logged. `exc` adds its traceback to the one message that is logged. The
    message is written without a prefix; see the module's docstring for where one is added.
    """
    if key in _reported:
        return False
    with _lock:
        if key in _reported:
            return False
        _reported.add(key)
    text = redacted_text(message_text(message), MAX_STACKTRACE_LENGTH)
    if exc is not None:
        text = f"{text}\n{exception_attributes(exc)['exception.stacktrace'].rstrip()}"
    logger.log(level, text)
    return True


def forget_reports() -> None:
    """Let every kind of message be logged once more (after reconfiguration, and between tests)."""
    with _lock:
        _reported.clear()
