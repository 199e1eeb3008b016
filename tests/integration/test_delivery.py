"""Delivery: what leaves the process and when, through the real exporters to receivers on 127.0.0.1.

- Stop: worker processes stopped by SIGTERM right after their last response deliver every invocation's telemetry
  and still die by SIGTERM (the real classic worker: tests/realworker/test_sigterm.py).
- Idle flush: an invocation's spans and metrics arrive within about a second, without any exit.
- `flush="invocation"`: each invocation's telemetry has arrived when the invocation returns.

Each test runs funcscope in a fresh child process (see test_export.py); a child that must not flush at exit ends
with `os._exit`, so what the receiver holds is what left while it ran.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import HOST_TRACE
from .receivers import AppInsightsReceiver, OTLPReceiver
from .test_export import EXPORT_ONLY_AT_EXIT, FUNCTIONS_ENV, run_child


def exporter_env(exporter: str, url: str) -> dict[str, str]:
    if exporter == "otlp":
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": url}
    key = "00000000-0000-0000-0000-000000000000"
    return {"APPLICATIONINSIGHTS_CONNECTION_STRING": f"InstrumentationKey={key};IngestionEndpoint={url}/"}


def invocation_spans(otlp: OTLPReceiver) -> dict[str, dict[str, Any]]:
    spans = [s for s in otlp.spans() if s["name"] in ("hello", "ahello")]
    by_id = {s["attributes"]["faas.invocation_id"]: s for s in spans}
    assert len(by_id) == len(spans), "an invocation exported twice"
    return by_id


def invocation_items(app_insights: AppInsightsReceiver) -> dict[str, dict[str, Any]]:
    """The invocation spans that arrived (dependencies, or requests under span_kind="trigger"), by invocation id."""
    items = [
        e
        for kind in ("RemoteDependencyData", "RequestData")
        for e in app_insights.envelopes(kind)
        if "faas.invocation_id" in e["data"]["baseData"]["properties"]
    ]
    by_id = {e["data"]["baseData"]["properties"]["faas.invocation_id"]: e for e in items}
    assert len(by_id) == len(items), "an invocation exported twice"
    return by_id


# -- stop ---------------------------------------------------------------------------------------------------------

STOPPED = """
import signal, time

with Worker(APP, extensions_enabled=True, process_count=2, thread_count=2) as worker:
    calls = [Call(name, http(name), host_parent(n)) for n, name in enumerate(["hello", "ahello"] * 6, 1)]
    results = worker.invoke_many(calls, concurrency=4)
    for pid in worker.pids:  # right after the last response, as the host stops workers on scale-in
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while None in worker.exit_codes and time.monotonic() < deadline:
        time.sleep(0.01)
    exit_codes = worker.exit_codes
report(ids=[r.invocation_id for r in results], pids=[r.pid for r in results], ok=[r.ok for r in results],
       exit_codes=exit_codes)
"""


@pytest.mark.parametrize("exporter", ["otlp", "azure-monitor"])
def test_worker_processes_stopped_by_sigterm_deliver_every_invocation(exporter, otlp, app_insights, tmp_path):
    """Nothing would leave before exit (export delays of ten minutes), and SIGTERM runs no exit handler: only the
    SIGTERM flush can deliver. Each worker process dies by SIGTERM all the same."""
    url = otlp.url if exporter == "otlp" else app_insights.url
    # A budget that holds on a loaded machine, where a process just started may take seconds to export.
    env = {**FUNCTIONS_ENV, **EXPORT_ONLY_AT_EXIT, "FUNCSCOPE_FLUSH_TIMEOUT_MS": "20000", **exporter_env(exporter, url)}
    child = run_child(STOPPED, tmp_path, env)
    assert all(child["ok"]) and len(set(child["pids"])) == 2
    assert child["exit_codes"] == [-15, -15]
    if exporter == "otlp":
        spans = invocation_spans(otlp)
        assert set(spans) == set(child["ids"])
        assert {s["trace_id"] for s in spans.values()} == {HOST_TRACE}
        children = [s for s in otlp.spans() if s["name"] == "hello-child"]
        assert len(children) == 6
        # Cumulative sums: each export at stop (the flush, then the shutdown) carries the process's totals.
        invocations = {
            (p["resource"]["service.instance.id"], p["attributes"]["faas.name"]): p["value"]
            for p in otlp.metrics()
            if p["name"] == "faas.invocations"
        }
        assert sum(invocations.values()) == 12
        assert len({instance for instance, _ in invocations}) == 2  # each process flushed its own metrics
    else:
        assert set(invocation_items(app_insights)) == set(child["ids"])
        children = [
            e for e in app_insights.envelopes("RemoteDependencyData") if e["data"]["baseData"]["name"] == "hello-child"
        ]
        assert len(children) == 6
        counted = [
            e
            for e in app_insights.envelopes("MetricData")
            if e["data"]["baseData"]["metrics"][0]["name"] == "faas.invocations"
        ]
        assert sum(e["data"]["baseData"]["metrics"][0]["value"] for e in counted) == 12


# -- the idle flush -----------------------------------------------------------------------------------------------

IDLE = """
import time, urllib.request
from opentelemetry import trace


def received():
    with urllib.request.urlopen(ARGS["status_url"], timeout=10) as response:
        return json.loads(response.read())["received"]


with Worker(APP, extensions_enabled=True, thread_count=2) as worker:
    names = ["hello", "ahello"]
    results = [worker.invoke(name, http(name), trace_parent=host_parent(n)) for n, name in enumerate(names, 1)]
    ended = time.monotonic()
    # Spans and metrics are separate requests: wait for both, or until nothing can be expected any more.
    while received() < 2 and time.monotonic() - ended < ARGS["wait_s"]:
        time.sleep(0.02)
    arrived_s = time.monotonic() - ended
    processor = trace.get_tracer_provider()._active_span_processor._span_processors[0]
report(ids=[r.invocation_id for r in results], arrived_s=arrived_s, received=received(),
       setting=os.environ.get("OTEL_BSP_SCHEDULE_DELAY"), delay_ms=processor._batch_processor._schedule_delay_millis)
os._exit(0)  # no exit flush: the receiver holds what left while the process ran
"""


def test_an_invocations_telemetry_leaves_within_about_a_second_without_an_exit(otlp, tmp_path):
    """The batch processor exports spans after 1 s instead of the SDK's 5 s, and once the process is idle that
    long every provider is flushed, so the metrics follow although their export interval is ten minutes."""
    env = {**FUNCTIONS_ENV, "OTEL_METRIC_EXPORT_INTERVAL": "600000", **exporter_env("otlp", otlp.url)}
    child = run_child(IDLE, tmp_path, env, status_url=f"{otlp.url}/_status", wait_s=30)
    assert (child["setting"], child["delay_ms"]) == ("1000", 1000)  # set for the providers funcscope set up
    assert set(invocation_spans(otlp)) == set(child["ids"])
    assert {p["name"] for p in otlp.metrics()} >= {"faas.invocations", "faas.invoke_duration"}
    # About a second after the end; generous, for a loaded machine, yet short of the 5 s or 10 minutes without it.
    assert child["arrived_s"] < 4.5


def test_the_apps_own_export_delay_still_wins(otlp, tmp_path):
    env = {**FUNCTIONS_ENV, **EXPORT_ONLY_AT_EXIT, **exporter_env("otlp", otlp.url)}
    child = run_child(IDLE, tmp_path, env, status_url=f"{otlp.url}/_status", wait_s=2.5)
    assert (child["setting"], child["delay_ms"]) == ("600000", 600000)
    assert child["received"] == 0 and otlp.posts == []  # idle for 2.5 s, but the app asked for ten minutes


# -- flush="invocation" -------------------------------------------------------------------------------------------

PER_INVOCATION = """
import urllib.request


def received():
    with urllib.request.urlopen(ARGS["status_url"], timeout=10) as response:
        return json.loads(response.read())["received"]


with Worker(APP, extensions_enabled=True, thread_count=2) as worker:
    seen, ids = [], []
    for n, name in enumerate(["hello", "ahello", "hello", "ahello"], 1):
        ids.append(worker.invoke(name, http(name), trace_parent=host_parent(n)).invocation_id)
        seen.append(received())
report(ids=ids, seen=seen)
os._exit(0)  # no exit flush
"""


@pytest.mark.parametrize("exporter", ["otlp", "azure-monitor"])
def test_flush_invocation_delivers_before_the_invocation_returns(exporter, otlp, app_insights, tmp_path):
    url = otlp.url if exporter == "otlp" else app_insights.url
    receiver = otlp if exporter == "otlp" else app_insights
    env = {**FUNCTIONS_ENV, **EXPORT_ONLY_AT_EXIT, "FUNCSCOPE_FLUSH": "invocation", **exporter_env(exporter, url)}
    child = run_child(PER_INVOCATION, tmp_path, env, status_url=f"{receiver.url}/_status")
    seen = child["seen"]
    assert all(later > earlier for earlier, later in zip([0, *seen], seen, strict=False))  # each sent something
    if exporter == "otlp":
        assert set(invocation_spans(otlp)) == set(child["ids"])
        assert {p["name"] for p in otlp.metrics()} >= {"faas.invocations"}
    else:
        assert set(invocation_items(app_insights)) == set(child["ids"])


SLOW_PER_INVOCATION = """
with Worker(APP, extensions_enabled=True, thread_count=1) as worker:
    results = [worker.invoke("hello", http("hello"), trace_parent=host_parent(n)) for n in range(1, 21)]
report(ok=[r.ok for r in results], total_s=[r.timings.total_s for r in results])
os._exit(0)
"""


def test_flush_invocation_lets_one_invocation_wait_for_a_backend_that_does_not_answer(otlp, tmp_path):
    otlp.hold()  # answers nothing while the test runs
    env = {
        **FUNCTIONS_ENV,
        **EXPORT_ONLY_AT_EXIT,
        "FUNCSCOPE_FLUSH": "invocation",
        "FUNCSCOPE_FLUSH_TIMEOUT_MS": "1000",
        **exporter_env("otlp", otlp.url),
    }
    child = run_child(SLOW_PER_INVOCATION, tmp_path, env)
    assert all(child["ok"])
    waited = [s for s in child["total_s"] if s >= 0.9]
    assert len(waited) == 1 and child["total_s"][0] >= 0.9  # the first found it stuck; no other waited for it
