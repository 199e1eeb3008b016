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

import pytest

from .arrivals import FUNCTIONS, check_app_insights, check_downstream, check_otlp, function_calls
from .conftest import APPS
from .receivers import OTLPGrpcReceiver
from .test_export import FUNCTIONS_ENV, run_child

V1 = APPS / "delivered_v1"
V2 = APPS / "delivered_v2"
AT_EXIT = {
    "OTEL_BSP_SCHEDULE_DELAY": "600000",
    "OTEL_BLRP_SCHEDULE_DELAY": "600000",
    "OTEL_METRIC_EXPORT_INTERVAL": "600000",
    "FUNCSCOPE_FLUSH_TIMEOUT_MS": "30000",
}

INVOKE = """
from tests.integration.arrivals import host_parent, payload

with Worker(APP, extensions_enabled=True, thread_count=2) as worker:
    results = {}
    for n, (name, kind) in enumerate(ARGS["calls"], 1):
        parent = host_parent(n, ARGS.get("sampled", True))
        results[f"{name}#{n}"] = worker.invoke(name, payload(name, kind), trace_parent=parent)
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
    assert list(child["ok"].values()) == [not f.raises for f in FUNCTIONS]  # a 503 is a response
    http_items = check_app_insights(app_insights, version, span_kind, logs_exported=True)
    client_spans = check_otlp(otlp, version, span_kind, logs_exported=True)
    assert http_items == client_spans  # the same calls, the same ids, in both backends
    check_downstream(downstream, client_spans)


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
        check_downstream(downstream, client_spans)
        assert grpc_receiver.metrics() == [] and "metrics" not in grpc_receiver.calls
    durations = {p["attributes"]["faas.name"] for p in otlp.metrics() if p["name"] == "faas.invoke_duration"}
    assert durations == {f.v2 for f in FUNCTIONS}
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


SECRET_RECORDS = """
import io
import logging

from tests.integration.arrivals import PLANTED_KEY

own = io.StringIO()
app_handler = logging.StreamHandler(own)  # a handler of the app's own: it gets the records as logged
app_handler.setFormatter(logging.Formatter("%(message)s"))
log = logging.getLogger("app")
log.addHandler(app_handler)
with Worker(APP, extensions_enabled=True, thread_count=1) as worker:
    worker.invoke("tick", {}, trace_parent=host_parent(1))
    log.warning("calling with token=%s", PLANTED_KEY, extra={"api_key": PLANTED_KEY, "order": "o-1"})
    try:
        raise ValueError(f"refused: https://h/api/x?code={PLANTED_KEY}")
    except ValueError:
        log.exception("call failed, password=%s", PLANTED_KEY)
report(own=own.getvalue())
"""


@pytest.mark.parametrize("exporters", ["azure-monitor+otlp", "otlp"])
def test_exported_log_records_are_redacted(exporters, app_insights, otlp, tmp_path):
    """A record's message, its arguments, its `extra` fields and the traceback of `logger.exception()` leave
    through funcscope's log pipeline redacted; the app's own handler still gets the record as it was logged."""
    from .arrivals import PLANTED_KEY, check_no_key

    env = {**FUNCTIONS_ENV, **AT_EXIT, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "FUNCSCOPE_LOGS": "export"}
    env["DOWNSTREAM_URL"] = "http://127.0.0.1:9"
    if exporters.startswith("azure-monitor"):
        env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = app_insights.connection_string()
    child = run_child(SECRET_RECORDS, tmp_path, env, app=str(V2))
    assert child["own"].count(PLANTED_KEY) == 3  # message, message, traceback: untouched
    records = {r["body"].split(",")[0]: r for r in otlp.log_records() if r["scope"] == "app"}
    warned, failed = records["calling with token=REDACTED"], records["call failed"]
    assert warned["attributes"]["api_key"] == "REDACTED" and warned["attributes"]["order"] == "o-1"
    assert failed["body"] == "call failed, password=REDACTED"
    assert "code=REDACTED" in failed["attributes"]["exception.message"]
    assert "code=REDACTED" in failed["attributes"]["exception.stacktrace"]
    check_no_key(otlp)
    if exporters.startswith("azure-monitor"):
        (exception,) = [e for e in app_insights.envelopes("ExceptionData")]
        assert "code=REDACTED" in json.dumps(exception)
        check_no_key(app_insights)
