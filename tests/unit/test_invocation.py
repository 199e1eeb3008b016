"""The invocation snapshot reads the worker's context defensively: odd input gives defaults, never errors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from funcscope.shared.invocation import NO_RETRY, Invocation, RetryInfo, read_retry_info
from funcscope.shared.trace_context import read_host_trace_context
from funcscope.shared.triggers import UNKNOWN_TRIGGER

from .fakes import FakeContext

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331


class WorkerRetryContext:
    """Shaped like the worker's: `rpc_exception`, and `.exception` raising AttributeError."""

    def __init__(self, count, max_count, message=""):
        self.retry_count, self.max_retry_count = count, max_count
        self.rpc_exception = SimpleNamespace(source="", stack_trace="", message=message)


class SdkRetryContext:
    """Shaped like the SDK's documentation: `exception` with a message."""

    def __init__(self, count, max_count, message):
        self.retry_count, self.max_retry_count = count, max_count
        self.exception = SimpleNamespace(message=message)


class Exploding:
    """Every attribute the worker's context would have raises."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise RuntimeError(f"no {name} here")


@pytest.mark.parametrize(
    "retry_context, expected",
    [
        (None, NO_RETRY),
        (WorkerRetryContext(0, 0), NO_RETRY),
        (WorkerRetryContext(1, 3, "boom"), RetryInfo(1, 3, "boom")),
        (WorkerRetryContext(3, 3, "boom again"), RetryInfo(3, 3, "boom again")),
        (SdkRetryContext(2, 5, "sdk boom"), RetryInfo(2, 5, "sdk boom")),
        (SimpleNamespace(retry_count="2", max_retry_count="4"), RetryInfo(2, 4, None)),
        (SimpleNamespace(retry_count="x", max_retry_count=None), NO_RETRY),
        (SimpleNamespace(retry_count=-7, max_retry_count=-1), RetryInfo(0, -1, None)),
        (SimpleNamespace(retry_count=True, max_retry_count=3.9), RetryInfo(0, 3, None)),
        (Exploding(), NO_RETRY),
        ("not a retry context", NO_RETRY),
    ],
)
def test_retry_info(retry_context, expected):
    assert read_retry_info(FakeContext(retry_context=retry_context)) == expected


def test_retry_is_final():
    assert RetryInfo(0, 0).is_final  # no retry policy: the only attempt is the last
    assert not RetryInfo(0, 3).is_final
    assert not RetryInfo(2, 3).is_final
    assert RetryInfo(3, 3).is_final
    assert not RetryInfo(50, -1).is_final  # retry forever
    assert RetryInfo(1, 3).is_retry and not RetryInfo(0, 3).is_retry


def test_first_attempt_ignores_previous_failure_text():
    assert read_retry_info(FakeContext(retry_context=WorkerRetryContext(0, 3, "stale"))).previous_failure is None


def test_snapshot_fields():
    ctx = FakeContext(function_name="HttpTrigger", invocation_id="inv-1", function_directory="/app/HttpTrigger")
    inv = Invocation(ctx, {"req": 1}, UNKNOWN_TRIGGER, cold_start=True)
    assert (inv.function_name, inv.invocation_id, inv.function_directory) == (
        "HttpTrigger",
        "inv-1",
        "/app/HttpTrigger",
    )
    assert inv.cold_start and inv.func_args == {"req": 1} and inv.trigger is UNKNOWN_TRIGGER
    assert inv.start_ns > 0 and inv.state == {}
    assert inv.host.span_context.trace_id == TRACE_ID


def test_snapshot_of_an_empty_object():
    inv = Invocation(object(), None, UNKNOWN_TRIGGER)
    assert (inv.function_name, inv.invocation_id, inv.retry, inv.func_args) == ("unknown", "", NO_RETRY, {})
    assert inv.host.problem == "missing"


def test_host_trace_context_valid():
    host = read_host_trace_context(FakeContext(trace_state="congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"))
    assert host.problem is None
    assert host.span_context.trace_id == TRACE_ID and host.span_context.span_id == SPAN_ID
    assert host.span_context.is_remote and host.sampled is True
    assert host.span_context.trace_state.get("rojo") == "00f067aa0ba902b7"


def test_host_trace_context_not_sampled():
    ctx = FakeContext(trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
    assert read_host_trace_context(ctx).sampled is False


@pytest.mark.parametrize(
    "trace_parent, problem",
    [
        (None, "missing"),
        ("", "missing"),
        (12345, "missing"),
        ("garbage", "invalid"),
        ("00-00000000000000000000000000000000-b7ad6b7169203331-01", "invalid"),
        ("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "invalid"),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", "invalid"),
        ("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "invalid"),
        ("00-" + "a" * 600, "oversized"),
    ],
)
def test_host_trace_context_unusable(trace_parent, problem):
    host = read_host_trace_context(FakeContext(trace_parent=trace_parent))
    assert host.problem == problem
    assert host.span_context is None and host.sampled is None
    assert len(host.parent) == 0  # an empty OpenTelemetry context: a new root trace


def test_host_trace_context_odd_tracestate_keeps_the_parent():
    host = read_host_trace_context(FakeContext(trace_state="!!not==valid,,,"))
    assert host.problem is None and host.span_context.trace_id == TRACE_ID


def test_host_trace_context_deprecated_names_and_missing_object():
    legacy = SimpleNamespace(
        function_name="f",
        trace_context=SimpleNamespace(Traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    )
    assert read_host_trace_context(legacy).span_context.trace_id == TRACE_ID
    assert read_host_trace_context(SimpleNamespace()).problem == "missing"
    assert read_host_trace_context(SimpleNamespace(trace_context=Exploding())).problem == "missing"


def test_host_trace_context_mixed_names_keep_the_tracestate():
    mixed = SimpleNamespace(
        trace_context=SimpleNamespace(
            trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            trace_state=None,
            Tracestate="rojo=00f067aa0ba902b7",
        )
    )
    host = read_host_trace_context(mixed)
    assert host.span_context.trace_id == TRACE_ID
    assert host.span_context.trace_state.get("rojo") == "00f067aa0ba902b7"
