"""Log capture with the worker's invocation attribution, into picklable entries."""

from __future__ import annotations

import logging
import pickle
import threading
from dataclasses import dataclass, field
from typing import Any

from .extension_manager import SYSTEM_LOG_PREFIX
from .tasks import current_invocation_id

__all__ = ["InvocationLogHandler", "LogEntry", "LogRouter"]

# Attributes every LogRecord has; anything else on a record came from ``extra=``, a filter or a handler.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_IMMUTABLE_SCALARS = (str, int, float, bool, type(None), bytes)
_exc_formatter = logging.Formatter()


@dataclass(frozen=True)
class LogEntry:
    """One log record as the host would receive it, attributed to an invocation or to none."""

    invocation_id: str | None
    logger_name: str
    level: int
    levelname: str
    message: str
    thread_name: str
    created: float
    fields: dict[str, Any] = field(default_factory=dict)
    exc_text: str | None = None

    @property
    def is_system(self) -> bool:
        """A worker log (including extension hook errors) rather than a user log."""
        return self.logger_name.startswith(SYSTEM_LOG_PREFIX)


def _snapshot(value: Any) -> Any:
    """A picklable copy taken now, so later mutation or an unpicklable value cannot leak through."""
    if isinstance(value, _IMMUTABLE_SCALARS):
        return value
    try:
        return pickle.loads(pickle.dumps(value))
    except Exception:
        try:
            return repr(value)
        except Exception:
            return f"<{type(value).__name__}>"


def to_entry(record: logging.LogRecord, invocation_id: str | None) -> LogEntry:
    """Convert a record; never raises on odd messages or attributes."""
    try:
        message = record.getMessage()
    except Exception:
        message = str(record.msg)
    fields = {k: _snapshot(v) for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
    exc_text = record.exc_text
    if exc_text is None and record.exc_info and record.exc_info[0] is not None:
        try:
            exc_text = _exc_formatter.formatException(record.exc_info)
        except Exception:
            exc_text = None
    return LogEntry(
        invocation_id,
        record.name,
        record.levelno,
        record.levelname,
        message,
        record.threadName or "",
        record.created,
        fields,
        exc_text,
    )


class _Collector:
    __slots__ = ("logs", "unattributed")

    def __init__(self) -> None:
        self.logs: list[LogEntry] = []
        self.unattributed: list[LogEntry] = []


class LogRouter:
    """Routes entries to in-flight invocations.

    A record without an invocation id goes to ``unattributed`` and to every invocation in flight at
    that moment: exact when invocations run one at a time, a superset when they overlap. A record
    attributed to an invocation that already finished goes to ``late``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, _Collector] = {}
        self.unattributed: list[LogEntry] = []
        self.late: list[LogEntry] = []

    def begin(self, invocation_id: str) -> _Collector:
        collector = _Collector()
        with self._lock:
            self._active[invocation_id] = collector
        return collector

    def end(self, invocation_id: str) -> None:
        with self._lock:
            self._active.pop(invocation_id, None)

    def route(self, entry: LogEntry) -> None:
        with self._lock:
            if entry.invocation_id is None:
                self.unattributed.append(entry)
                for collector in self._active.values():
                    collector.unattributed.append(entry)
                return
            owner = self._active.get(entry.invocation_id)
            (owner.logs if owner is not None else self.late).append(entry)


class InvocationLogHandler(logging.Handler):
    """Root handler that attributes each record the way the worker's logging handler does."""

    def __init__(self, router: LogRouter) -> None:
        super().__init__(logging.NOTSET)
        self.router = router

    def emit(self, record: logging.LogRecord) -> None:
        # Capture never disturbs the code that logged: any failure here drops the record silently.
        try:
            entry = to_entry(record, current_invocation_id())
        except Exception:
            return
        self.router.route(entry)
