"""Delivery: what leaves the process and when, through the real exporters to receivers on 127.0.0.1.

- Stop: worker processes stopped by SIGTERM right after their last response deliver every invocation's telemetry
  and still die by SIGTERM (the real classic worker: tests/realworker/test_sigterm.py).
- Idle flush: an invocation's spans and metrics arrive within about a second, without any exit.
- `flush="invocation"`: each invocation's telemetry has arrived when the invocation returns.
- Faults: with the backend down, slow, answering 500 or 429 (and, for Azure Monitor, 400 and a partial 206), what
  was lost is counted exactly, the exporters' lines are held to one per kind, and invocations are not delayed.

Each test runs funcscope in a fresh child process (see test_export.py); a child that must not flush at exit ends
with `os._exit`, so what the receiver holds is what left while it ran.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from .conftest import HOST_TRACE
from .receivers import AppInsightsReceiver, OTLPReceiver
from .test_export import EXPORT_ONLY_AT_EXIT, FUNCTIONS_ENV, closed_port, run_child


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


# -- faults -------------------------------------------------------------------------------------------------------

FAULTS = """
import statistics, time, urllib.request
from funcscope.telemetry import drops



class Kinds(logging.Handler):
    # The kind (logger, message template) of each exporter line that got through.

    def __init__(self):
        super().__init__(logging.WARNING)
        self.kinds = []

    def emit(self, record):
        if not record.name.startswith("funcscope"):
            self.kinds.append([record.name, str(record.msg)])


KINDS = Kinds()
for name in ("opentelemetry", "azure", "funcscope"):
    logging.getLogger(name).addHandler(KINDS)
logging.getLogger("azure").addHandler(WARNINGS)


def held():
    if not ARGS["status_url"]:
        return 0
    with urllib.request.urlopen(ARGS["status_url"], timeout=10) as response:
        return json.loads(response.read())["held"]


def accounted(signal):
    counts = drops.totals()
    return sum(n for key, n in counts["lost"].items() if key.startswith(signal)) + counts["kept"].get(signal, 0)


with Worker(APP, extensions_enabled=True, thread_count=2) as worker:
    calls = [Call("hello", http("hello"), host_parent(n)) for n in range(1, ARGS["invocations"] + 1)]
    results = [worker.invoke(calls[0].function_name, calls[0].payload, trace_parent=calls[0].trace_parent)]
    if ARGS["status_url"]:  # a backend that hangs: the rest run once an export is known to hang there
        hung_by = time.monotonic() + 30
        while not held() and time.monotonic() < hung_by:
            time.sleep(0.02)
    results += worker.invoke_many(calls[1:], concurrency=4)
    held_after = held()
    # Every span is tried (exported every 50 ms, or by the flush), and the metrics at least once, before the counts
    # are read: a flush returns at once while an earlier one is still stuck in the exporter, so try until done.
    telemetry = get_runner().telemetry
    deadline = time.monotonic() + 120
    while accounted("spans") < ARGS["undelivered_spans"] or not accounted("metric_points"):
        if time.monotonic() > deadline:
            break
        telemetry.flush(5_000)
        time.sleep(0.05)
    while telemetry.delivered() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the last flush is over: no export is under way
    counts = drops.totals()
    time.sleep(0.2)  # let a summary line due now be written
report(
    ok=[r.ok for r in results],
    median_ms=statistics.median(r.timings.total_s for r in results) * 1000,
    held_after=held_after,
    counts=counts,
    held_lines=drops._counts.held_lines,
    kinds=KINDS.kinds,
)
os._exit(0)  # no exit flush: the receiver holds exactly what was tried until now
"""

SPANS_PER_INVOCATION = 2  # hello and its child span


def run_faulty(
    tmp_path,
    exporter: str,
    url: str,
    invocations: int,
    *,
    undelivered: float = 1.0,
    status_url: str | None = None,
    delay_ms: int = 50,
    off_by: int = 0,
) -> dict[str, Any]:
    """Run FAULTS; `undelivered` is the share of spans that cannot get through (the child waits until each of
    those is counted, lost or kept, to within `off_by`)."""
    env = {
        **FUNCTIONS_ENV,
        "OTEL_BSP_SCHEDULE_DELAY": str(delay_ms),
        "OTEL_METRIC_EXPORT_INTERVAL": "600000",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",  # seconds: the OTLP exporter's retries end quickly
        "FUNCSCOPE_FLUSH_TIMEOUT_MS": "200",
        **exporter_env(exporter, url),
    }
    undelivered_spans = round(SPANS_PER_INVOCATION * invocations * undelivered) - off_by
    child = run_child(
        FAULTS, tmp_path, env, invocations=invocations, status_url=status_url, undelivered_spans=undelivered_spans
    )
    assert child["ok"] == [True] * invocations
    # An invocation takes about a millisecond; one that waited for an export would take a second or more.
    assert child["median_ms"] < 100
    return child


def check_lines(child: dict[str, Any]) -> None:
    """Each kind of exporter line (failed, retrying; spans, metrics) at most once, however many batches failed; one
    summary line (the first loss; the rest wait for the minute)."""
    kinds = Counter(tuple(kind) for kind in child["kinds"])
    assert 0 < len(child["kinds"]) <= 6 and all(n == 1 for n in kinds.values()), child["kinds"]
    summaries = [w for w in child["warnings"] if w.startswith("funcscope: telemetry not delivered")]
    assert len(summaries) == 1, summaries


@pytest.mark.parametrize("fault", ["down", "slow", "500", "429"])
def test_otlp_faults_are_counted_exactly_and_logged_sparingly(fault, otlp, tmp_path):
    invocations = 300
    url, status_url = otlp.url, None
    if fault == "down":
        url = f"http://127.0.0.1:{closed_port()}"
    elif fault == "slow":
        otlp.hold()
        status_url = f"{otlp.url}/_status"
    else:
        otlp.refuse(int(fault))
    child = run_faulty(tmp_path, "otlp", url, invocations, status_url=status_url)
    lost = child["counts"]["lost"]
    spans = SPANS_PER_INVOCATION * invocations
    assert lost["spans/export_failed"] == spans and child["counts"]["kept"] == {}
    assert set(lost) == {"spans/export_failed", "metric_points/export_failed"}
    if fault in ("500", "429"):
        # What the receiver refused, each request once however often it was retried, is exactly what was counted.
        assert len({s["span_id"] for s in otlp.refused_spans()}) == spans
        assert len(otlp.refused_metrics()) == lost["metric_points/export_failed"]
    assert otlp.posts == []  # nothing was delivered
    if fault == "slow":
        assert child["held_after"] >= 1  # the invocations after the first all ran and ended while an export hung
    check_lines(child)
    assert child["held_lines"] > 0  # the exporters logged more than what got through


@pytest.mark.parametrize("fault", ["down", "429", "500", "400", "partial"])
def test_azure_monitor_faults_are_counted_exactly_and_logged_sparingly(fault, app_insights, tmp_path):
    # The Azure SDK retries a 500 itself, with back-off, seconds per request: fewer invocations, in one batch.
    invocations, delay_ms = (50, 60_000) if fault == "500" else (300, 50)
    # A part accepted is mapped back onto each batch's spans to within one: batches of the processor's full size
    # (not as many as a loaded machine makes in 50 ms steps) keep the count within the bound below.
    off_by = 3 if fault == "partial" else 0
    if fault == "partial":
        delay_ms = 60_000
    url = app_insights.url
    if fault == "down":
        url = f"http://127.0.0.1:{closed_port()}"
    elif fault == "partial":
        app_insights.accept_partly(every=2, status=400)
    else:
        app_insights.refuse(int(fault))
    undelivered = 0.5 if fault == "partial" else 1.0
    child = run_faulty(
        tmp_path, "azure-monitor", url, invocations, undelivered=undelivered, delay_ms=delay_ms, off_by=off_by
    )
    lost, kept = child["counts"]["lost"], child["counts"]["kept"]
    spans = SPANS_PER_INVOCATION * invocations
    if fault in ("down", "429", "500"):
        # Worth retrying: the exporter keeps them in its offline storage; nothing is lost.
        assert kept["spans"] == spans and kept["metric_points"] > 0 and lost == {}
    elif fault == "400":
        assert lost["spans/export_failed"] == spans and kept == {}
        assert len(app_insights.refused_envelopes()) >= spans
    else:
        # Accepted in part: the items are mapped back onto the spans in proportion (one item per batch is about
        # the resource), so the count may be off by one a batch.
        assert abs(lost["spans/export_failed"] - spans // 2) <= off_by and kept == {}
        delivered = len(app_insights.envelopes("RequestData")) + len(app_insights.envelopes("RemoteDependencyData"))
        assert abs(delivered + lost["spans/export_failed"] - spans) <= off_by
    if fault != "partial":
        assert app_insights.envelopes() == []  # nothing was delivered
    check_lines(child)
