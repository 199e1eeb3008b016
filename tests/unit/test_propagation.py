"""Propagation into threads, timers and thread pools: each mechanism sees its invocation (context variables,
OpenTelemetry span, the worker's thread-local id), pool threads are never pinned, and work outside invocations,
results, exceptions and the original methods are untouched."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import queue
import sys
import threading
import types
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import wrapt
from opentelemetry import trace

from funcscope import current
from funcscope.instrumentation import threads as propagation
from funcscope.runtime import get_runner

from .fakes import FakeContext

TLS = FakeContext().thread_local_storage  # the worker's one process-wide thread-local
TRACER = trace.get_tracer("tests.propagation")
VAR: contextvars.ContextVar[str] = contextvars.ContextVar("tests.propagation.var", default="unset")
APP = object()
PATCHED = (
    (threading.Thread, "start"),
    (threading.Thread, "run"),
    (threading.Timer, "run"),
    (ThreadPoolExecutor, "submit"),
)


@pytest.fixture(autouse=True)
def instrumented():
    originals = {key: key[0].__dict__[key[1]] for key in PATCHED}
    propagation.instrument()
    yield
    propagation.uninstrument()
    assert {key: key[0].__dict__[key[1]] for key in PATCHED} == originals


@dataclass(frozen=True)
class Seen:
    invocation_id: str | None
    thread_local: str | None
    trace_id: int
    parent_span_id: int | None  # of a span made in the work


@dataclass(frozen=True)
class Inv:
    ctx: FakeContext
    span: trace.SpanContext

    def seen(self) -> Seen:
        return Seen(self.ctx.invocation_id, self.ctx.invocation_id, self.span.trace_id, self.span.span_id)


def observe(*_args: object) -> Seen:
    invocation = current()
    with TRACER.start_as_current_span("work") as span:
        parent = span.parent
    return Seen(
        invocation.invocation_id if invocation is not None else None,
        getattr(TLS, "invocation_id", None),
        span.get_span_context().trace_id,
        parent.span_id if parent is not None else None,
    )


@contextmanager
def invocation(name: str = "fn", ctx: FakeContext | None = None):
    """An invocation on this thread, as the worker runs a sync one: thread-local set around the hooks. Each is
    a root trace of its own."""
    ctx = ctx or FakeContext(function_name=name, trace_parent=None)
    runner = get_runner()
    TLS.invocation_id = ctx.invocation_id
    assert runner.start(ctx, {}, APP) is not None
    try:
        yield Inv(ctx, trace.get_current_span().get_span_context())
    finally:
        runner.finish(ctx, None, APP)
        TLS.invocation_id = None


def nothing_seen(seen: Seen) -> bool:
    return seen.invocation_id is None and seen.thread_local is None and seen.parent_span_id is None


# -- each mechanism ---------------------------------------------------------------------------------------------


def via_thread(work):
    out = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    thread.join()
    return out


class SubclassThread(threading.Thread):
    def run(self):
        super().run()  # the target runs inside Thread.run, which carries the invocation
        self.after = observe()  # the subclass's own code around it does not


def via_subclass(work):
    out = []
    thread = SubclassThread(target=lambda: out.append(work()))
    thread.start()
    thread.join()
    return [*out, thread.after]


def via_timer(work):
    out = []
    timer = threading.Timer(0, lambda: out.append(work()))
    timer.start()
    timer.join()
    return out


def via_submit(work):
    with ThreadPoolExecutor(2) as pool:
        return [pool.submit(work).result()]


def via_map(work):
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(work, range(4)))


def via_run_in_executor_default(work):
    async def main():
        return [await asyncio.get_running_loop().run_in_executor(None, work)]

    return asyncio.run(main())


def via_run_in_executor_custom(work):
    async def main():
        with ThreadPoolExecutor(1) as pool:
            return [await asyncio.get_running_loop().run_in_executor(pool, work)]

    return asyncio.run(main())


def via_to_thread(work):
    async def main():
        return [await asyncio.to_thread(work)]

    return asyncio.run(main())


MECHANISMS = [
    via_thread,
    via_subclass,
    via_timer,
    via_submit,
    via_map,
    via_run_in_executor_default,
    via_run_in_executor_custom,
    via_to_thread,
]


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=lambda m: m.__name__)
def test_work_started_inside_an_invocation_sees_it(mechanism, spans):
    with invocation() as inv:
        seen = mechanism(observe)
    if mechanism is via_subclass:
        # Thread.run's part is covered; the subclass's own code after super().run() runs outside it.
        assert seen[0] == inv.seen() and nothing_seen(seen[1])
    else:
        assert seen and all(s == inv.seen() for s in seen)
    work_spans = [s for s in spans.get_finished_spans() if s.name == "work"]
    (invocation_span,) = [s for s in spans.get_finished_spans() if s.name == "fn"]
    children = [s for s in work_spans if s.parent is not None]
    assert children and all(s.parent.span_id == invocation_span.context.span_id for s in children)
    assert all(s.context.trace_id == invocation_span.context.trace_id for s in children)


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=lambda m: m.__name__)
def test_work_started_outside_invocations_is_untouched(mechanism):
    token = VAR.set("caller")
    try:
        seen = mechanism(observe)
        assert seen and all(nothing_seen(s) for s in seen)
        # No context is copied for a plain Thread or pool: the caller's variables stay behind, as without funcscope.
        if mechanism in (via_thread, via_submit):
            assert mechanism(VAR.get) == ["unset"]
    finally:
        VAR.reset(token)


def test_async_invocation_is_the_tasks_not_the_loop_threads():
    # On the loop thread the worker's thread-local names whichever async invocation came last; work started by a
    # task must carry that task's invocation.
    first, second = FakeContext(function_name="a"), FakeContext(function_name="b")

    async def run(ctx, other_started, own_started):
        runner = get_runner()
        TLS.invocation_id = ctx.invocation_id  # what the worker does on the loop thread, never cleared
        runner.start(ctx, {}, APP)
        own_started.set()
        await other_started.wait()
        seen = [await asyncio.to_thread(observe), await asyncio.get_running_loop().run_in_executor(None, observe)]
        seen += via_thread(observe)
        runner.finish(ctx, None, APP)
        return seen

    async def main():
        a_started, b_started = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(run(first, b_started, a_started), run(second, a_started, b_started))

    seen_a, seen_b = asyncio.run(main())
    TLS.invocation_id = None
    assert {(s.invocation_id, s.thread_local) for s in seen_a} == {(first.invocation_id, first.invocation_id)}
    assert {(s.invocation_id, s.thread_local) for s in seen_b} == {(second.invocation_id, second.invocation_id)}


# -- pool threads -----------------------------------------------------------------------------------------------


def test_reused_pool_thread_is_restored_after_each_callable():
    with ThreadPoolExecutor(1) as pool:
        # The pool thread's own state, as a worker pool thread has it.
        pool.submit(VAR.set, "thread's own").result()
        pool.submit(setattr, TLS, "invocation_id", "thread's own").result()

        def leave_traces():
            seen = observe()
            VAR.set("left by A")
            TLS.invocation_id = "left by A"
            return seen

        with invocation("A") as a:
            assert pool.submit(leave_traces).result() == a.seen()
        assert pool.submit(lambda: (VAR.get(), TLS.invocation_id, current())).result() == (
            "thread's own",
            "thread's own",
            None,
        )
        plain = pool.submit(observe).result()
        assert plain.invocation_id is None and plain.parent_span_id is None
        with invocation("B") as b:
            assert pool.submit(observe).result() == b.seen()
        assert pool.submit(lambda: (VAR.get(), TLS.invocation_id, current())).result() == (
            "thread's own",
            "thread's own",
            None,
        )


def test_pool_created_inside_an_invocation_is_not_pinned_to_it():
    pool = ThreadPoolExecutor(3)
    try:
        with invocation("A") as a:
            # The pool's threads are started here, while A is current.
            assert [f.result() for f in [pool.submit(observe) for _ in range(6)]] == [a.seen()] * 6
            thread_started = via_thread(observe)[0]
            assert thread_started == a.seen()
        barrier = threading.Barrier(3, timeout=30)

        def on_each_thread():
            barrier.wait()  # three callables at once: one on every pool thread
            return observe()

        seen = [f.result() for f in [pool.submit(on_each_thread) for _ in range(3)]]
        assert all(nothing_seen(s) for s in seen)
        with invocation("B") as b:
            assert [f.result() for f in [pool.submit(observe) for _ in range(6)]] == [b.seen()] * 6
    finally:
        pool.shutdown()


def test_asyncio_default_executor_created_inside_an_invocation_is_not_pinned():
    async def main():
        loop = asyncio.get_running_loop()
        with invocation("A") as a:
            assert await loop.run_in_executor(None, observe) == a.seen()  # creates the default executor
        return await asyncio.gather(*(loop.run_in_executor(None, observe) for _ in range(8)))

    assert all(nothing_seen(s) for s in asyncio.run(main()))


def test_other_standard_service_threads_started_inside_an_invocation_are_not_pinned():
    import logging.handlers
    import queue
    from multiprocessing.pool import ThreadPool

    handled = []

    class Recording(logging.Handler):
        def emit(self, record):
            handled.append(observe())

    records: queue.Queue = queue.Queue()
    listener = logging.handlers.QueueListener(records, Recording())
    with invocation("A"):
        pool = ThreadPool(2)  # its workers and handler threads start here
        listener.start()
    try:
        assert all(nothing_seen(s) for s in pool.map(observe, range(4)))
        records.put(logging.makeLogRecord({"msg": "m"}))
    finally:
        pool.close()
        pool.join()
        listener.stop()
    assert len(handled) == 1 and nothing_seen(handled[0])


class Consumer:
    """A long-lived thread of the app's own, started lazily by the first invocation that needs it: it runs
    whatever later invocations put on its queue."""

    def __init__(self):
        self.work: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            job, out = self.work.get()
            if job is None:
                return
            out.put(job())

    def run(self, job):
        out: queue.Queue = queue.Queue()
        self.work.put((job, out))
        return out.get(timeout=10)

    def stop(self):
        self.work.put((None, None))
        self.thread.join(10)


@pytest.mark.parametrize("log_enrichment", [True, False])
def test_a_long_lived_thread_carries_its_invocation_only_until_it_ends(spans, caplog, log_enrichment):
    propagation_log = logging.getLogger("tests.propagation.consumer")
    caplog.set_level(logging.INFO, logger=propagation_log.name)
    get_runner().configure(log_enrichment=log_enrichment, propagation=True)

    def job():
        propagation_log.info("job")
        return observe()

    with invocation("first") as first:
        consumer = Consumer()
        during = consumer.run(job)  # work the first invocation hands it, while it is in flight: the first's
    try:
        with invocation("second"):
            later = consumer.run(job)  # work a later invocation hands it: never filed under the first
        after_all = consumer.run(job)
    finally:
        consumer.stop()
    assert during == first.seen()
    for seen in (later, after_all):
        assert seen.invocation_id is None and seen.thread_local is None  # the worker files its logs under none
        assert seen.trace_id != first.span.trace_id and seen.parent_span_id is None  # a trace of its own
    records = [r for r in caplog.records if r.name == propagation_log.name]
    fields = [first.ctx.invocation_id, None, None] if log_enrichment else [None, None, None]
    assert [getattr(r, "invocation_id", None) for r in records] == fields
    later_spans = [s for s in spans.get_finished_spans() if s.name == "work"][1:]
    assert len(later_spans) == 2 and all(s.parent is None for s in later_spans)


def test_a_long_lived_thread_releases_the_runtimes_invocation_variable(monkeypatch):
    # On the Python 3.13+ worker the proxy files a record by the runtime's invocation_id_cv, which propagation
    # sets in the work it carries: a long-lived thread's goes back to None once its invocation ended.
    runtime = types.ModuleType("azure_functions_runtime")
    runtime.invocation_id_cv = contextvars.ContextVar("invocation_id_cv", default=None)
    monkeypatch.setitem(sys.modules, "azure_functions_runtime", runtime)
    get_runner().configure(log_enrichment=False, propagation=True)

    def job():
        logging.getLogger("tests.propagation.consumer").warning("job")  # the record the proxy would file
        return runtime.invocation_id_cv.get()

    with invocation() as inv:
        consumer = Consumer()
        during = consumer.run(job)
    try:
        after = consumer.run(job)
    finally:
        consumer.stop()
    assert (during, after) == (inv.ctx.invocation_id, None)


def test_a_thread_started_after_its_invocation_ended_carries_nothing():
    out = []
    with invocation():
        consumer = Consumer()
    try:
        consumer.run(lambda: via_thread(observe) and None)
        consumer.run(lambda: out.extend(via_thread(observe) + via_submit(observe)))
    finally:
        consumer.stop()
    assert len(out) == 2 and all(nothing_seen(s) for s in out)


def test_pool_work_carries_its_invocation_while_it_runs():
    # A callable submitted by an invocation is that invocation's work for as long as it runs, also after the
    # invocation ended (unlike a thread, a callable never serves anyone else).
    release = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        with invocation() as inv:
            future = pool.submit(lambda: (release.wait(10), observe())[1])
        release.set()
        seen = future.result(10)
    assert seen.invocation_id == inv.ctx.invocation_id and seen.parent_span_id == inv.span.span_id


def test_a_thread_started_in_an_empty_context_carries_nothing():
    # A long-lived thread of the app's own, started lazily inside an invocation, may also be started so.
    out = []
    with invocation():
        thread = threading.Thread(target=lambda: out.append(observe()))
        contextvars.Context().run(thread.start)
        thread.join()
    assert nothing_seen(out[0])


# -- results, exceptions, Thread semantics ----------------------------------------------------------------------


def test_results_and_exceptions_are_unchanged():
    result, error = object(), RuntimeError("the user's own")

    def fail():
        raise error

    with invocation(), ThreadPoolExecutor(2) as pool:
        assert pool.submit(lambda x, *, y: (x, y), result, y=2).result() == (result, 2)
        assert list(pool.map(lambda x: x * 2, [1, 2, 3])) == [2, 4, 6]
        assert pool.submit(fail).exception() is error
        with pytest.raises(RuntimeError) as raised:
            list(pool.map(lambda _: fail(), [1]))
        assert raised.value is error


@pytest.mark.parametrize("make", [threading.Thread, lambda target: threading.Timer(0, target)], ids=["thread", "timer"])
def test_thread_exceptions_reach_excepthook_unchanged(make, monkeypatch):
    error = ValueError("from the thread")
    hooked = []
    monkeypatch.setattr(threading, "excepthook", hooked.append)

    def fail():
        raise error

    with invocation():
        thread = make(target=fail)
        thread.start()
        thread.join()
    assert [args.exc_value for args in hooked] == [error]


def test_thread_run_still_releases_target_and_arguments():
    class Payload:
        pass

    payload = Payload()
    ref = weakref.ref(payload)
    with invocation():
        thread = threading.Thread(target=lambda p: None, args=(payload,))
        thread.start()
        thread.join()
    del payload
    gc.collect()
    assert ref() is None
    assert "_funcscope_carried" not in vars(thread)  # the thread holds no invocation once it has run


def test_work_runs_when_the_thread_local_cannot_be_set(caplog):
    ctx = FakeContext()
    ctx.thread_local_storage = object()  # cannot take attributes
    with caplog.at_level(logging.WARNING, logger="funcscope"), invocation(ctx=ctx):
        seen = via_thread(observe) + via_submit(observe) + via_submit(observe)
    assert all(s.invocation_id == ctx.invocation_id and s.thread_local is None for s in seen)
    assert len([r for r in caplog.records if "thread-local" in r.getMessage()]) == 1


def test_context_that_cannot_be_entered_still_runs_the_work_once(caplog):
    # Applying a context fails only if it is entered already; the user's own RuntimeError is not that.
    context = contextvars.copy_context()
    calls = []

    def inside():
        with caplog.at_level(logging.WARNING, logger="funcscope"):
            assert propagation._run_in(context, "inv", lambda: calls.append(1) or "done", (), {}) == "done"

        def fail():
            calls.append(2)
            raise RuntimeError("own")

        with pytest.raises(RuntimeError, match="own"):
            propagation._run_in(contextvars.copy_context(), "inv", fail, (), {})

    context.run(inside)
    assert calls == [1, 2]
    assert any("could not carry" in r.getMessage() for r in caplog.records)


# -- instrument / uninstrument ----------------------------------------------------------------------------------


def test_uninstrument_restores_originals_and_plain_behaviour():
    originals = {key: propagation._wrappers[key].__wrapped__ for key in PATCHED}
    propagation.uninstrument()
    assert not propagation.is_instrumented()
    for (cls, name), original in originals.items():
        assert cls.__dict__[name] is original
    assert threading.Thread.start is originals[(threading.Thread, "start")]
    with invocation():
        assert all(nothing_seen(s) for s in via_thread(observe) + via_submit(observe) + via_timer(observe))
    propagation.instrument()
    with invocation() as inv:
        assert via_thread(observe) == [inv.seen()]


def test_instrument_twice_is_one_patch():
    propagation.instrument()
    assert propagation.is_instrumented()
    for cls, name in PATCHED:
        wrapper = cls.__dict__[name]
        assert isinstance(wrapper, wrapt.FunctionWrapper)
        assert not isinstance(wrapper.__wrapped__, wrapt.FunctionWrapper)


def test_instrument_from_many_threads_at_once_is_one_patch():
    propagation.uninstrument()
    barrier = threading.Barrier(8, timeout=30)

    def instrument():
        barrier.wait()
        propagation.instrument()

    threads = [threading.Thread(target=instrument) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for cls, name in PATCHED:
        assert not isinstance(cls.__dict__[name].__wrapped__, wrapt.FunctionWrapper)


def test_a_patch_wrapped_again_by_someone_else_is_left_in_place_and_passes_through():
    def theirs(wrapped, instance, args, kwargs):
        return wrapped(*args, **kwargs)

    wrapt.wrap_function_wrapper(threading.Thread, "start", theirs)
    stacked = threading.Thread.__dict__["start"]
    try:
        propagation.uninstrument()
        assert threading.Thread.__dict__["start"] is stacked  # their wrapper survives
        with invocation():
            assert nothing_seen(via_thread(observe)[0])
        propagation.instrument()  # ours is enabled again, not stacked a second time
        assert isinstance(stacked.__wrapped__, wrapt.FunctionWrapper)
        assert not isinstance(stacked.__wrapped__.__wrapped__, wrapt.FunctionWrapper)
        with invocation() as inv:
            assert via_thread(observe) == [inv.seen()]
    finally:
        threading.Thread.start = stacked.__wrapped__  # their uninstrument


# -- many invocations at once -----------------------------------------------------------------------------------


def test_concurrent_invocations_never_cross():
    shared_pool = ThreadPoolExecutor(8)  # the user's pool, reused by every invocation

    def one_invocation(n: int) -> list[tuple[str, Seen]]:
        with invocation(f"fn{n % 4}") as inv:
            own = inv.ctx.invocation_id
            seen = via_thread(observe) + via_timer(observe)
            seen += [f.result() for f in [shared_pool.submit(observe) for _ in range(3)]]
            seen += list(shared_pool.map(observe, range(2)))
            seen.append(observe())
            return [(own, s) for s in seen] + [("span", inv.seen())]

    try:
        with ThreadPoolExecutor(16) as worker_pool:  # the worker's sync pool
            results = list(worker_pool.map(one_invocation, range(64)))
    finally:
        shared_pool.shutdown()
    assert len(results) == 64
    for observed in results:
        expected = observed[-1][1]
        for own, seen in observed[:-1]:
            assert seen.invocation_id == own and seen.thread_local == own
            assert seen.trace_id == expected.trace_id and seen.parent_span_id == expected.parent_span_id
    assert len({observed[0][0] for observed in results}) == 64
