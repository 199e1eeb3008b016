"""The runner: one pipeline run per invocation, ownership between scopes, and no invocation left current."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from funcscope import Settings, current
from funcscope.runtime import InvocationAbandoned, InvocationRunner
from funcscope.shared.diagnostics import forget_reports
from funcscope.shared.settings import FunctionOptions

from .fakes import FakeContext


class Recorder:
    def __init__(self):
        self.events = []

    def before(self, invocation):
        self.events.append(("before", invocation.invocation_id, current() is invocation))

    def after(self, invocation, result):
        self.events.append(("after", invocation.invocation_id, result))

    def on_error(self, invocation, exc):
        self.events.append(("on_error", invocation.invocation_id, exc))


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def runner(recorder):
    forget_reports()
    return InvocationRunner(Settings(middleware=(recorder,)))


APP, FUNC = object(), object()


def test_start_and_finish(runner, recorder):
    ctx = FakeContext(invocation_id="a")
    inv = runner.start(ctx, {}, APP)
    assert current() is inv and runner.in_flight() == 1
    runner.finish(ctx, "ok", APP)
    assert current() is None and runner.in_flight() == 0
    assert recorder.events == [("before", "a", True), ("after", "a", "ok")]


def test_outer_scope_owns_the_invocation(runner, recorder):
    ctx = FakeContext(invocation_id="a")
    assert runner.start(ctx, {}, APP) is not None
    assert runner.start(ctx, {}, FUNC) is None  # the function-level hook finds it started
    runner.finish(ctx, 1, FUNC)  # not its invocation to finish
    assert runner.in_flight() == 1
    runner.finish(ctx, 2, APP)
    assert [e[0] for e in recorder.events] == ["before", "after"] and recorder.events[-1][2] == 2


def test_fail_ends_whoever_started_it(runner, recorder):
    ctx = FakeContext(invocation_id="a")
    runner.start(ctx, {}, FUNC)
    error = ZeroDivisionError()
    runner.fail(ctx, error)
    assert recorder.events[-1] == ("on_error", "a", error) and current() is None


def test_unreported_end_is_abandoned_at_next_start_on_the_thread(runner, recorder):
    first, second = FakeContext(invocation_id="first"), FakeContext(invocation_id="second")
    runner.start(first, {}, APP)  # its function raised; no post hook came
    runner.start(second, {}, APP)
    kind, inv_id, exc = recorder.events[1]
    assert (kind, inv_id) == ("on_error", "first")
    assert isinstance(exc, InvocationAbandoned) and exc.in_own_context
    assert current().invocation_id == "second"
    runner.finish(second, None, APP)
    assert current() is None and runner.in_flight() == 0


def test_async_invocation_is_abandoned_when_its_task_ends(runner, recorder):
    async def invocation():
        runner.start(FakeContext(invocation_id="t"), {}, APP)
        raise RuntimeError("user error; no post hook")

    async def main():
        with pytest.raises(RuntimeError):
            await asyncio.create_task(invocation())
        await asyncio.sleep(0)  # done callbacks run on the next loop iteration

    asyncio.run(main())
    kind, inv_id, exc = recorder.events[-1]
    assert (kind, inv_id) == ("on_error", "t") and not exc.in_own_context
    assert runner.in_flight() == 0


def test_shutdown_ends_everything_in_flight(runner, recorder):
    contexts = [FakeContext(invocation_id=str(i)) for i in range(3)]
    threads = [threading.Thread(target=runner.start, args=(c, {}, APP)) for c in contexts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runner.in_flight() == 3
    runner.shutdown()
    assert runner.in_flight() == 0
    assert sorted(e[1] for e in recorder.events if e[0] == "on_error") == ["0", "1", "2"]


def test_disabled_runs_nothing(recorder):
    runner = InvocationRunner(Settings(enabled=False, middleware=(recorder,)))
    ctx = FakeContext()
    assert runner.start(ctx, {}, APP) is None
    runner.finish(ctx, None, APP)
    assert recorder.events == [] and current() is None


def test_function_options_and_middleware(runner, recorder):
    extra = Recorder()
    runner.set_function_options("special", FunctionOptions(attributes={"k": "v"}, middleware=(extra,)))
    ctx = FakeContext(function_name="special", invocation_id="s")
    inv = runner.start(ctx, {}, APP)
    assert inv.options.attributes == {"k": "v"}
    runner.finish(ctx, None, APP)
    assert [e[0] for e in extra.events] == ["before", "after"]
    other = FakeContext(function_name="plain")
    runner.start(other, {}, APP)
    runner.finish(other, None, APP)
    assert len(extra.events) == 2 and len(recorder.events) == 4


def test_configure_rebuilds_the_pipeline(runner, recorder):
    newer = Recorder()
    runner.configure(middleware=[newer])
    ctx = FakeContext()
    runner.start(ctx, {}, APP)
    runner.finish(ctx, None, APP)
    assert recorder.events == [] and len(newer.events) == 2


def test_broken_context_never_raises(runner, recorder, caplog):
    caplog.set_level(logging.WARNING, logger="funcscope")

    class NoId:
        function_name = "f"

        @property
        def invocation_id(self):
            raise RuntimeError("no id")

    for _ in range(3):
        assert runner.start(NoId(), {}, APP) is None
        runner.finish(NoId(), None, APP)
        runner.fail(NoId(), ValueError())
    assert recorder.events == []
    # one report, for start: ending looks the invocation up by its context object, which reads nothing of it
    assert len([r for r in caplog.records if r.name == "funcscope"]) == 1


def test_cold_start_only_first(runner):
    flags = []
    for _ in range(3):
        ctx = FakeContext()
        flags.append(runner.start(ctx, {}, APP).cold_start)
        runner.finish(ctx, None, APP)
    assert flags == [True, False, False]
