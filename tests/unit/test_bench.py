"""`funcscope bench`, the benchmark configurations and the `funcscope_worker` pytest fixture.

Only that they run and report what they should: speed is measured in perf/ and by `funcscope bench` itself,
never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import azure.functions as func
import pytest

from funcscope.bench.coldstart import COLDSTART_CONFIGS
from funcscope.bench.configs import OVERHEAD_CONFIGS, THROUGHPUT_CONFIGS, install, providers
from funcscope.bench.overhead import MODES as OVERHEAD_MODES
from funcscope.bench.overhead import HookHarness
from funcscope.bench.throughput import MODES as THROUGHPUT_MODES
from funcscope.emulator.extension_manager import ExtensionManager
from funcscope.emulator.tasks import current_invocation_id
from funcscope.instrumentation import classic_worker, function_wrapping
from funcscope.instrumentation import logging as logs
from funcscope.instrumentation import threads as propagation

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_V2 = ROOT / "funcscope" / "emulator" / "sample_apps" / "v2_app"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNCSCOPE_", "PYTHON_ENABLE_WORKER", "OTEL_"))}
    env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
    env["APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"] = "true"
    env["PYTHONPATH"] = str(ROOT)
    return {**env, **extra}


def test_bench_quick_writes_the_documented_json_and_a_png(tmp_path):
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "funcscope.cli",
            "bench",
            "--quick",
            "--rounds",
            "1",
            "--invocations",
            "100",
            "--seconds",
            "0.01",
            "--workloads",
            "cpu-trivial",
            "--no-progress",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Per-invocation overhead" in run.stdout and "Throughput through the emulator" in run.stdout
    assert "Targets:" in run.stdout
    assert "funcscope-full ÷ the same telemetry written by hand" in run.stdout

    assert "Cold start: import + configure()" in run.stdout
    result = json.loads(out_json.read_text())
    assert set(result) == {"machine", "overhead", "throughput", "coldstart", "realworker"}
    assert result["realworker"] == []  # not asked for, and FUNCSCOPE_REALWORKER is not set
    assert result["machine"]["cpu_count"] >= 1 and result["machine"]["python"]

    overhead = result["overhead"]
    assert all(set(row) == {"config", "mode", "us_per_invocation", "ratio_to_manual_span"} for row in overhead)
    assert {(r["config"], r["mode"]) for r in overhead} == {(c, m) for c in OVERHEAD_CONFIGS for m in OVERHEAD_MODES}
    assert all(r["us_per_invocation"] > 0 and r["ratio_to_manual_span"] > 0 for r in overhead)
    assert {r["ratio_to_manual_span"] for r in overhead if r["config"] == "manual"} == {1.0}

    throughput = result["throughput"]
    keys = {"config", "mode", "concurrency", "workload", "invocations_per_s", "p50_ms", "p99_ms", "ratio_to_none"}
    assert all(set(row) == keys for row in throughput)
    expected = {(c, m, n) for c in THROUGHPUT_CONFIGS for m, levels in THROUGHPUT_MODES.items() for n in levels}
    assert {(r["config"], r["mode"], r["concurrency"]) for r in throughput} == expected
    for row in throughput:
        assert row["invocations_per_s"] > 0 and row["ratio_to_none"] > 0
        assert 0 < row["p50_ms"] <= row["p99_ms"]
    assert {r["ratio_to_none"] for r in throughput if r["config"] == "none"} == {1.0}

    coldstart = {r["config"]: r for r in result["coldstart"]}
    assert set(coldstart) == set(COLDSTART_CONFIGS)
    keys = {"config", "import_ms", "configure_ms", "total_ms", "ratio_to_baseline", "modules", "libraries_imported"}
    assert all(set(row) == keys and row["total_ms"] > 0 for row in coldstart.values())
    assert coldstart["baseline"]["ratio_to_baseline"] == 1.0
    # the distro alone imports every instrumented library installed; funcscope only what its exporters use
    assert "httpx" in coldstart["distro-alone"]["libraries_imported"]
    assert "httpx" not in coldstart["funcscope-azure-monitor"]["libraries_imported"]

    assert out_png.read_bytes()[:8] == PNG_MAGIC


def test_bench_says_where_the_real_worker_is_missing(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "funcscope.cli", "bench", "--realworker", str(tmp_path), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == (
        f"funcscope bench: the real classic worker is not at {tmp_path}: point the REALWORKER make variable (or "
        "FUNCSCOPE_REALWORKER) at a folder holding azure_functions_worker 4.34 and its mock host"
    )


def _process_state() -> tuple[object, ...]:
    return (
        func.ExtensionMeta.get_registered_extensions_json(),
        propagation.is_instrumented(),
        logs.is_log_enrichment_installed(),
        classic_worker.is_instrumented(ExtensionManager),
        function_wrapping.is_instrumented(),
        os.environ.get("PYTHON_ENABLE_WORKER_EXTENSIONS"),
        current_invocation_id(),  # this thread's records belong to no invocation after `call()`
    )


def test_none_is_the_function_alone_in_an_app_that_configures_funcscope(spans):
    """With hooks off funcscope would wrap the app's functions: "none" keeps funcscope out."""
    from funcscope.bench.app import BenchApp

    before = _process_state()
    app = BenchApp(ROOT / "tests" / "apps" / "every_function_v2", "none")
    try:
        assert app.invoke("hello", {"url": "http://localhost/api/f"}).ok
        assert app.call("ahello", {"url": "http://localhost/api/f"}).status_code == 200
    finally:
        app.close()
    assert [s for s in spans.get_finished_spans() if "faas.invocation_id" in s.attributes] == []
    assert _process_state() == before


@pytest.mark.filterwarnings("ignore:'locale.getdefaultlocale' is deprecated:DeprecationWarning")  # opencensus
@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")  # opencensus on Python 3.12+
@pytest.mark.parametrize("config", ["funcscope-full", "opencensus", "bare"])
def test_a_configuration_is_undone_completely(config):
    before = _process_state()
    for _ in range(2):  # a second install registers again: the extension's module was forgotten
        with install(config):
            registered = func.ExtensionMeta.get_registered_extensions_json()
            assert os.environ["PYTHON_ENABLE_WORKER_EXTENSIONS"] == "1"
            if config == "funcscope-full":
                assert "FuncScopeExtension" in registered
                assert propagation.is_instrumented() and logs.is_log_enrichment_installed()
                assert classic_worker.is_instrumented(ExtensionManager)
            elif config == "opencensus":
                assert "OpenCensusExtension" in registered
        assert _process_state() == before


@pytest.mark.parametrize("config", ["bare", "builtin", "manual", "funcscope-full", "funcscope-sampled-out"])
def test_hook_harness_runs_both_modes(config):
    with HookHarness(config) as harness:
        assert harness.run("sync-pool", 20) > 0
        assert harness.run("async", 20) > 0
        batch = harness.invocations(5)
        assert len({ctx.invocation_id for ctx, _ in batch}) == 5
        assert len({ctx.trace_context.trace_parent for ctx, _ in batch}) == 5
        flags = {ctx.trace_context.trace_parent[-2:] for ctx, _ in batch}
        assert flags == ({"00"} if config == "funcscope-sampled-out" else {"01"})


def _durations_recorded() -> dict[str, dict[frozenset, int]]:
    """How many `faas.invoke_duration` measurements the benchmark providers hold, by meter and attributes."""
    counts: dict[str, dict[frozenset, int]] = {}
    data = providers().metric_reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "faas.invoke_duration":
                    for point in metric.data.data_points:
                        counts.setdefault(scope.scope.name, {})[frozenset(point.attributes.items())] = point.count
    return counts


def _recorded(config_name):
    """The spans and the duration measurements (by meter and attributes) one sync and one async invocation
    record through the benchmark providers in `config_name`."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    providers().tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    before = _durations_recorded()
    try:
        with HookHarness(config_name) as harness:
            harness.run("sync-pool", 1)
            harness.run("async", 1)
        finished = spans.get_finished_spans()
    finally:
        spans.shutdown()  # keeps nothing more, though the provider still holds it
    added = {}
    for meter, series in _durations_recorded().items():
        for attributes, count in series.items():
            grown = count - before.get(meter, {}).get(attributes, 0)
            if grown:
                added.setdefault(meter, {})[attributes] = grown
    return finished, added


def test_the_hand_written_equivalent_records_what_funcscope_records():
    theirs, their_durations = _recorded("manual-equivalent")
    ours, our_durations = _recorded("funcscope-full")
    assert len(theirs) == len(ours) == 2
    for mine, hand in zip(ours, theirs, strict=True):
        assert set(hand.attributes) == set(mine.attributes)
        assert hand.kind == mine.kind and hand.name == mine.name
        assert hand.parent is not None and hand.parent.is_remote
    # Each records both invocations' durations, with the same attributes, on its own meter.
    assert list(their_durations) == ["funcscope.bench"] and list(our_durations) == ["funcscope"]
    assert their_durations["funcscope.bench"] == our_durations["funcscope"]
    assert sum(our_durations["funcscope"].values()) == 2


def test_the_fixture_is_registered_and_runs_an_app(tmp_path):
    (tmp_path / "test_app_bench.py").write_text(
        textwrap.dedent(f"""
        import azure.functions as func
        import pytest

        APP = {str(SAMPLE_V2)!r}
        REQUEST = {{"method": "GET", "url": "http://localhost/api/hello?name=x"}}
        ASYNC_REQUEST = {{"method": "GET", "url": "http://localhost/api/hello-async"}}

        @pytest.mark.parametrize("config", ["none", "funcscope-full", "opencensus"])
        def test_hello(funcscope_worker, config):
            app = funcscope_worker(APP, config)
            registered = func.ExtensionMeta.get_registered_extensions_json()
            assert ("FuncScopeExtension" in registered) == (config == "funcscope-full")
            assert ("OpenCensusExtension" in registered) == (config == "opencensus")
            assert app.call("hello", REQUEST).get_body() == b"Hello, x!"
            assert app.call("hello_async", ASYNC_REQUEST).status_code == 200
            assert app.invoke("hello", REQUEST).ok

        def test_nothing_is_left_registered():
            assert func.ExtensionMeta.get_registered_extensions_json() == "{{}}"
    """)
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=110,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed" in run.stdout
