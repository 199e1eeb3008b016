"""Whatever the worker, the trigger, the function's result or exception or a middleware does, the invocation is
untouched, its span ends, every tally balances, values are bounded and no secret is recorded.

(Generated inputs through the real exporters are in tests/integration/test_properties.py; forks and processes in
tests/integration/test_processes.py; long-lived threads in test_propagation.py.)
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings

import azure.functions as func
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.trace import StatusCode

from funcscope import Settings, current
from funcscope.emulator.context import Context, RetryContext, TraceContext
from funcscope.runtime import get_runner, reset_runner
from funcscope.shared.diagnostics import forget_reports
from funcscope.shared.values import INT64_MAX

from .fakes import FakeContext

APP = object()
SECRET = "Zq9ADmZ8pTr4"


@pytest.fixture
def reader():
    reader = InMemoryMetricReader()
    get_runner().configure(metrics=True, meter_provider=MeterProvider(metric_readers=[reader]))
    return reader


def tallies(reader) -> dict[str, int]:
    data = reader.get_metrics_data()
    out: dict[str, int] = {}
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    out[m.name] = out.get(m.name, 0) + int(getattr(p, "value", getattr(p, "count", 0)))
    return out


def plain_runner(**options):
    """A runner with only the span (and the given options): no process-wide patches."""
    return reset_runner(Settings(metrics=False, propagation=False, log_enrichment=False, instrument=(), **options))


def run(ctx, args=None, result=None, error=None):
    runner = get_runner()
    runner.start(ctx, args or {}, APP)
    if error is not None:
        runner.fail(ctx, error)
    else:
        runner.finish(ctx, result, APP)


def _raised(exc):
    try:
        raise exc
    except BaseException as caught:
        return caught


# -- a span always ends, every tally balances --------------------------------------------------------------------


class Response(func.HttpResponse):
    """An HttpResponse whose status_code is whatever the test says, or raises."""

    def __init__(self, status):
        super().__init__("body")
        self._odd = status

    @property
    def status_code(self):
        if isinstance(self._odd, BaseException):
            raise self._odd
        return self._odd


@pytest.mark.parametrize(
    "status",
    [math.nan, math.inf, -math.inf, 10**30, -5, "abc", None, object(), ValueError("x"), SystemExit(3), True, 2.5e300],
    ids=repr,
)
def test_the_span_ends_whatever_the_status_code_does(spans, reader, status):
    run(
        FakeContext(function_name="odd"),
        {"req": func.HttpRequest("GET", "http://h/api/odd", body=b"")},
        result=Response(status),
    )
    (span,) = spans.get_finished_spans()
    assert "http.response.status_code" not in span.attributes and span.status.status_code is StatusCode.UNSET
    counts = tallies(reader)
    assert counts["faas.invocations"] == 1 and counts["faas.active_invocations"] == 0
    assert counts["faas.invoke_duration"] == 1


@pytest.mark.parametrize("status, recorded", [(200, 200), (503.0, 503), ("404", 404)])
def test_a_status_code_that_is_a_number_is_recorded(spans, status, recorded):
    run(FakeContext(), {"req": func.HttpRequest("GET", "http://h/api/x", body=b"")}, result=Response(status))
    (span,) = spans.get_finished_spans()
    assert span.attributes["http.response.status_code"] == recorded


class StrRaises(Exception):
    def __init__(self, what):
        super().__init__()
        self.what = what

    def __str__(self):
        raise self.what


class StrNotAString(Exception):
    def __str__(self):
        return 42  # type: ignore[return-value]


class StrSubclass(Exception):
    class Weird(str):
        def __len__(self):
            raise RuntimeError("no len")

    def __str__(self):
        return self.Weird(f"password={SECRET}")


@pytest.mark.parametrize(
    "error",
    [
        StrRaises(ValueError("x")),
        StrRaises(SystemExit(1)),
        StrNotAString(),
        StrSubclass(),
        SystemExit(2),
        GeneratorExit(),
        type("Dynamic", (Exception,), {})(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_span_ends_whatever_the_exception_does(spans, reader, error):
    run(FakeContext(function_name="boom"), error=_raised(error))
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    (event,) = span.events
    assert event.name == "exception" and event.attributes["exception.type"].endswith(type(error).__qualname__)
    assert SECRET not in str(event.attributes) and SECRET not in span.status.description
    counts = tallies(reader)
    assert counts["faas.errors"] == 1 and counts["faas.active_invocations"] == 0


def test_the_stack_trace_on_the_span_is_redacted(spans):
    def connect():
        raise ConnectionError(f"InstrumentationKey={SECRET};IngestionEndpoint=https://x/")

    try:
        connect()
    except ConnectionError as exc:
        run(FakeContext(), error=exc)
    (span,) = spans.get_finished_spans()
    (event,) = span.events
    stack = event.attributes["exception.stacktrace"]
    assert "in connect" in stack and "ConnectionError" in stack and SECRET not in stack
    assert SECRET not in event.attributes["exception.message"] and SECRET not in span.status.description


def test_a_huge_exception_message_is_bounded(spans):
    run(FakeContext(), error=_raised(ValueError("x" * 5_000_000)))
    (span,) = spans.get_finished_spans()
    (event,) = span.events
    assert len(event.attributes["exception.message"]) <= 4096 and len(span.status.description) <= 4096
    assert len(event.attributes["exception.stacktrace"]) <= 32768


# -- bounded values ----------------------------------------------------------------------------------------------


class Retry:
    def __init__(self, count, max_count, message=None):
        self.retry_count, self.max_retry_count = count, max_count
        self.rpc_exception = type("E", (), {"message": message})() if message else None


@pytest.mark.parametrize(
    "count, max_count, expected",
    [
        (2**63, 5, (0, 5)),  # beyond int64: the default, never put on the span
        (1, 2**70, (1, 0)),
        (-(2**64), 3, (0, 3)),
        (INT64_MAX, INT64_MAX, (INT64_MAX, INT64_MAX)),
        (math.nan, 3, (0, 3)),
        ("2", "5", (2, 5)),
        ("9" * 5000, 1, (0, 1)),
        (True, 1, (0, 1)),
        (object(), [1], None),
    ],
    ids=repr,
)
def test_retry_counts_are_bounded(spans, count, max_count, expected):
    run(FakeContext(retry_context=Retry(count, max_count)))
    (span,) = spans.get_finished_spans()
    got = span.attributes.get("azure.functions.retry.count"), span.attributes.get("azure.functions.retry.max_count")
    assert got == (expected if expected is not None else (None, None))


def test_the_previous_failure_is_redacted_and_bounded(spans):
    message = f"AccountKey={SECRET} " + "y" * 100_000
    run(FakeContext(retry_context=Retry(1, 3, message)))
    (span,) = spans.get_finished_spans()
    (event,) = [e for e in span.events if e.name == "azure.functions.retry.previous_failure"]
    text = event.attributes["exception.message"]
    assert SECRET not in text and len(text) <= 4096


@pytest.mark.parametrize(
    "url, method",
    [("http://h/api/x?" + "a" * 100_000, "GET"), ("http://h/api/\udcffx", "G" * 1000), ("", None), (None, 5)],
    ids=["long url", "surrogate and long method", "empty", "not strings"],
)
def test_request_values_are_bounded(spans, url, method):
    request = func.HttpRequest("GET", "http://h/api/x", body=b"")
    request._HttpRequest__url, request._HttpRequest__method = url, method  # as an odd worker could hand them in
    run(FakeContext(), {"req": request}, result=func.HttpResponse("ok"))
    (span,) = spans.get_finished_spans()
    for key in ("url.full", "url.path", "http.request.method"):
        value = span.attributes.get(key)
        assert value is None or (isinstance(value, str) and len(value) <= 8192 and value.encode("utf-8"))


def test_names_and_ids_from_an_odd_context_are_bounded(spans):
    run(FakeContext(function_name="f" * 10_000, invocation_id="i" * 10_000))
    (span,) = spans.get_finished_spans()
    assert len(span.name) == 256 and len(span.attributes["faas.invocation_id"]) == 256


# -- middlewares: isolated from any BaseException but KeyboardInterrupt, read-only arguments, a time budget -------


class Raises:
    def __init__(self, error):
        self.error = error

    def before(self, invocation):
        raise self.error


class RaisesAfter(Raises):
    def before(self, invocation):
        pass

    def after(self, invocation, result):
        raise self.error


@pytest.mark.parametrize(
    "error",
    [SystemExit(0), GeneratorExit(), RuntimeError("x"), StrRaises(ValueError())],
    ids=lambda e: type(e).__name__,
)
def test_a_middleware_raising_anything_is_isolated_and_reported(spans, caplog, error):
    plain_runner(
        middleware=(
            Raises(error),
            RaisesAfter(error),
        )
    )
    caplog.set_level(logging.WARNING, logger="funcscope")
    for _ in range(3):
        run(FakeContext(), result="ok")
    assert len(spans.get_finished_spans()) == 3
    reports = [r.getMessage() for r in caplog.records if r.name == "funcscope"]
    assert len(reports) == 2 and all(type(error).__name__ in r for r in reports)
    assert "Raises.before()" in reports[0] and "RaisesAfter.after()" in reports[1]


def test_keyboard_interrupt_is_not_swallowed():
    plain_runner(
        middleware=(
            Raises(
                KeyboardInterrupt(),
            ),
        )
    )
    ctx = FakeContext()
    with pytest.raises(KeyboardInterrupt):
        get_runner().start(ctx, {}, APP)
    assert current() is not None  # started; the interrupt goes on to the worker, which stops
    get_runner().fail(ctx, RuntimeError())


def test_a_middleware_cannot_change_the_arguments(caplog):
    class Replaces:
        def before(self, invocation):
            invocation.func_args["req"] = "replaced"

    plain_runner(middleware=(Replaces(),))
    caplog.set_level(logging.WARNING, logger="funcscope")
    args = {"req": "original"}
    ctx = FakeContext()
    invocation = get_runner().start(ctx, args, APP)
    get_runner().finish(ctx, None, APP)
    assert args == {"req": "original"} and dict(invocation.func_args) == args
    assert any("Replaces.before() raised TypeError" in r.getMessage() for r in caplog.records)


class Sleeps:
    def __init__(self, seconds):
        self.seconds = seconds

    def before(self, invocation):
        time.sleep(self.seconds)


class Quick:
    def before(self, invocation):
        pass


def test_a_slow_middleware_is_reported_once_by_name_and_time(caplog):
    plain_runner(
        middleware_budget_ms=20,
        middleware=(
            Quick(),
            Sleeps(0.1),
        ),
    )
    caplog.set_level(logging.WARNING, logger="funcscope")
    for _ in range(4):
        run(FakeContext(function_name="slowfn"))
    reports = [r.getMessage() for r in caplog.records if r.name == "funcscope"]
    assert len(reports) == 1, reports
    assert "Sleeps.before() took" in reports[0] and "budget 20 ms" in reports[0] and "slowfn" in reports[0]
    took = int(reports[0].split("took ")[1].split(" ms")[0])
    assert took >= 100


def test_middlewares_within_budget_say_nothing(caplog):
    forget_reports()
    plain_runner(
        middleware_budget_ms=10_000,
        middleware=(
            Quick(),
            Sleeps(0.001),
        ),
    )
    caplog.set_level(logging.WARNING, logger="funcscope")
    for _ in range(5):
        run(FakeContext())
    assert not [r for r in caplog.records if r.name == "funcscope"]


def test_the_budget_setting():
    assert Settings.from_env({"FUNCSCOPE_MIDDLEWARE_BUDGET_MS": "250"}).middleware_budget_ms == 250
    with pytest.raises(ValueError, match="middleware_budget_ms"):
        Settings().with_options(middleware_budget_ms=-1)


# -- duplicate invocation ids ------------------------------------------------------------------------------------


def test_two_invocations_with_one_id_in_flight_are_two_invocations(spans):
    runner = get_runner()
    first, second = FakeContext(invocation_id="dup"), FakeContext(invocation_id="dup")
    started = threading.Event()
    done = threading.Event()
    seen_after = []

    def on_pool_thread():
        runner.start(first, {}, APP)
        started.set()
        done.wait(10)
        runner.finish(first, "first", APP)
        seen_after.append(current())

    thread = threading.Thread(target=on_pool_thread)
    thread.start()
    started.wait(10)
    runner.start(second, {}, APP)
    time.sleep(0.01)
    runner.finish(second, "second", APP)
    assert current() is None  # this thread is not left with an invocation current
    ended_second = time.time_ns()
    time.sleep(0.01)
    done.set()
    thread.join(10)
    assert seen_after == [None] and runner.in_flight() == 0
    by_end = sorted(spans.get_finished_spans(), key=lambda s: s.end_time)
    assert [s.attributes["faas.invocation_id"] for s in by_end] == ["dup", "dup"]
    assert by_end[0].end_time <= ended_second < by_end[1].end_time  # each span ended with its own invocation


# -- no warnings from funcscope's own reads ----------------------------------------------------------------------


def test_reading_the_context_raises_no_warnings(spans):
    ctx = Context(
        "fn",
        "/app/fn",
        "w",
        threading.local(),
        TraceContext("", None, {}),  # no host trace: the modern names are empty or None
        RetryContext(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            run(ctx)
    assert len(spans.get_finished_spans()) == 3
