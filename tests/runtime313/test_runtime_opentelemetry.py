"""The runtime's own OpenTelemetry mode beside funcscope.

With `PYTHON_ENABLE_OPENTELEMETRY=true` the runtime extracts the host's context and attaches it, never detaching,
in the invocation's task before it runs the function (on the protobuf path; on the native path only around
async functions). With `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true` it also calls the Azure Monitor distro's
`configure_azure_monitor()` at worker init, which sets the global providers funcscope then reuses. Either way:
still one span per invocation with the host's parent, nothing left on a reused thread, no invocation failing.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace

from funcscope.runtime import get_runner

from .conftest import HOST_TRACE, V2_APP, host_parent
from .proxy import Call
from .test_runtime_v2 import FUNCTIONS, PATHS, children_of, invocation_span

REPO = Path(__file__).resolve().parents[2]
OPENTELEMETRY = {"PYTHON_ENABLE_OPENTELEMETRY": "true", "PYTHON_THREADPOOL_THREAD_COUNT": "1"}


@pytest.mark.parametrize("path", PATHS)
def test_one_span_per_invocation_with_the_runtimes_opentelemetry_on(proxy, spans, caplog, path):
    app = proxy(V2_APP, path=path, env=OPENTELEMETRY)
    assert app.init_response.capabilities["WorkerOpenTelemetryEnabled"] == "true"  # the host is told so
    names = ["hello", "ahello", "early", "blueprint_early"] * 3
    calls = [
        Call(name, url="http://localhost/api/f" + ("?fail=1" if n % 4 == 3 else ""), trace_parent=host_parent(n))
        for n, name in enumerate(names)
    ]
    with caplog.at_level(logging.WARNING):
        results = [app.invoke_many([call])[0] for call in calls[:4]] + app.invoke_many(calls[4:])
    finished = spans.get_finished_spans()
    for n, (call, result) in enumerate(zip(calls, results, strict=True)):
        assert result.ok == (n % 4 != 3), result.error  # only the asked-for failures fail
        span = invocation_span(finished, result.invocation_id)
        assert span.parent.span_id == n + 1 and format(span.context.trace_id, "032x") == HOST_TRACE
        if result.ok:
            assert children_of(finished, span) == sorted(FUNCTIONS[call.function_name])
        else:
            assert span.status.status_code is trace.StatusCode.ERROR
    assert [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")] == []  # no bad detach

    def left_behind():
        return trace.get_current_span().get_span_context().is_valid

    async def in_a_new_task():
        return left_behind()

    assert app.runtime.get_threadpool_executor().submit(left_behind).result() is False  # the one pool thread
    assert app.run(in_a_new_task()).result(timeout=10) is False
    assert get_runner().in_flight() == 0


def test_with_the_runtimes_azure_monitor_setting(tmp_path, app_insights):
    """The runtime configures the Azure Monitor distro itself; funcscope reuses its providers: one telemetry
    item per invocation, in the host's operation, under the host's span."""
    receiver = app_insights
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(
        TMPDIR=str(tmp_path),
        APPLICATIONINSIGHTS_CONNECTION_STRING=receiver.connection_string(),
        APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",
        APPLICATIONINSIGHTS_SDKSTATS_DISABLED="true",
        APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED="true",
        PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY="true",
        PYTHON_ENABLE_OPENTELEMETRY="true",
        OTEL_TRACES_SAMPLER="parentbased_always_on",  # the distro's default samples at a rate, not the host's
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tests.runtime313.azure_monitor_child"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"] == [True, True] and out["funcscope_warnings"] == [], proc.stderr
    invocations = set(out["invocation_ids"])
    assert receiver.wait_for(lambda: len(_invocation_items(receiver, invocations)) >= 2, timeout=60)
    items = _invocation_items(receiver, invocations)
    exported = sorted(i["data"]["baseData"]["properties"]["faas.invocation_id"] for i in items)
    assert exported == sorted(invocations)  # one item each
    for item in items:
        tags = item["tags"]
        assert tags["ai.operation.id"] == HOST_TRACE
        assert tags["ai.operation.parentId"] in (f"{1:016x}", f"{2:016x}")


def _invocation_items(receiver, invocations):
    return [
        e
        for e in receiver.envelopes()
        if e.get("data", {}).get("baseData", {}).get("properties", {}).get("faas.invocation_id") in invocations
    ]
