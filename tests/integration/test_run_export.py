"""`funcscope run --export`: the run's telemetry also goes to a real backend, through funcscope's own exporters
(here receivers on 127.0.0.1), and the summary says what arrived."""

from __future__ import annotations

import socket

from ..local.clitools import DEMO_APP, funcscope, run_json
from .receivers import AppInsightsReceiver, OTLPReceiver

QUOTE = 'quote={"body": {"items": ["tea"]}}'


def test_otlp():
    with OTLPReceiver() as receiver:
        status, report = run_json(
            str(DEMO_APP),
            "quote",
            "--payload",
            QUOTE,
            "--export",
            "otlp",
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url},
        )
        assert status == 0 and report["exported"] is True and report["background_logs"] == []
        (invocation,) = report["invocations"]
        received = {s["span_id"]: s for s in receiver.spans()}
        assert set(received) == {s["span_id"] for s in invocation["spans"]}
        assert {s["name"] for s in received.values()} == {"quote", "price"}
        assert all(s["resource"]["cloud.platform"] == "azure.functions" for s in received.values())
        assert any(m["name"] == "faas.invoke_duration" for m in receiver.metrics())


def test_azure_monitor():
    with AppInsightsReceiver() as receiver:
        done = funcscope(
            "run",
            str(DEMO_APP),
            "quote",
            "--payload",
            QUOTE,
            "--export",
            "azure-monitor",
            env={"APPLICATIONINSIGHTS_CONNECTION_STRING": receiver.connection_string()},
        )
        assert done.returncode == 0, done.stderr
        assert "export: 2 spans and funcscope's metrics handed to azure-monitor\n" in done.stdout
        # Requests or dependencies, as the span kind decides (a request is named after its route).
        spans = receiver.envelopes("RequestData") + receiver.envelopes("RemoteDependencyData")
        assert len(spans) == 2 and "price" in {e["data"]["baseData"]["name"] for e in spans}


def test_a_backend_that_is_down_is_said_so():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    done = funcscope(
        "run",
        str(DEMO_APP),
        "nightly",
        "--export",
        "otlp",
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_TIMEOUT": "1"},
    )
    assert done.returncode == 1
    out = done.stdout
    assert "export: 1 span and funcscope's metrics handed to otlp; the exporter reported" in out
    # What the exporter said is shown, not swallowed.
    background = out[out.index("logged outside any invocation") : out.index("Summary")]
    assert "opentelemetry.exporter.otlp" in background


def test_an_exporter_that_cannot_be_set_up_stops_the_run():
    done = funcscope("run", str(DEMO_APP), "--export", "azure-monitor")  # no connection string
    assert done.returncode == 2
    assert "--export azure-monitor: the exporter could not be set up" in done.stderr
