"""The developer reference's OpenCensus sample in the real classic worker: with only its import line changed, on
funcscope's drop-in, and as written, on the original `opencensus-extension-azure-functions`. Sync and async, a call
that succeeds and one that fails, to a server on 127.0.0.1.

Both return the same JSON (and fail the same way). On funcscope the "parent" span is the invocation span's child,
the outgoing request the child of "parent" (traced once, with its traceparent sent on), failures are errors; the
original exports "parent" straight under the host's span, as an in-process dependency that succeeded whatever
happened, and only every 15 seconds (a worker stopped by SIGTERM loses the rest).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from funcscope.bench.realworker.client import RealResult, RealWorker

from ..integration.opencensus_sample import (
    CASES,
    FUNCSCOPE_IMPORT,
    ORIGINAL_IMPORT,
    calls,
    closed_port,
    sample_on,
    without_addresses,
)
from ..integration.receivers import AppInsightsReceiver, Downstream
from .conftest import new_trace
from .helpers import children, the_span

ORIGINAL_EXPORT_S = 60  # the original's exporter sends every 15 s; a loaded machine gets leeway


def run(worker: RealWorker, sample_calls: list[tuple[str, str, str]], traces: list[tuple[str, str, str]]):
    return [
        worker.invoke(
            name, {"params": {"target": unquote(target)}}, trace_parent=traceparent, invocation_id=invocation_id
        )
        for (name, target, invocation_id), (_, _, traceparent) in zip(sample_calls, traces, strict=True)
    ]


def outcome(result: RealResult) -> Any:
    return result.value if result.ok else without_addresses(result.exception.message if result.exception else None)


@pytest.fixture
def downstream():
    with Downstream() as server:
        yield server


def test_the_seed_sample_on_funcscope_and_on_the_original(location, downstream, tmp_path):
    sample_calls = calls(downstream.url, f"http://127.0.0.1:{closed_port()}/down")
    traces = [new_trace() for _ in CASES]
    app = tmp_path / "app"  # the same folder for both: the sample returns its function_directory

    sample_on(FUNCSCOPE_IMPORT, app)
    with RealWorker(app, thread_count=2, location=location) as worker:
        ours = run(worker, sample_calls, traces)
        spans = worker.spans()
    ours_called = list(downstream.calls)
    downstream.calls.clear()

    sample_on(ORIGINAL_IMPORT, app)
    with AppInsightsReceiver() as receiver:
        env = {"APPLICATIONINSIGHTS_CONNECTION_STRING": receiver.connection_string()}
        with RealWorker(app, thread_count=2, env=env, telemetry="none", location=location) as worker:
            original = run(worker, sample_calls, traces)

            def parents() -> list[dict[str, Any]]:
                return [
                    e for e in receiver.envelopes("RemoteDependencyData") if e["data"]["baseData"]["name"] == "parent"
                ]

            assert receiver.wait_for(lambda: len(parents()) == len(CASES), timeout=ORIGINAL_EXPORT_S)
            envelopes = [e for e in receiver.envelopes() if e["data"]["baseType"] != "MetricData"]
    original_called = list(downstream.calls)

    # -- what the function returns: the same JSON, or the same failure -----------------------------------------
    assert [outcome(r) for r in ours] == [outcome(r) for r in original]
    for (name, succeeds), result in zip(CASES, ours, strict=True):
        assert result.ok is succeeds, result.exception
        if succeeds:
            body = result.json_body()
            assert (body["ctx_func_name"], body["response"]) == (name, 200)
            assert body["ctx_trace_context_Traceparent"] == result.trace_parent
        else:
            assert "ConnectionError" in result.exception.message or "Max retries" in result.exception.message

    # -- funcscope: the host's span > the invocation > "parent" > the request --------------------------------------
    for (name, succeeds), result, (trace_id, host_span, _) in zip(CASES, ours, traces, strict=True):
        invocation = the_span(spans, result.invocation_id)
        assert (invocation["trace_id"], invocation["parent_span_id"]) == (trace_id, host_span)
        assert invocation["status"] == ("UNSET" if succeeds else "ERROR")
        (parent,) = children(spans, invocation)
        assert parent["name"] == "parent" and parent["kind"] == "INTERNAL"
        assert parent["status"] == ("UNSET" if succeeds else "ERROR")
        (request,) = children(spans, parent)  # the request, traced once
        assert request["kind"] == "CLIENT" and request["status"] == ("UNSET" if succeeds else "ERROR")
        assert children(spans, request) == []
        if succeeds:
            assert ("GET", f"/{name}", f"00-{trace_id}-{request['span_id']}-01") in ours_called
    assert len(ours_called) == 2

    # -- the original: "parent" under the host's span, a success whatever happened, no invocation ------------------
    for trace_id, host_span, _ in traces:
        in_trace = [e for e in envelopes if e["tags"]["ai.operation.id"] == trace_id]
        (parent,) = [e for e in in_trace if e["tags"].get("ai.operation.parentId") == host_span]
        data = parent["data"]["baseData"]
        assert (data["name"], data["type"], data["success"]) == ("parent", "INPROC", True)
        assert {e["data"]["baseType"] for e in in_trace} == {"RemoteDependencyData"}  # no exception, no request
    assert len(original_called) == 2
