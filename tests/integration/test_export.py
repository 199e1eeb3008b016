"""Export: the providers funcscope sets up from the app settings, exporting through the real OTLP and Azure Monitor
exporters to receivers on 127.0.0.1, and the providers it reuses instead.

OpenTelemetry lets a process set its global providers once, and tests/conftest.py has set them in this process, so
each test runs funcscope in a fresh child process: a short script that drives the worker emulator and exits normally,
so funcscope's exit handler is what flushes. The child's environment is built from nothing (only what Python needs
to start), so no setting of the machine running the tests leaks into it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from funcscope.shared.attributes import ABANDONED

from .conftest import APPS, HOST_TRACE
from .receivers import AppInsightsReceiver, OTLPReceiver

APP = APPS / "exported_v2"
REPO = Path(__file__).resolve().parents[2]
SAFETY_NET_S = 90  # only for a child that hangs; no test here asserts how long anything takes

SERVICE = "orders-svc"
SITE = "orders-site"
REGION = "westeurope"
INSTANCE = "instance-0"
FUNCTIONS_ENV = {
    "OTEL_SERVICE_NAME": SERVICE,
    "WEBSITE_SITE_NAME": SITE,
    "REGION_NAME": REGION,
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "WEBSITE_INSTANCE_ID": INSTANCE,
}
QUIET_AZURE = {
    # Statsbeat, SDK stats and the OneSettings control plane would call public endpoints.
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
}
# Nothing leaves before exit unless the exit handler sends it: no periodic span or metric export during a test.
EXPORT_ONLY_AT_EXIT = {"OTEL_BSP_SCHEDULE_DELAY": "600000", "OTEL_METRIC_EXPORT_INTERVAL": "600000"}

# Shared by every child script: the emulator, the host's traceparents, a record of funcscope's warnings (also
# written to stderr, where the ones logged at exit are read), and one JSON line of results on stdout.
PRELUDE = """
import json, logging, os, sys

from funcscope.emulator import Call, Worker
from funcscope.emulator.extension_manager import ExtensionManager
from funcscope.instrumentation import classic_worker
from funcscope.runtime import get_runner

ARGS = json.loads(sys.argv[1])
APP = ARGS["app"]


def host_parent(n):
    return f"00-{ARGS['host_trace']}-{n:016x}-01"


def http(name):
    return {"method": "GET", "url": f"http://localhost/api/{name}?code=KEY"}


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())
        print(f"{record.name}: {record.getMessage()}", file=sys.stderr, flush=True)


WARNINGS = Warnings()
for name in ("funcscope", "opentelemetry"):
    logging.getLogger(name).addHandler(WARNINGS)


def report(**values):
    print(json.dumps(dict(values, warnings=WARNINGS.messages)), flush=True)
"""


def run_child(script: str, tmp_path: Path, env: dict[str, str], **args: Any) -> dict[str, Any]:
    """Run `script` (after PRELUDE) in a fresh Python process; its last stdout line is JSON, returned with stderr."""
    child_env = {k: os.environ[k] for k in ("PATH", "SYSTEMROOT", "HOME", "LANG") if k in os.environ}
    # The Azure Monitor exporter keeps failed telemetry under the temp dir: give it the test's own.
    child_env.update(TMPDIR=str(tmp_path), TEMP=str(tmp_path), TMP=str(tmp_path), **QUIET_AZURE, **env)
    args = {"app": str(APP), "host_trace": HOST_TRACE, **args}
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + script, json.dumps(args)],
        cwd=REPO,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=SAFETY_NET_S,
    )
    assert proc.returncode == 0, f"child exited with {proc.returncode}:\n{proc.stderr}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["stderr"] = proc.stderr
    return out


def by_function(items: list[dict[str, Any]], key) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name = key(item)
        assert name not in out, f"{name} exported twice"
        out[name] = item
    return out


# -- end to end: funcscope's own providers, flushed by the exit handler ------------------------------------------

E2E = """
from opentelemetry import trace
import funcscope
from funcscope.telemetry.resource import PROCESS_INSTANCE_ID

with Worker(APP, extensions_enabled=True, thread_count=1) as worker:
    provider = trace.get_tracer_provider()
    funcscope.configure()  # a second configure(): the providers funcscope set up are kept, not set up again
    same_provider = trace.get_tracer_provider() is provider
    results = {
        "hello": worker.invoke("hello", http("hello"), trace_parent=host_parent(1)),
        "ahello": worker.invoke("ahello", http("ahello"), trace_parent=host_parent(2)),
        "on_order": worker.invoke("on_order", {"body": "one", "id": "order-1"}, trace_parent=host_parent(3)),
        "tick": worker.invoke("tick", {}, trace_parent=host_parent(4)),
    }
    # Without the classic worker's on-error patch nothing reports that boom raised, and no later invocation
    # runs on its pool thread: it is still in flight when the process exits.
    classic_worker.uninstrument(ExtensionManager)
    results["boom"] = worker.invoke("boom", http("boom"), trace_parent=host_parent(5))
    in_flight = get_runner().in_flight()
telemetry = get_runner().telemetry
report(
    ids={name: r.invocation_id for name, r in results.items()},
    ok={name: r.ok for name, r in results.items()},
    in_flight=in_flight,
    source=telemetry.source,
    exporters=sorted(telemetry.exporters),
    same_provider=same_provider,
    instance=PROCESS_INSTANCE_ID,
    pid=os.getpid(),
)
"""
# function -> (host span n, span kind, faas.trigger)
INVOKED = {
    "hello": (1, "INTERNAL", "http"),
    "ahello": (2, "INTERNAL", "http"),
    "on_order": (3, "INTERNAL", "pubsub"),
    "tick": (4, "INTERNAL", "timer"),
    "boom": (5, "INTERNAL", "http"),
}


def check_otlp(otlp: OTLPReceiver, child: dict[str, Any]) -> None:
    spans = by_function(otlp.spans(), lambda s: s["name"])
    assert set(spans) == {*INVOKED, "hello-child"}
    for name, (n, kind, trigger) in INVOKED.items():
        span = spans[name]
        assert (span["trace_id"], span["parent_span_id"]) == (HOST_TRACE, f"{n:016x}"), name
        assert span["kind"] == kind and span["scope"] == "funcscope", name
        a = span["attributes"]
        assert a["faas.invocation_id"] == child["ids"][name] and a["faas.name"] == name
        assert a["faas.trigger"] == trigger and a["faas.coldstart"] is (name == "hello")
        assert not [k for k in a if k.startswith(("cloud.", "azure.functions.retry."))]  # resource; no retries
    hello = spans["hello"]
    assert hello["status"] == "UNSET" and hello["attributes"]["faas.coldstart"] is True
    assert hello["attributes"]["http.request.method"] == "GET"
    assert hello["attributes"]["http.response.status_code"] == 200
    assert "KEY" not in hello["attributes"]["url.full"]  # the function key stays out of the export too
    assert spans["on_order"]["attributes"]["messaging.message.id"] == "order-1"
    assert spans["on_order"]["attributes"]["messaging.system"] == "azure.storage.queue"
    child_span = spans["hello-child"]
    assert child_span["trace_id"] == HOST_TRACE and child_span["parent_span_id"] == hello["span_id"]
    # boom was still in flight at exit: the exit handler ended it, then flushed, so it was exported
    boom = spans["boom"]
    assert boom["status"] == "ERROR" and ABANDONED in boom["attributes"]

    for span in spans.values():
        resource = span["resource"]
        assert resource["service.name"] == SERVICE  # OTEL_SERVICE_NAME wins over the site name
        assert resource["cloud.region"] == REGION and resource["faas.instance"] == INSTANCE
        assert resource["service.instance.id"] == child["instance"] and resource["process.pid"] == child["pid"]
        assert (resource["cloud.provider"], resource["cloud.platform"]) == ("azure", "azure.functions")

    points = otlp.metrics()
    assert {p["resource"]["service.instance.id"] for p in points} == {child["instance"]}
    # cumulative sums, exported by each flush at exit: every export of a point carries the same value
    invocations = {p["attributes"]["faas.name"]: p["value"] for p in points if p["name"] == "faas.invocations"}
    assert invocations == dict.fromkeys(set(INVOKED) - {"boom"}, 1)  # successful invocations; boom is an error
    errors = {
        (p["attributes"]["faas.name"], p["attributes"]["error.type"]): p["value"]
        for p in points
        if p["name"] == "faas.errors"
    }
    assert errors == {("boom", "abandoned"): 1}
    durations = {p["attributes"]["faas.name"]: p["count"] for p in points if p["name"] == "faas.invoke_duration"}
    assert durations == dict.fromkeys(INVOKED, 1)
    coldstarts = {p["attributes"]["faas.name"]: p["value"] for p in points if p["name"] == "faas.coldstarts"}
    assert coldstarts == {"hello": 1}
    active = {p["attributes"]["faas.name"]: p["value"] for p in points if p["name"] == "faas.active_invocations"}
    assert set(active) == set(INVOKED)


def check_app_insights(app_insights: AppInsightsReceiver, child: dict[str, Any]) -> None:
    def function_of(envelope):
        data = envelope["data"]["baseData"]
        return data["properties"].get("faas.name", data["name"])

    # INTERNAL spans are dependencies: the host's request is the invocation's only request
    assert app_insights.envelopes("RequestData") == []
    requests = dependencies = by_function(app_insights.envelopes("RemoteDependencyData"), function_of)
    assert set(dependencies) == {*INVOKED, "hello-child"}
    for name, (n, _, _) in INVOKED.items():
        envelope = dependencies[name]
        tags = envelope["tags"]
        assert tags["ai.operation.id"] == HOST_TRACE and tags["ai.operation.parentId"] == f"{n:016x}", name
        assert envelope["data"]["baseData"]["properties"]["faas.invocation_id"] == child["ids"][name]
    hello = requests["hello"]["data"]["baseData"]
    assert hello["success"] is True and hello["type"] == "InProc"
    user_span = dependencies["hello-child"]
    assert user_span["tags"]["ai.operation.id"] == HOST_TRACE
    assert user_span["tags"]["ai.operation.parentId"] == hello["id"]
    boom = requests["boom"]["data"]["baseData"]
    assert boom["success"] is False and ABANDONED in boom["properties"]
    for envelope in app_insights.envelopes():
        assert envelope["tags"]["ai.cloud.role"] == SERVICE
        assert envelope["tags"]["ai.cloud.roleInstance"] == child["instance"]

    # Azure Monitor takes deltas: each export (a flush, then the shutdown's) sends what happened since the last.
    invocation_counts: dict[str, list[float]] = {}
    for envelope in app_insights.envelopes("MetricData"):
        data = envelope["data"]["baseData"]
        if data["metrics"][0]["name"] == "faas.invocations":
            invocation_counts.setdefault(data["properties"]["faas.name"], []).append(data["metrics"][0]["value"])
    totals = {name: sum(values) for name, values in invocation_counts.items()}
    assert totals == dict.fromkeys(set(INVOKED) - {"boom"}, 1)
    assert all(values[0] == 1 and not any(values[1:]) for values in invocation_counts.values())


@pytest.mark.parametrize("exporters", [["otlp"], ["azure-monitor"], ["azure-monitor", "otlp"]], ids="+".join)
def test_exported_end_to_end(exporters, otlp, app_insights, tmp_path):
    env = {**FUNCTIONS_ENV, **EXPORT_ONLY_AT_EXIT, "FUNCSCOPE_FLUSH_TIMEOUT_MS": "30000"}
    if "otlp" in exporters:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
    if "azure-monitor" in exporters:
        env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = app_insights.connection_string()
    child = run_child(E2E, tmp_path, env)
    assert child["ok"] == {"hello": True, "ahello": True, "on_order": True, "tick": True, "boom": False}
    assert child["in_flight"] == 1 and child["source"] == "funcscope" and child["exporters"] == exporters
    assert child["same_provider"] and child["warnings"] == []  # no second provider, no override warning
    if "otlp" in exporters:
        check_otlp(otlp, child)
    else:
        assert otlp.posts == []
    if "azure-monitor" in exporters:
        check_app_insights(app_insights, child)
    else:
        assert app_insights.envelopes() == []


# -- providers funcscope reuses, or is given --------------------------------------------------------------------

GLOBAL_PROVIDERS = """
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import funcscope

exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
meter_provider = MeterProvider(metric_readers=[reader])
if ARGS["how"] == "global":  # the user set global providers before funcscope.configure() (the app's import)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
else:  # the user hands funcscope its providers
    funcscope.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)

with Worker(APP, extensions_enabled=True) as worker:
    funcscope.configure()  # once more: still the same providers
    result = worker.invoke("hello", http("hello"), trace_parent=host_parent(1))

invocations = [
    point.value
    for rm in reader.get_metrics_data().resource_metrics
    for sm in rm.scope_metrics
    for metric in sm.metrics
    if metric.name == "faas.invocations"
    for point in metric.data.data_points
]
report(
    ok=result.ok,
    source=get_runner().telemetry.source,
    spans=[(s.name, format(s.context.trace_id, "032x"), format(s.parent.span_id, "016x")) for s in
           exporter.get_finished_spans() if s.name == "hello"],
    invocations=invocations,
    global_is_users=trace.get_tracer_provider() is tracer_provider,
    global_tracer_provider=type(trace.get_tracer_provider()).__name__,
)
"""


@pytest.mark.parametrize("how", ["global", "given"])
def test_user_providers_are_used_and_nothing_else_is_set_up(how, otlp, tmp_path):
    """funcscope emits into the user's providers, sets none of its own (though an OTLP endpoint is set: it
    must not export there) and installs nothing globally; configure() twice changes nothing."""
    child = run_child(GLOBAL_PROVIDERS, tmp_path, {**FUNCTIONS_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url}, how=how)
    assert child["ok"] and child["source"] == how
    assert child["spans"] == [["hello", HOST_TRACE, f"{1:016x}"]] and child["invocations"] == [1]
    if how == "global":
        assert child["global_is_users"]
    else:
        assert child["global_tracer_provider"] == "ProxyTracerProvider"  # funcscope set no global provider
    assert child["warnings"] == []  # in particular no "Overriding of current TracerProvider is not allowed"
    assert otlp.posts == []


NO_EXPORTER = """
import funcscope

with Worker(APP, extensions_enabled=True, thread_count=2) as worker:
    funcscope.configure()
    calls = [Call(name, http(name), host_parent(n)) for n, name in enumerate(["hello", "ahello", "boom"] * 3, 1)]
    results = worker.invoke_many(calls)
report(ok=[r.ok for r in results], source=get_runner().telemetry.source, exporters=get_runner().telemetry.exporters)
"""


@pytest.mark.parametrize(
    "connection_string, warning",
    [
        (None, "no exporter is configured"),
        ("InstrumentationKey=not-a-uuid;IngestionEndpoint=http://127.0.0.1:9/", "Azure Monitor exporter could not be"),
        ("not a connection string", "the Azure Monitor exporter could not be set up"),
    ],
    ids=["nothing-set", "bad-instrumentation-key", "malformed-connection-string"],
)
def test_nothing_to_export_to_warns_once(connection_string, warning, tmp_path):
    """One warning, however many times configure() runs; invocations go on as if nothing were wrong."""
    env = dict(FUNCTIONS_ENV)
    if connection_string is not None:
        env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = connection_string
    child = run_child(NO_EXPORTER, tmp_path, env)
    assert child["ok"] == [True, True, False] * 3  # only boom fails, as it always does
    assert child["source"] == "funcscope" and child["exporters"] == []
    (message,) = child["warnings"]
    assert warning in message and "not-a-uuid" not in message


# -- an exporter that is down or slow ------------------------------------------------------------------------------

SLOW_OR_DOWN = """
import time
import urllib.request


def held():
    if not ARGS["status_url"]:
        return None
    with urllib.request.urlopen(ARGS["status_url"], timeout=10) as response:
        return json.loads(response.read())["held"]


with Worker(APP, extensions_enabled=True, thread_count=2) as worker:
    first = [worker.invoke("hello", http("hello"), trace_parent=host_parent(n)) for n in range(1, 6)]
    held_before = held()
    if held_before is not None:
        # The batch processor exports every 50 ms here: wait until the receiver is holding its export.
        deadline = time.monotonic() + 30
        while held_before < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
            held_before = held()
    calls = [Call(name, http(name), host_parent(n)) for n, name in enumerate(["hello", "ahello"] * 20, 6)]
    more = worker.invoke_many(calls, concurrency=4)
    held_after = held()
report(
    ok=[r.ok for r in first + more],
    ids=[r.invocation_id for r in first + more],
    held_before=held_before,
    held_after=held_after,
)
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("backend", ["down", "slow"])
def test_exporter_down_or_slow_never_holds_up_invocations_or_exit(backend, otlp, tmp_path):
    """Invocations all succeed while the exporter cannot deliver, and the exit flush gives up after
    flush_timeout_ms: the child exits although its exporter would wait (or retry) for ten minutes."""
    env = {
        **FUNCTIONS_ENV,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "600",
        "FUNCSCOPE_FLUSH_TIMEOUT_MS": "200",
    }
    if backend == "down":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{closed_port()}"
        status_url = None
    else:
        otlp.hold()  # answers nothing until the test ends
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
        status_url = f"{otlp.url}/_status"
    child = run_child(SLOW_OR_DOWN, tmp_path, env, status_url=status_url)
    assert child["ok"] == [True] * 45 and len(set(child["ids"])) == 45
    if backend == "slow":
        # every later invocation completed while the exporter's first request was still unanswered
        assert child["held_before"] >= 1 and child["held_after"] >= 1
        assert otlp.held >= 1 and otlp.posts == []  # and it still is: nothing was delivered
    # the process exited (returncode 0, checked by run_child) with one clear warning about the flush
    assert child["stderr"].count("took longer than flush_timeout_ms=200") == 1


# -- several worker processes ------------------------------------------------------------------------------------

PROCESSES = """
with Worker(APP, extensions_enabled=True, process_count=2, thread_count=2) as worker:
    pids = worker.pids
    calls = [Call(name, http(name), host_parent(n)) for n, name in enumerate(["hello", "ahello"] * 6, 1)]
    results = worker.invoke_many(calls, concurrency=4)
report(
    pids=pids,
    results=[
        {"id": r.invocation_id, "pid": r.pid, "ok": r.ok, "body": json.loads(r.value.get_body())} for r in results
    ],
)
"""


def test_each_worker_process_exports_with_its_own_instance_id(otlp, tmp_path):
    env = {**FUNCTIONS_ENV, **EXPORT_ONLY_AT_EXIT, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url}
    child = run_child(PROCESSES, tmp_path, env)
    results = child["results"]
    assert all(r["ok"] for r in results) and {r["pid"] for r in results} == set(child["pids"])
    instance_of = {r["pid"]: r["body"]["instance"] for r in results}  # as each process reports it
    assert len(set(instance_of.values())) == 2

    spans = {s["attributes"]["faas.invocation_id"]: s for s in otlp.spans() if s["name"] in ("hello", "ahello")}
    assert len(spans) == len(results) == 12
    for n, result in enumerate(results, 1):
        span = spans[result["id"]]
        assert span["trace_id"] == HOST_TRACE and span["parent_span_id"] == f"{n:016x}"
        pid = span["attributes"]["test.pid"]
        assert pid == result["pid"] and span["resource"]["process.pid"] == pid
        assert span["resource"]["service.instance.id"] == instance_of[pid]
    # each process also flushed its own metrics at exit, under its own instance id
    counted = {}
    for point in otlp.metrics():
        if point["name"] == "faas.invocations":
            key = (point["resource"]["service.instance.id"], point["attributes"]["faas.name"])
            counted[key] = point["value"]
    per_instance = {instance: 0 for instance in instance_of.values()}
    for (instance, _), value in counted.items():
        per_instance[instance] += value
    expected = {instance_of[pid]: sum(r["pid"] == pid for r in results) for pid in instance_of}
    assert per_instance == expected
