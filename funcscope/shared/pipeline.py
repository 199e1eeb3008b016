"""The middleware pipeline: the one place that knows the order in which features run.

Every feature is a middleware with `before(invocation)`, `after(invocation, result)` and
`on_error(invocation, exc)`. `before` runs in order, `after`/`on_error` in reverse, so the first middleware
(the span) is the first thing opened and the last thing closed.

A middleware is isolated from the invocation: whatever it raises (any `BaseException` but `KeyboardInterrupt`,
so `SystemExit` too) the others still run, the user's function and its result are untouched, and the failure is
logged once per kind. It sees the function's arguments through a read-only view. A middleware whose `before`
failed is not asked to `after`/`on_error` that invocation: it has nothing to close.

A middleware that takes longer than the budget delays every invocation, so it is reported once, by name and time.
Timing each middleware would cost every invocation two clock reads per middleware; the pipeline times each phase
as a whole instead, and only after a phase overran times its middlewares one by one, until it finds the slow one
(or, after `_TIMED_RUNS` phases without one, goes back to timing phases).
"""

from __future__ import annotations

from collections.abc import Sequence
from time import perf_counter
from typing import Any, Protocol, runtime_checkable

from .diagnostics import report_once
from .invocation import Invocation
from .values import safe_str

__all__ = ["DEFAULT_BUDGET_S", "Middleware", "Pipeline"]

_FAILED = "funcscope.pipeline.failed"  # key in Invocation.state: middlewares whose before() raised
DEFAULT_BUDGET_S = 0.25
_TIMED_RUNS = 50


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
    """An ordered, immutable list of middlewares. Hook methods are looked up once, here, not per invocation.

    `budget_s` is how long a phase (all `before`s, all `after`s or all `on_error`s of one invocation) may take
    before the middleware that made it late is looked for and reported.
    """

    __slots__ = ("middlewares", "budget_s", "_before", "_after", "_on_error", "_timed")

    def __init__(self, middlewares: Sequence[Any] = (), budget_s: float = DEFAULT_BUDGET_S) -> None:
        self.middlewares = tuple(middlewares)
        self.budget_s = budget_s
        self._before = _bound(self.middlewares, "before")
        self._after = _bound(self.middlewares[::-1], "after")
        self._on_error = _bound(self.middlewares[::-1], "on_error")
        self._timed = 0  # phases left to time middleware by middleware, after one overran

    def __len__(self) -> int:
        return len(self.middlewares)

    def __add__(self, more: Sequence[Any]) -> Pipeline:
        return Pipeline(self.middlewares + tuple(more), self.budget_s) if more else self

    def before(self, invocation: Invocation) -> None:
        if self._timed:
            self._run_timed(self._before, "before", invocation, ())
            return
        started = perf_counter()
        for mw, hook in self._before:
            try:
                hook(invocation)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                invocation.state.setdefault(_FAILED, set()).add(id(mw))
                _report(mw, "before", exc)
        if perf_counter() - started > self.budget_s:
            self._timed = _TIMED_RUNS

    def after(self, invocation: Invocation, result: Any) -> None:
        self._close(self._after, "after", invocation, result)

    def on_error(self, invocation: Invocation, error: BaseException) -> None:
        self._close(self._on_error, "on_error", invocation, error)

    def _close(self, hooks: tuple[tuple[Any, Any], ...], phase: str, invocation: Invocation, arg: Any) -> None:
        if self._timed:
            self._run_timed(hooks, phase, invocation, (arg,))
            return
        started = perf_counter()
        failed = invocation.state.get(_FAILED, ())
        for mw, hook in hooks:
            if id(mw) in failed:
                continue
            try:
                hook(invocation, arg)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                _report(mw, phase, exc)
        if perf_counter() - started > self.budget_s:
            self._timed = _TIMED_RUNS

    def _run_timed(
        self, hooks: tuple[tuple[Any, Any], ...], phase: str, invocation: Invocation, args: tuple[Any, ...]
    ) -> None:
        # Only after a phase overran: the same work, with each middleware timed.
        failed = invocation.state.get(_FAILED, ())
        found = False
        for mw, hook in hooks:
            if id(mw) in failed:
                continue
            started = perf_counter()
            error: BaseException | None = None
            try:
                hook(invocation, *args)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                error = exc
            took = perf_counter() - started
            if error is not None:
                if phase == "before":
                    invocation.state.setdefault(_FAILED, set()).add(id(mw))
                _report(mw, phase, error)
            if took > self.budget_s:
                found = True
                _report_slow(mw, phase, took, self.budget_s, invocation)
        self._timed = 0 if found else max(self._timed - 1, 0)


def _report(mw: object, phase: str, exc: BaseException) -> None:
    name = type(mw).__qualname__
    report_once(
        ("middleware", name, phase, type(exc).__qualname__),
        f"middleware {name}.{phase}() raised {type(exc).__name__}: {safe_str(exc)}. The invocation goes on; "
        "further failures of this kind are not logged.",
        exc=exc,
    )


def _report_slow(mw: object, phase: str, took: float, budget: float, invocation: Invocation) -> None:
    name = type(mw).__qualname__
    report_once(
        ("middleware", name, phase, "slow"),
        f"middleware {name}.{phase}() took {took * 1000:.0f} ms (budget {budget * 1000:.0f} ms) in "
        f"invocation {invocation.invocation_id} of {invocation.function_name}, and every invocation waits for it; "
        "move its slow work off the invocation (a thread, a queue) or raise middleware_budget_ms.",
    )
