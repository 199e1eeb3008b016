"""The OpenCensus drop-in end to end: the developer reference's OpenCensus sample, with only its import line changed,
on funcscope, and the same sample on the original `opencensus-extension-azure-functions`, each in a fresh child
process through the worker emulator, exporting to an Application Insights receiver on 127.0.0.1 and calling a
server there. Sync and async, a call that succeeds and one that fails.

Both return the same JSON (the same failure); what arrives differs as the drop-in promises: under funcscope, the
invocation's item under the host's request, the "parent" span under it, the request under "parent" (traced once, by
funcscope's instrumentation), failures recorded; under the original, "parent" straight under the host's request and
no trace of the invocation or its failure.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from funcscope.emulator import Worker
from funcscope.runtime import reset_runner
from funcscope.shared.settings import Settings

from .conftest import HOST_TRACE
from .opencensus_sample import CASES, FUNCSCOPE_IMPORT, ORIGINAL_IMPORT, closed_port, sample_on, without_addresses
from .opencensus_sample import calls as sample_calls
from .receivers import AppInsightsReceiver, Downstream
from .test_export import FUNCTIONS_ENV, run_child

AT_EXIT = {"OTEL_BSP_SCHEDULE_DELAY": "600000", "OTEL_METRIC_EXPORT_INTERVAL": "600000"}

RUN_SAMPLE = """
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # the sample reads the deprecated Traceparent and Tracestate
with Worker(APP, extensions_enabled=True, thread_count=2) as worker:
    results = []
    for n, (name, target, invocation_id) in enumerate(ARGS["calls"], 1):
        result = worker.invoke(
            name,
            {"method": "GET", "url": f"http://localhost/api/{name}?target={target}"},
            trace_parent=host_parent(n),
            invocation_id=invocation_id,
        )
        error = None if result.ok else f"{type(result.exception).__name__}: {result.exception}"
        results.append({"value": result.value, "error": error})
report(results=results)
"""


def run_sample(extension_import: str, app: Path, receiver: AppInsightsReceiver, calls: list[Any], tmp_path: Path):
    sample_on(extension_import, app)
    env = {**FUNCTIONS_ENV, **AT_EXIT, "APPLICATIONINSIGHTS_CONNECTION_STRING": receiver.connection_string()}
    return run_child(RUN_SAMPLE, tmp_path, env, app=str(app), calls=calls)


class Items:
    """The envelopes of one run (metrics left out), by id and by parent."""

    def __init__(self, receiver: AppInsightsReceiver) -> None:
        self.all = [e for e in receiver.envelopes() if e["data"]["baseType"] != "MetricData"]
        assert {e["tags"]["ai.operation.id"] for e in self.all} == {HOST_TRACE}  # all in the host's trace

    def under(self, parent_id: str) -> list[dict[str, Any]]:
        return [e for e in self.all if e["tags"].get("ai.operation.parentId") == parent_id]

    def only(self, parent_id: str, base_type: str, **data: Any) -> dict[str, Any]:
        found = [
            e["data"]["baseData"]
            for e in self.under(parent_id)
            if e["data"]["baseType"] == base_type and all(e["data"]["baseData"].get(k) == v for k, v in data.items())
        ]
        assert len(found) == 1, (parent_id, base_type, data, [e["data"] for e in self.under(parent_id)])
        return found[0]


def test_the_seed_sample_on_funcscope_and_on_the_original(tmp_path):
    down = f"http://127.0.0.1:{closed_port()}/down"
    with AppInsightsReceiver() as ours, AppInsightsReceiver() as original, Downstream() as downstream:
        calls = sample_calls(downstream.url, down)
        app = tmp_path / "app"  # the same folder for both: the sample returns its function_directory
        on_funcscope = run_sample(FUNCSCOPE_IMPORT, app, ours, calls, tmp_path)
        ours_called = list(downstream.calls)
        downstream.calls.clear()
        on_original = run_sample(ORIGINAL_IMPORT, app, original, calls, tmp_path)
        original_called = list(downstream.calls)

    # -- what the function returns: the same JSON, or the same failure ---------------------------------------------
    assert [r["value"] for r in on_funcscope["results"]] == [r["value"] for r in on_original["results"]]
    assert [without_addresses(r["error"]) for r in on_funcscope["results"]] == [
        without_addresses(r["error"]) for r in on_original["results"]
    ]
    for (name, succeeds), result in zip(CASES, on_funcscope["results"], strict=True):
        assert (result["error"] is None) is succeeds
        if succeeds:
            assert f'"ctx_func_name": "{name}"' in result["value"] and '"response": 200' in result["value"]
        else:
            assert result["error"].startswith("ConnectionError: ")
    assert [w for w in on_funcscope["warnings"] if w.startswith("funcscope")] == []

    # -- funcscope: host's request > the invocation > "parent" > the request, failures recorded --------------------
    items = Items(ours)
    for n, (name, succeeds) in enumerate(CASES, 1):
        invocation = items.only(f"{n:016x}", "RemoteDependencyData", name=name)
        assert invocation["type"] == "InProc" and invocation["success"] is succeeds
        parent = items.only(invocation["id"], "RemoteDependencyData", name="parent")
        assert parent["type"] == "InProc" and parent["success"] is succeeds
        http = items.only(parent["id"], "RemoteDependencyData", type="HTTP")  # traced once
        assert http["success"] is succeeds and http["target"].startswith("127.0.0.1:")
        if succeeds:
            assert http["name"] == f"GET /{name}" and http["resultCode"] == "200"
            assert f"00-{HOST_TRACE}-{http['id']}-01" in [c[2] for c in ours_called]  # traceparent sent on
            assert [e["data"]["baseType"] for e in items.under(invocation["id"])] == ["RemoteDependencyData"]
        else:
            (exception,) = [e for e in items.under(invocation["id"]) if e["data"]["baseType"] == "ExceptionData"]
            assert exception["data"]["baseData"]["exceptions"][0]["typeName"].endswith("ConnectionError")
    assert len(ours_called) == 2

    # -- the original: "parent" straight under the host's request, no invocation, no failure, and each request
    # traced once per function module that called trace_integrations(['requests']) (each wraps requests again) --
    items = Items(original)
    functions = len({name for name, _ in CASES})
    for n, (name, succeeds) in enumerate(CASES, 1):
        parent = items.only(f"{n:016x}", "RemoteDependencyData", name="parent")
        assert parent["type"] == "INPROC" and parent["success"] is True  # even when the function failed
        assert [e["data"]["baseData"]["name"] for e in items.under(f"{n:016x}")] == ["parent"]
        chain = [items.only(parent["id"], "RemoteDependencyData", type="HTTP")]
        while len(chain) < functions:
            chain.append(items.only(chain[-1]["id"], "RemoteDependencyData", type="HTTP"))
        assert items.under(chain[-1]["id"]) == []
        if succeeds:
            assert {http["name"] for http in chain} == {f"GET /{name}"}
            assert f"00-{HOST_TRACE}-{chain[-1]['id']}-01" in [c[2] for c in original_called]
    assert not [e for e in items.all if e["data"]["baseType"] == "ExceptionData"]
    assert len(original_called) == 2


OPTIONS_APP = """
import os

from funcscope.opencensus import OpenCensusExtension

OpenCensusExtension.configure(
    connection_string=os.environ["TEST_CONNECTION_STRING"], enable_local_storage=False, export_interval=5.0
)

import azure.functions as func

app = func.FunctionApp()


@app.route(route="hello")
def hello(req: func.HttpRequest, context) -> str:
    with context.tracer.span("inside"):
        return "hello"
"""

RUN_OPTIONS = """
with Worker(APP, extensions_enabled=True) as worker:
    result = worker.invoke("hello", http("hello"), trace_parent=host_parent(1))
settings = get_runner().settings
report(ok=result.ok, storage=settings.azure_monitor_storage, exporters=list(get_runner().telemetry.exporters))
"""


def test_the_originals_exporter_options_in_configure(app_insights, tmp_path):
    """A connection string given in code (no APPLICATIONINSIGHTS_CONNECTION_STRING), the local storage turned off,
    and an option funcscope has no equivalent for: one warning naming it."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "function_app.py").write_text(OPTIONS_APP)
    env = {**FUNCTIONS_ENV, **AT_EXIT, "TEST_CONNECTION_STRING": app_insights.connection_string()}
    child = run_child(RUN_OPTIONS, tmp_path, env, app=str(app))
    assert child["ok"] and child["storage"] == "none" and child["exporters"] == ["azure-monitor"]
    (warning,) = child["warnings"]
    assert "ignores export_interval" in warning
    names = [e["data"]["baseData"]["name"] for e in app_insights.envelopes("RemoteDependencyData")]
    assert sorted(names) == ["hello", "inside"]


UNCONFIGURED = """
from funcscope.opencensus import OpenCensusExtension
import azure.functions as func

app = func.FunctionApp()


@app.route(route="hello")
def hello(req: func.HttpRequest, context) -> str:
    with context.tracer.span("inside"):
        return "hello"
"""


def test_configure_never_called_warns_once_and_traces_all_the_same(spans, tmp_path, caplog):
    (tmp_path / "function_app.py").write_text(UNCONFIGURED)
    with Worker(tmp_path, extensions_enabled=True, thread_count=1) as worker:
        results = [worker.invoke("hello", {"method": "GET", "url": "http://localhost/api/hello"}) for _ in range(3)]
    assert [r.value for r in results] == ["hello"] * 3
    warnings = [r.getMessage() for r in caplog.records if r.name == "funcscope"]
    assert len(warnings) == 1 and "OpenCensusExtension.configure() was never called" in warnings[0]
    finished = spans.get_finished_spans()
    inside = [s for s in finished if s.name == "inside"]
    invocations = {s.context.span_id for s in finished if s.name == "hello"}
    assert len(inside) == 3 and {s.parent.span_id for s in inside} == invocations


def test_with_funcscope_disabled_the_sample_still_runs(spans, tmp_path):
    """FUNCSCOPE_ENABLED=false: no pipeline runs, and the function still gets a tracer (one recording nothing)."""
    reset_runner(Settings(enabled=False))
    (tmp_path / "function_app.py").write_text(UNCONFIGURED)
    with Worker(tmp_path, extensions_enabled=True, thread_count=1) as worker:
        result = worker.invoke("hello", {"method": "GET", "url": "http://localhost/api/hello"})
    assert result.ok and result.value == "hello"
    assert spans.get_finished_spans() == ()


def test_on_a_worker_that_runs_no_hooks_the_sample_is_traced_all_the_same(spans, tmp_path, downstream):
    """The Python 3.13+ worker runs no extension hooks: configure() has every function wrapped instead."""
    sample_on(FUNCSCOPE_IMPORT, tmp_path / "app")
    with warnings.catch_warnings(), Worker(tmp_path / "app", hooks="none", thread_count=1) as worker:
        warnings.simplefilter("ignore", DeprecationWarning)  # the sample reads the deprecated Traceparent
        results = {
            name: worker.invoke(name, {"method": "GET", "url": f"http://localhost/api/{name}?target={target}"})
            for name, target, _ in sample_calls(downstream.url, downstream.url)[:2]
        }
    finished = spans.get_finished_spans()
    for name, result in results.items():
        assert result.ok and '"response": 200' in result.value
        (invocation,) = [s for s in finished if s.name == name]
        (parent,) = [s for s in finished if s.name == "parent" and s.parent.span_id == invocation.context.span_id]
        (request,) = [s for s in finished if s.parent is not None and s.parent.span_id == parent.context.span_id]
        assert request.kind.name == "CLIENT"
        assert f"00-{format(request.context.trace_id, '032x')}-{format(request.context.span_id, '016x')}-01" in [
            c[2] for c in downstream.calls
        ]


TRACED_TWICE = """
from opencensus.trace import config_integration

config_integration.trace_integrations(["requests"])  # OpenCensus's own integration, before funcscope.opencensus

from funcscope.opencensus import OpenCensusExtension

OpenCensusExtension.configure(exporter="none")
OpenCensusExtension.configure(exporter="none")
report()
"""


def test_opencensus_integrations_switched_on_before_the_import_are_named_once(tmp_path):
    child = run_child(TRACED_TWICE, tmp_path, dict(FUNCTIONS_ENV))
    (warning,) = child["warnings"]
    assert "integration of requests was switched on before funcscope.opencensus was imported" in warning
