"""The pipeline: before in order, after/on_error in reverse, and a failing middleware isolated."""

from __future__ import annotations

import logging

import pytest

from funcscope import Pipeline
from funcscope.shared.diagnostics import forget_reports
from funcscope.shared.invocation import Invocation
from funcscope.shared.triggers import UNKNOWN_TRIGGER

from .fakes import FakeContext


@pytest.fixture(autouse=True)
def _fresh_reports():
    forget_reports()
    yield
    forget_reports()


class Recorder:
    def __init__(self, name: str, calls: list, fail_in: str | None = None) -> None:
        self.name, self.calls, self.fail_in = name, calls, fail_in

    def _call(self, phase: str, *args) -> None:
        self.calls.append((self.name, phase, *args))
        if self.fail_in == phase:
            raise RuntimeError(f"{self.name} broke in {phase}")

    def before(self, invocation):
        self._call("before")

    def after(self, invocation, result):
        self._call("after", result)

    def on_error(self, invocation, exc):
        self._call("on_error", type(exc).__name__)


def _invocation() -> Invocation:
    return Invocation(FakeContext(), {}, UNKNOWN_TRIGGER)


def test_before_in_order_after_in_reverse():
    calls: list = []
    pipeline = Pipeline([Recorder("a", calls), Recorder("b", calls), Recorder("c", calls)])
    inv = _invocation()
    pipeline.before(inv)
    pipeline.after(inv, 42)
    assert calls == [
        ("a", "before"),
        ("b", "before"),
        ("c", "before"),
        ("c", "after", 42),
        ("b", "after", 42),
        ("a", "after", 42),
    ]


def test_on_error_in_reverse():
    calls: list = []
    pipeline = Pipeline([Recorder("a", calls), Recorder("b", calls)])
    inv = _invocation()
    pipeline.before(inv)
    pipeline.on_error(inv, KeyError("x"))
    assert calls[2:] == [("b", "on_error", "KeyError"), ("a", "on_error", "KeyError")]


def test_partial_middlewares_are_allowed():
    seen = []

    class OnlyAfter:
        def after(self, invocation, result):
            seen.append(result)

    pipeline = Pipeline([OnlyAfter()])
    inv = _invocation()
    pipeline.before(inv)
    pipeline.on_error(inv, ValueError())
    pipeline.after(inv, "r")
    assert seen == ["r"]


@pytest.mark.parametrize("phase", ["before", "after", "on_error"])
def test_failing_middleware_is_isolated_and_reported_once(phase, caplog):
    calls: list = []
    pipeline = Pipeline([Recorder("a", calls), Recorder("bad", calls, fail_in=phase), Recorder("c", calls)])
    caplog.set_level(logging.WARNING, logger="funcscope")
    for _ in range(5):
        inv = _invocation()
        pipeline.before(inv)
        if phase == "on_error":
            pipeline.on_error(inv, ValueError("user"))
        else:
            pipeline.after(inv, "result")
    # every other middleware ran every time
    assert sum(1 for c in calls if c[0] == "a") == 10
    assert sum(1 for c in calls if c[0] == "c") == 10
    reports = [r for r in caplog.records if r.name == "funcscope"]
    assert len(reports) == 1, [r.getMessage() for r in reports]
    assert f"Recorder.{phase}()" in reports[0].getMessage()
    # the traceback is in the message, redacted like it; not in exc_info, which an exporter would format raw
    assert "Traceback (most recent call last)" in reports[0].getMessage() and reports[0].exc_info is None


def test_middleware_whose_before_failed_is_not_asked_to_close():
    calls: list = []
    pipeline = Pipeline([Recorder("a", calls), Recorder("bad", calls, fail_in="before")])
    inv = _invocation()
    pipeline.before(inv)
    pipeline.after(inv, None)
    assert ("bad", "after", None) not in calls
    assert ("a", "after", None) in calls


def test_different_failures_are_each_reported_once(caplog):
    class Flaky:
        def __init__(self):
            self.errors = iter([KeyError("k"), ValueError("v"), KeyError("k2")])

        def before(self, invocation):
            raise next(self.errors)

    pipeline = Pipeline([Flaky()])
    caplog.set_level(logging.WARNING, logger="funcscope")
    for _ in range(3):
        pipeline.before(_invocation())
    messages = [r.getMessage() for r in caplog.records if r.name == "funcscope"]
    assert len(messages) == 2
    assert "KeyError" in messages[0] and "ValueError" in messages[1]


def test_adding_middleware_gives_a_new_pipeline():
    calls: list = []
    base = Pipeline([Recorder("a", calls)])
    more = base + [Recorder("f", calls)]
    assert len(base) == 1 and len(more) == 2
    assert base + [] is base
    inv = _invocation()
    more.before(inv)
    more.after(inv, 1)
    assert [c[:2] for c in calls] == [("a", "before"), ("f", "before"), ("f", "after"), ("a", "after")]
