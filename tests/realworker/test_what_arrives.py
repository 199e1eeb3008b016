"""What one invocation becomes in Application Insights, through the real classic worker (4.34): the delivered_v1 and
delivered_v2 apps the emulator's tests run (tests/integration/test_what_arrives.py), unchanged, with funcscope's own
providers and the real Azure Monitor exporter posting to a receiver on 127.0.0.1.

One worker per configuration, each function invoked once, checked as in the emulator (tests/integration/arrivals.py):
the invocation's item under each span kind, its parent (the host's span), success flags (a raising function: an
exception item; a 503), the dependency items of its HTTP and Azure SDK calls and the traceparent each call sent,
the log items under each `logs` setting. Together the configurations cover v1 and v2 under both span kinds and each
`logs` setting. Telemetry arrives about a second after the last invocation while the worker keeps running (the idle
flush), or, where the app asked for export delays of ten minutes, when the worker is stopped with SIGTERM.

Not here: OTLP. The OTLP exporters that match the OpenTelemetry SDK the Azure Monitor distro needs require protobuf 5,
and the classic worker 4.34 pins protobuf 4.25, so funcscope[otlp] cannot be installed beside it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest

from funcscope.bench.realworker.client import REPO, RealResult, RealWorker

from ..integration.arrivals import (
    FUNCTIONS,
    check_app_insights,
    check_downstream,
    function_calls,
    host_parent,
    payload,
)
from ..integration.receivers import AppInsightsReceiver, Downstream
from ..integration.test_export import FUNCTIONS_ENV, QUIET_AZURE, closed_port

APPS = REPO / "tests" / "integration" / "apps"
IDLE_FLUSH_BOUND_S = 4.5  # about a second after the end; generous for a loaded machine, short of the SDK's 5 s
EXPORT_ONLY_AT_STOP = {
    "OTEL_BSP_SCHEDULE_DELAY": "600000",
    "OTEL_BLRP_SCHEDULE_DELAY": "600000",
    "FUNCSCOPE_FLUSH_TIMEOUT_MS": "10000",  # a budget that holds on a loaded machine
}
SUMMARY = "funcscope: telemetry not delivered"


class Config(NamedTuple):
    version: str
    span_kind: str
    settings: dict[str, str]
    logs_exported: bool
    at_stop: bool = False  # export delays of ten minutes: only the SIGTERM flush delivers
    records_redacted: bool = True  # log records go through funcscope's pipeline, not one the worker set up


CONFIGS = {
    "v2-internal-logs-export": Config("v2", "internal", {"FUNCSCOPE_LOGS": "export"}, True),
    "v1-trigger-logs-auto": Config("v1", "trigger", {"FUNCSCOPE_LOGS": "auto"}, False),
    # The worker's own OpenTelemetry mode: worker 4.34 then sets the Azure Monitor distro up itself, before the
    # app is imported, and funcscope reuses its providers and its logging handler. The distro's sampler is
    # rate-limited and ignores the host's flag unless told otherwise, as funcscope's warning says.
    "v1-internal-logs-auto-worker-otel": Config(
        "v1",
        "internal",
        {
            "FUNCSCOPE_LOGS": "auto",
            "PYTHON_ENABLE_OPENTELEMETRY": "true",
            "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        },
        True,
        records_redacted=False,
    ),
    "v2-trigger-logs-host-at-sigterm": Config(
        "v2", "trigger", {"FUNCSCOPE_LOGS": "host", **EXPORT_ONLY_AT_STOP}, False, True
    ),
}


def connection_string(url: str) -> str:
    # LiveEndpoint: the distro the worker sets up in its OpenTelemetry mode pings live metrics; here, the receiver.
    return f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={url}/;LiveEndpoint={url}/"


def start(version: str, env: dict[str, str], tmp_path: Any, location: Any) -> RealWorker:
    settings = {
        **QUIET_AZURE,
        **FUNCTIONS_ENV,
        "OTEL_METRIC_EXPORT_INTERVAL": "600000",  # metrics leave by a flush, never by their own interval
        "TMPDIR": str(tmp_path),  # the exporter's offline storage: the test's own
        **env,
    }
    return RealWorker(
        APPS / f"delivered_{version}",
        thread_count=2,
        python_path=[REPO],  # the apps import tests.integration.delivered
        env=settings,
        telemetry="none",
        location=location,
    )


def invoke_each(worker: RealWorker, version: str) -> list[RealResult]:
    """Each function once, the n-th under the host span n, as the checks expect."""
    calls = function_calls(version)
    return [
        worker.invoke(name, payload(name, trigger), trace_parent=host_parent(n))
        for n, (name, trigger) in enumerate(calls, 1)
    ]


def passes(check: Callable[[], Any]) -> bool:
    """Whether `check()` (which asserts) passes now."""
    try:
        check()
    except (AssertionError, ValueError):  # ValueError: an item not there yet to unpack
        return False
    return True


def wait_until(check: Callable[[], Any], timeout: float) -> float:
    """Seconds until `check()` passes; runs it once more (failing with its message) if it never did in time."""
    started = time.monotonic()
    while not passes(check) and time.monotonic() - started < timeout:
        time.sleep(0.05)
    check()
    return time.monotonic() - started


def check_results(results: list[RealResult], version: str) -> None:
    """What the host got back, and the app's records it received, each once, filed under its invocation (those
    from a thread or a task the function started too)."""
    for function, result in zip(FUNCTIONS, results, strict=True):
        assert result.ok is not function.raises, result.exception
        if function.trigger == "http" and result.ok:
            assert result.value["status_code"] == function.status
        name = function.name(version)
        mine = [log for log in result.user_logs if log.message.startswith(f"{name}: ")]
        assert len(mine) == function.records and {log.invocation_id for log in mine} == {result.invocation_id}


def metric_names(receiver: AppInsightsReceiver) -> set[str]:
    return {e["data"]["baseData"]["metrics"][0]["name"] for e in receiver.envelopes("MetricData")}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_one_invocation_of_each_function_in_application_insights(config, location, tmp_path):
    with AppInsightsReceiver() as app_insights, Downstream() as downstream:
        env = {
            **config.settings,
            "APPLICATIONINSIGHTS_CONNECTION_STRING": connection_string(app_insights.url),
            "DOWNSTREAM_URL": downstream.url,
            "FUNCSCOPE_SPAN_KIND": config.span_kind,
        }

        def arrived() -> set[str]:
            http_ids = check_app_insights(
                app_insights, config.version, config.span_kind, config.logs_exported, config.records_redacted
            )
            assert "faas.invocations" in metric_names(app_insights)
            return http_ids

        worker = start(config.version, env, tmp_path, location)
        try:
            results = invoke_each(worker, config.version)
            if config.at_stop:
                spans_before_stop = app_insights.envelopes("RemoteDependencyData") + app_insights.envelopes(
                    "RequestData"
                )
            else:
                # Idle, not stopped: the spans leave after a second's delay, the metrics by the idle flush.
                arrived_s = wait_until(arrived, timeout=30)
                assert arrived_s < IDLE_FLUSH_BOUND_S
            warnings = [log.message for log in worker.logs() if log.message.startswith("funcscope:")]
        finally:
            exit_codes = worker.close()  # SIGTERM, as the host stops a worker
        assert exit_codes == [-15] and warnings == []
        check_results(results, config.version)
        if config.at_stop:
            assert spans_before_stop == []
        # After the stop: everything there, nothing twice (the SIGTERM flush sends nothing again).
        http_ids = arrived()
        check_downstream(downstream, http_ids)


# -- faults ---------------------------------------------------------------------------------------------------

SPANS = 12  # per round: the 6 invocations, 3 + 2 HTTP calls, the Azure SDK call


@pytest.mark.parametrize("fault", ["down", "500"])
def test_a_backend_down_or_failing_costs_the_invocations_nothing(fault, location, tmp_path):
    """The exporter cannot deliver: the invocations answer as fast as before, what it keeps to send again is
    counted, and funcscope says so once (the exporters' own line per failed batch held back)."""
    with AppInsightsReceiver() as app_insights, Downstream() as downstream:
        url = f"http://127.0.0.1:{closed_port()}" if fault == "down" else app_insights.url
        if fault == "500":
            app_insights.refuse(500)
        env = {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": connection_string(url),
            "DOWNSTREAM_URL": downstream.url,
            "FUNCSCOPE_LOGS": "host",
        }
        worker = start("v2", env, tmp_path, location)

        def kept() -> dict[str, int]:
            (totals,) = worker.run_in_each_process("funcscope.telemetry.drops:totals")
            assert totals["lost"] == {}  # worth retrying: the exporter keeps them in its offline storage
            return totals["kept"]

        def spans_kept(at_least: int) -> None:
            assert kept().get("spans", 0) >= at_least, kept()

        try:
            healthy = invoke_each(worker, "v2")  # the first exports fail while these run
            wait_until(lambda: spans_kept(SPANS), timeout=60)
            failing = invoke_each(worker, "v2")  # the backend known to fail
            wait_until(lambda: spans_kept(2 * SPANS), timeout=60)
            counts = kept()
            time.sleep(0.2)  # a summary line due now is written
            logs = worker.logs()
        finally:
            exit_codes = worker.close()
        assert exit_codes == [-15]
        check_results(healthy, "v2")
        check_results(failing, "v2")
        assert counts["spans"] == 2 * SPANS
        # An invocation takes milliseconds; one that waited for an export would wait for its retries, seconds.
        assert statistics.median(r.round_trip_s for r in failing) < 0.5
        summaries = [log.message for log in logs if log.message.startswith(SUMMARY)]
        assert len(summaries) == 1 and "kept in Azure Monitor's offline storage" in summaries[0], summaries
        exporter_lines = [
            log
            for log in logs
            if log.category.startswith(("azure.monitor.", "opentelemetry.")) and log.level in ("Warning", "Error")
        ]
        assert len(exporter_lines) <= 6, [log.message[:200] for log in exporter_lines]
        if fault == "500":
            assert app_insights.envelopes() == [] and app_insights.refused
