"""What one invocation becomes in Application Insights and in an OTLP backend: the real exporters (Azure Monitor
through the distro, OTLP over HTTP and gRPC) posting to receivers on 127.0.0.1, from funcscope's own providers,
through the worker emulator with v1 and v2 apps, sync and async functions.

Per invocation: its item (a dependency under the host's request with span_kind="internal", a request with
"trigger" for HTTP and message triggers), the dependency items of its outgoing calls under it, its log items
under each `logs` setting, success flags, and the traceparent each call sent. Each test runs the app in a fresh
child process (see test_export.py) whose exit handler flushes.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from .conftest import APPS, HOST_TRACE
from .receivers import AppInsightsReceiver, Downstream, OTLPGrpcReceiver
from .test_export import FUNCTIONS_ENV, run_child

V1 = APPS / "delivered_v1"
V2 = APPS / "delivered_v2"
AT_EXIT = {
    "OTEL_BSP_SCHEDULE_DELAY": "600000",
    "OTEL_BLRP_SCHEDULE_DELAY": "600000",
    "OTEL_METRIC_EXPORT_INTERVAL": "600000",
    "FUNCSCOPE_FLUSH_TIMEOUT_MS": "30000",
}

# function (v2 name, v1 name) -> (payload, trigger kind, outgoing calls it makes, log records it writes, fails)
FUNCTIONS: dict[tuple[str, str], tuple[str, str, int, int, bool]] = {
    ("hello", "Hello"): ("http", "http", 3, 2, False),  # requests, httpx in a thread, an Azure SDK call
    ("ahello", "AsyncHello"): ("http", "http", 2, 2, False),  # httpx, aiohttp in a task
    ("on_order", "Order"): ("queue", "queue", 0, 1, False),
    ("tick", "Tick"): ("timer", "timer", 0, 1, False),
    ("boom", "Boom"): ("http", "http", 0, 1, True),
}
REQUEST_UNDER_TRIGGER = {"http", "queue"}  # SERVER and CONSUMER spans are requests; a timer's is INTERNAL

INVOKE = """
with Worker(APP, extensions_enabled=True, thread_count=2) as worker:
    payloads = {"http": None, "queue": {"body": "one", "id": "order-1"}, "timer": {}}
    results = {}
    for n, (name, kind) in enumerate(ARGS["calls"], 1):
        sampled = ARGS.get("sampled", True)
        parent = f"00-{ARGS['host_trace']}-{n:016x}-{'01' if sampled else '00'}"
        payload = http(name) if kind == "http" else payloads[kind]
        results[f"{name}#{n}"] = worker.invoke(name, payload, trace_parent=parent)
telemetry = get_runner().telemetry
from opentelemetry import trace
report(
    ids={name: r.invocation_id for name, r in results.items()},
    ok={name: r.ok for name, r in results.items()},
    exporters=list(telemetry.exporters),
    sampler=type(getattr(trace.get_tracer_provider(), "sampler", None)).__name__,
)
"""


def invoke(tmp_path, app, calls, env, **args):
    child = run_child(INVOKE, tmp_path, env, app=str(app), calls=calls, **args)
    assert [w for w in child["warnings"] if w.startswith("funcscope")] == []
    return child


def function_calls(version: str) -> list[tuple[str, str]]:
    return [(names[version == "v1"], spec[0]) for names, spec in FUNCTIONS.items()]


def span_tree(items: list[dict[str, Any]], id_of, parent_of, root_id: str) -> list[dict[str, Any]]:
    """The items under `root_id` (children, their children, ...)."""
    children: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        children.setdefault(parent_of(item), []).append(item)
    out, todo = [], [root_id]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(id_of(child))
    return out


def check_downstream(downstream: Downstream, client_span_ids: set[str], expected: int) -> None:
    """Every outgoing call sent a traceparent in the host's trace naming the CLIENT span of that call."""
    assert len(downstream.calls) == expected
    for _, _, traceparent in downstream.calls:
        assert traceparent is not None
        _, trace_id, span_id, flags = traceparent.split("-")
        assert (trace_id, flags) == (HOST_TRACE, "01") and span_id in client_span_ids


def check_app_insights(receiver: AppInsightsReceiver, version: str, span_kind: str, logs_exported: bool) -> set[str]:
    """Item types and counts per invocation; returns the ids of the HTTP dependency items (the CLIENT spans)."""
    envelopes = [e for e in receiver.envelopes() if e["data"]["baseType"] != "MetricData"]
    strays = [e for e in envelopes if e["tags"].get("ai.operation.id") != HOST_TRACE]
    assert strays == [], json.dumps(strays, indent=1)[:3000]

    def id_of(e):
        return e["data"]["baseData"].get("id", "")

    def parent_of(e):
        return e["tags"].get("ai.operation.parentId", "")

    http_ids: set[str] = set()
    for n, (names, (_, trigger, calls, records, fails)) in enumerate(FUNCTIONS.items(), 1):
        name = names[version == "v1"]
        (item,) = [e for e in envelopes if parent_of(e) == f"{n:016x}" and e["data"]["baseType"] != "MessageData"]
        data = item["data"]["baseData"]
        assert data["name"].endswith(name) and data["properties"]["faas.name"] == name
        expected_type = "RequestData" if span_kind == "trigger" and trigger in REQUEST_UNDER_TRIGGER else None
        assert item["data"]["baseType"] == (expected_type or "RemoteDependencyData"), name
        if expected_type is None:
            assert data["type"] == "InProc", name  # an in-process dependency under the host's request
        assert data["success"] is (not fails), name
        under = span_tree(envelopes, id_of, parent_of, data["id"])
        # the app's own records; the HTTP clients' and the Azure SDK's INFO records are exported too
        mine = [e for e in under if e["data"]["baseData"].get("message", "").startswith(f"{name}: ")]
        types = Counter(e["data"]["baseType"] for e in under if e["data"]["baseType"] != "MessageData")
        http = [
            e
            for e in under
            if e["data"]["baseType"] == "RemoteDependencyData" and e["data"]["baseData"]["type"] == "HTTP"
        ]
        assert len(http) == calls, (name, [e["data"]["baseData"]["name"] for e in under])
        http_ids.update(e["data"]["baseData"]["id"] for e in http)
        # the Azure SDK call is its own dependency, with the HTTP call under it
        sdk = [e for e in under if e["data"]["baseData"].get("name") == "ContainerClient.exists"]
        assert len(sdk) == (name in ("hello", "Hello")), name
        expected = Counter(RemoteDependencyData=calls + len(sdk))
        if fails:
            expected["ExceptionData"] = 1
        assert types == expected, (name, types)
        assert len(mine) == (records if logs_exported else 0), name
        for message in mine:
            assert message["data"]["baseType"] == "MessageData"
            assert parent_of(message) == data["id"]  # from the body, a thread or a task alike
            assert message["data"]["baseData"]["properties"]["invocation_id"]
    return http_ids


def check_otlp(receiver: Any, version: str, span_kind: str, logs_exported: bool) -> set[str]:
    """The same per invocation in the OTLP backend; returns the CLIENT span ids."""
    spans = receiver.spans()
    assert all(s["trace_id"] == HOST_TRACE for s in spans)
    kinds = {"http": "SERVER", "queue": "CONSUMER", "timer": "INTERNAL"}
    clients: set[str] = set()
    records = [r for r in receiver.log_records() if r["scope"] == "app"]
    for n, (names, (_, trigger, calls, count, fails)) in enumerate(FUNCTIONS.items(), 1):
        name = names[version == "v1"]
        (span,) = [s for s in spans if s["parent_span_id"] == f"{n:016x}"]
        assert span["name"] == name and span["kind"] == (kinds[trigger] if span_kind == "trigger" else "INTERNAL")
        assert span["status"] == ("ERROR" if fails else "UNSET")
        under = span_tree(spans, lambda s: s["span_id"], lambda s: s["parent_span_id"], span["span_id"])
        client_spans = [s for s in under if s["kind"] == "CLIENT"]
        assert len(client_spans) == calls, (name, [s["name"] for s in under])
        clients.update(s["span_id"] for s in client_spans)
        mine = [r for r in records if r["body"].startswith(f"{name}: ")]
        assert len(mine) == (count if logs_exported else 0), name
        for record in mine:
            assert (record["trace_id"], record["span_id"]) == (HOST_TRACE, span["span_id"])
            assert record["attributes"]["function_name"] == name
    if not logs_exported:
        assert receiver.log_records() == []
    return clients


@pytest.mark.parametrize("span_kind", ["internal", "trigger"])
@pytest.mark.parametrize("version", ["v2", "v1"])
def test_one_invocation_in_application_insights_and_otlp(version, span_kind, app_insights, otlp, downstream, tmp_path):
    env = {
        **FUNCTIONS_ENV,
        **AT_EXIT,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": app_insights.connection_string(),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
        "DOWNSTREAM_URL": downstream.url,
        "FUNCSCOPE_SPAN_KIND": span_kind,
        "FUNCSCOPE_LOGS": "export",
    }
    child = invoke(tmp_path, V1 if version == "v1" else V2, function_calls(version), env)
    assert child["exporters"] == ["azure-monitor", "otlp"] and child["sampler"] == "ParentBased"
    assert list(child["ok"].values()) == [not spec[4] for spec in FUNCTIONS.values()]
    http_items = check_app_insights(app_insights, version, span_kind, logs_exported=True)
    client_spans = check_otlp(otlp, version, span_kind, logs_exported=True)
    assert http_items == client_spans  # the same calls, the same ids, in both backends
    check_downstream(downstream, client_spans, expected=5)


@pytest.mark.parametrize(
    "logs, worker_mode, exported",
    [("host", "true", False), ("export", None, True), ("auto", "true", True), ("auto", None, False)],
    ids=["host", "export", "auto-worker-otel-on", "auto-worker-otel-off"],
)
def test_log_items_under_each_logs_setting(logs, worker_mode, exported, app_insights, otlp, downstream, tmp_path):
    env = {
        **FUNCTIONS_ENV,
        **AT_EXIT,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": app_insights.connection_string(),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
        "DOWNSTREAM_URL": downstream.url,
        "FUNCSCOPE_LOGS": logs,
    }
    if worker_mode is not None:
        env["PYTHON_ENABLE_OPENTELEMETRY"] = worker_mode
    invoke(tmp_path, V2, function_calls("v2"), env)
    check_app_insights(app_insights, "v2", "internal", logs_exported=exported)
    check_otlp(otlp, "v2", "internal", logs_exported=exported)
    messages = [e["data"]["baseData"]["message"] for e in app_insights.envelopes("MessageData")]
    ours = [m for m in messages if m.split(":", 1)[0] in {names[0] for names in FUNCTIONS}]
    assert len(ours) == len(set(ours)) == (7 if exported else 0)  # none twice, though the distro has a handler too


def test_otlp_over_grpc_with_a_per_signal_endpoint_and_protocol(otlp, downstream, tmp_path):
    """Traces and logs over gRPC to one receiver; metrics over HTTP to another, by their own settings."""
    with OTLPGrpcReceiver() as grpc_receiver:
        env = {
            **FUNCTIONS_ENV,
            **AT_EXIT,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": grpc_receiver.url,
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{otlp.url}/v1/metrics",
            "DOWNSTREAM_URL": downstream.url,
            "FUNCSCOPE_LOGS": "export",
        }
        child = invoke(tmp_path, V2, function_calls("v2"), env)
        assert child["exporters"] == ["otlp"]
        client_spans = check_otlp(grpc_receiver, "v2", "internal", logs_exported=True)
        check_downstream(downstream, client_spans, expected=5)
        assert grpc_receiver.metrics() == [] and "metrics" not in grpc_receiver.calls
    durations = {p["attributes"]["faas.name"] for p in otlp.metrics() if p["name"] == "faas.invoke_duration"}
    assert durations == {names[0] for names in FUNCTIONS}
    assert otlp.spans() == [] and otlp.log_records() == []


BURST = 31


@pytest.mark.parametrize("sampled", [True, False])
def test_sampling_follows_the_host_through_the_distro(sampled, app_insights, downstream, tmp_path):
    """A burst the distro's default (rate-limited) sampler would thin out: every sampled invocation arrives, with
    its outgoing calls; an unsampled one sends nothing, and its calls still carry the host's decision on."""
    env = {
        **FUNCTIONS_ENV,
        **AT_EXIT,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": app_insights.connection_string(),
        "DOWNSTREAM_URL": downstream.url,
        "FUNCSCOPE_LOGS": "host",
    }
    child = invoke(tmp_path, V2, [("ahello", "http")] * BURST, env, sampled=sampled)
    assert all(child["ok"].values()) and child["sampler"] == "ParentBased"
    invocations = [
        e
        for e in app_insights.envelopes("RemoteDependencyData")
        if e["data"]["baseData"]["properties"].get("faas.name") == "ahello"
    ]
    http = [e for e in app_insights.envelopes("RemoteDependencyData") if e["data"]["baseData"]["type"] == "HTTP"]
    assert len(invocations) == (BURST if sampled else 0) and len(http) == (2 * BURST if sampled else 0)
    assert len(downstream.calls) == 2 * BURST
    assert {c[2].rsplit("-", 1)[1] for c in downstream.calls} == {"01" if sampled else "00"}


def test_a_sampler_that_ignores_the_host_is_named_once(app_insights, tmp_path):
    env = {
        **FUNCTIONS_ENV,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": app_insights.connection_string(),
        "OTEL_TRACES_SAMPLER": "microsoft.rate_limited",
        "DOWNSTREAM_URL": "http://127.0.0.1:9",
    }
    child = run_child(INVOKE, tmp_path, env, app=str(V2), calls=[("tick", "timer")] * 3)
    (warning,) = [w for w in child["warnings"] if "sampler" in w]
    assert "RateLimitedSampler" in warning and "OTEL_TRACES_SAMPLER=parentbased_always_on" in warning


UNUSED_LIBRARIES = """
import sys
import funcscope
from funcscope.instrumentation import outgoing

if ARGS["how"] == "funcscope":
    funcscope.configure()
else:
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(enable_live_metrics=False)
imported_at_start = sorted(name for name in ("httpx", "aiohttp", "psycopg2") if name in sys.modules)
import httpx

report(imported_at_start=imported_at_start, instrumented=sorted(outgoing.instrumented()))
"""


@pytest.mark.parametrize("how", ["funcscope", "distro-alone"])
def test_libraries_the_app_does_not_import_are_not_imported(how, app_insights, tmp_path):
    """funcscope instruments httpx when the app imports it; the distro alone imports it at set-up."""
    env = {**FUNCTIONS_ENV, "APPLICATIONINSIGHTS_CONNECTION_STRING": app_insights.connection_string()}
    child = run_child(UNUSED_LIBRARIES, tmp_path, env, how=how)
    if how == "funcscope":
        assert child["imported_at_start"] == [] and "httpx" in child["instrumented"]
    else:
        assert "httpx" in child["imported_at_start"]
