"""The middleware pipeline: the one place that knows the order in which features run.

Every feature is a middleware with `before(invocation)`, `after(invocation, result)` and
`on_error(invocation, exc)`. `before` runs in order, `after`/`on_error` in reverse, so the first middleware
(the span) is the first thing opened and the last thing closed. A middleware that raises is isolated: the
others still run, the user's function and its result are untouched, and the failure is logged once per kind.
A middleware whose `before` failed is not asked to `after`/`on_error` that invocation: it has nothing to close.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from .diagnostics import report_once
from .invocation import Invocation

__all__ = ["Middleware", "Pipeline"]

_FAILED = "funcscope.pipeline.failed"  # key in Invocation.state: middlewares whose before() raised


@runtime_checkable
class Middleware(Protocol):
    """One feature. Any of the three methods may be left out; the pipeline calls only those that exist.

    - `before(invocation)`: before the user's function runs, in pipeline order.
    - `after(invocation, result)`: after it returned `result`, in reverse order.
    - `on_error(invocation, exc)`: after it raised `exc` (or its end was never reported), in reverse order.
    """

    def before(self, invocation: Invocation) -> None: ...

    def after(self, invocation: Invocation, result: Any) -> None: ...

    def on_error(self, invocation: Invocation, exc: BaseException) -> None: ...


def _bound(middlewares: Sequence[Any], name: str) -> tuple[tuple[Any, Any], ...]:
    return tuple((mw, getattr(mw, name)) for mw in middlewares if callable(getattr(mw, name, None)))


class Pipeline:
    """An ordered, immutable list of middlewares. Hook methods are looked up once, here, not per invocation."""

    __slots__ = ("middlewares", "_before", "_after", "_on_error")

    def __init__(self, middlewares: Sequence[Any] = ()) -> None:
        self.middlewares = tuple(middlewares)
        self._before = _bound(self.middlewares, "before")
        self._after = _bound(self.middlewares[::-1], "after")
        self._on_error = _bound(self.middlewares[::-1], "on_error")

    def __len__(self) -> int:
        return len(self.middlewares)

    def __add__(self, more: Sequence[Any]) -> Pipeline:
        return Pipeline(self.middlewares + tuple(more)) if more else self

    def before(self, invocation: Invocation) -> None:
        for mw, hook in self._before:
            try:
                hook(invocation)
            except Exception as exc:
                invocation.state.setdefault(_FAILED, set()).add(id(mw))
                _report(mw, "before", exc)

    def after(self, invocation: Invocation, result: Any) -> None:
        failed = invocation.state.get(_FAILED, ())
        for mw, hook in self._after:
            if id(mw) in failed:
                continue
            try:
                hook(invocation, result)
            except Exception as exc:
                _report(mw, "after", exc)

    def on_error(self, invocation: Invocation, error: BaseException) -> None:
        failed = invocation.state.get(_FAILED, ())
        for mw, hook in self._on_error:
            if id(mw) in failed:
                continue
            try:
                hook(invocation, error)
            except Exception as exc:
                _report(mw, "on_error", exc)


def _report(mw: object, phase: str, exc: Exception) -> None:
    name = type(mw).__qualname__
    report_once(
        ("middleware", name, phase, type(exc).__qualname__),
        f"middleware {name}.{phase}() raised {type(exc).__name__}: {exc}. The invocation goes on; "
        "further failures of this kind are not logged.",
        exc=exc,
    )
