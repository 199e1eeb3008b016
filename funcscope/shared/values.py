"""Values from outside, made safe to record: bounded numbers and strings, the text of objects whose `__str__` may
raise, and an exception as span-event attributes, redacted and bounded.

The OpenTelemetry SDK accepts any `int` and any `str`, but its exporters do not: OTLP encodes integers as int64
and logs an error with a traceback for every span that holds a larger one, and a string with a lone surrogate
fails the whole batch it is in. An exception message or a stack trace may also be megabytes long. So whatever
funcscope takes from the worker, the trigger or the function's result or exception is bounded here first.
"""

from __future__ import annotations

import traceback
from typing import Any

from .redaction import redact_text

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_MESSAGE_LENGTH",
    "MAX_STACKTRACE_LENGTH",
    "bounded_text",
    "exception_attributes",
    "record_exception",
    "exception_type_name",
    "in_int64",
    "redacted_text",
    "safe_str",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_MESSAGE_LENGTH = 4096  # an exception message, a status description
MAX_STACKTRACE_LENGTH = 32768  # Application Insights keeps about this much of an exception's stack


def in_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def safe_str(obj: object) -> str:
    """`str(obj)`, or a placeholder naming its type when that raises; always a plain `str`."""
    try:
        text = str(obj)
        return text if type(text) is str else str.__str__(text)
    except KeyboardInterrupt:
        raise
    except BaseException:
        return f"<{exception_type_name(obj) if isinstance(obj, BaseException) else 'object'} str() failed>"


def exception_type_name(exc: object) -> str:
    """The exception's class as OpenTelemetry records it: `module.QualName`, builtins without their module."""
    try:
        cls = type(exc)
        module, qualname = cls.__module__, cls.__qualname__
        if not isinstance(qualname, str):
            qualname = cls.__name__
        return f"{module}.{qualname}" if isinstance(module, str) and module and module != "builtins" else qualname
    except Exception:
        return "Exception"


def _cut_back(text: str) -> str:
    # The end of a kept head: at the last line break (else the last space), so no token is kept in part.
    at = text.rfind("\n")
    if at < len(text) // 2:
        at = max(text.rfind(" "), text.rfind("\t"))
    return text[:at] if at > 0 else ""


def _cut_forward(text: str) -> str:
    # The start of a kept tail, likewise at the first line break (else the first space).
    at = text.find("\n")
    if at < 0 or at > len(text) // 2:
        spaces = [i for i in (text.find(" "), text.find("\t")) if i >= 0]
        at = min(spaces) if spaces else -1
    return text[at + 1 :] if at >= 0 else ""


def bounded_text(text: str, limit: int) -> str:
    """`text` within `limit` characters (its head and tail, with what was left out counted between them, cut at
    line breaks or spaces so that no word survives in part), encodable as UTF-8."""
    if len(text) > limit:
        keep = max(limit - 60, 2) // 2
        head, tail = _cut_back(text[:keep]), _cut_forward(text[-keep:])
        text = f"{head}\n... [{len(text) - len(head) - len(tail)} characters left out] ...\n{tail}"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (e.g. from surrogateescape'd file names)
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def redacted_text(text: str, limit: int) -> str:
    """`text` redacted, then bounded. A very long text is cut to a window of its head and tail first (at line
    breaks, so that no secret is kept in part), which bounds what redaction costs."""
    if len(text) > 4 * limit:
        text = bounded_text(text, 2 * limit)
    return bounded_text(redact_text(text), limit)


def _stacktrace(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except KeyboardInterrupt:
        raise
    except BaseException:
        return f"{exception_type_name(exc)}: {safe_str(exc)}"


def exception_attributes(exc: BaseException) -> dict[str, str]:
    """The attributes of the `exception` span event for `exc`, as the SDK's `record_exception` would make them,
    but with the message and the stack trace redacted and bounded, and whatever `exc.__str__` does."""
    return {
        "exception.type": exception_type_name(exc),
        "exception.message": redacted_text(safe_str(exc), MAX_MESSAGE_LENGTH),
        "exception.stacktrace": redacted_text(_stacktrace(exc), MAX_STACKTRACE_LENGTH),
        "exception.escaped": "True",
    }


def record_exception(span: Any, exc: BaseException) -> None:
    """Record `exc` on `span` as an `exception` event with `exception_attributes` and set its status to ERROR with
    the same (redacted, bounded) message: the SDK's `record_exception` writes the traceback, whose last line is
    the message, unredacted, and raises when the exception's `__str__` does."""
    from opentelemetry.trace import Status, StatusCode

    event = exception_attributes(exc)
    span.add_event("exception", event)
    description = f"{event['exception.type'].rpartition('.')[2]}: {event['exception.message']}"
    span.set_status(Status(StatusCode.ERROR, bounded_text(description, MAX_MESSAGE_LENGTH)))
