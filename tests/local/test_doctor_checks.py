"""Each doctor check on small apps: a finding and its fix when something is wrong, nothing when it is right."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from funcscope.local import checks
from funcscope.local.checks import AppFacts, Finding
from funcscope.local.doctor import diagnose
from funcscope.local.probe import AppProbe

CONNECTION_STRING = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"


def app(tmp_path, files=None, settings=None, probe=None, environ=None, v1=False):
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    if not v1:
        (tmp_path / "function_app.py").write_text("")
    (tmp_path / "requirements.txt").write_text("funcscope[azure-monitor]\n")
    for name, content in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    if settings is not None:
        (tmp_path / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": settings}))
    facts = AppFacts(tmp_path, environ=environ or {})
    if probe is not None:
        facts.probe = probe
    return facts


def configured(*undecorated, decorated=(), provider=None):
    functions = [{"name": n, "trigger": "httpTrigger", "decorated": False} for n in undecorated]
    functions += [{"name": n, "trigger": "httpTrigger", "decorated": True} for n in decorated]
    return AppProbe(functions, ["FuncScopeExtension"], [], provider or {})


def messages(findings):
    return [f.message for f in findings]


def test_requirements(tmp_path):
    facts = app(tmp_path, settings={checks.CONNECTION_STRING: CONNECTION_STRING})
    assert list(checks.check_requirements(facts)) == []
    (tmp_path / "requirements.txt").write_text("-r base.txt  # shared\n")
    (tmp_path / "base.txt").write_text("Funcscope[otlp]==0.1\nazure-functions\n")
    (finding,) = checks.check_requirements(AppFacts(tmp_path, environ={checks.CONNECTION_STRING: CONNECTION_STRING}))
    assert "exporter of funcscope[azure-monitor], but requirements.txt installs neither it nor azure-monitor-" in (
        finding.message
    )
    (tmp_path / "requirements.txt").write_text("azure-functions\nnot a requirement!\n")
    found = messages(checks.check_requirements(AppFacts(tmp_path, environ={})))
    assert found[0].startswith("requirements.txt line 2 is not a requirement pip can read")
    assert found[1] == "requirements.txt does not list funcscope, so the deployed app cannot import it"
    (tmp_path / "requirements.txt").unlink()
    assert "no requirements.txt" in messages(checks.check_requirements(AppFacts(tmp_path, environ={})))[0]


def test_azure_functions_pinned_too_old(tmp_path):
    facts = app(tmp_path, files={"requirements.txt": "funcscope\nazure-functions==1.2.0\n"})
    (finding,) = checks.check_azure_functions(facts)
    assert "pins azure-functions==1.2.0, but funcscope needs azure-functions>=1.18" in finding.message
    assert list(checks.check_azure_functions(app(tmp_path, files={"requirements.txt": "azure-functions>=1.20"}))) == []


LATE_SETUP = Path(__file__).resolve().parents[1] / "apps" / "late_setup_v1"


def test_tracing_path_and_the_functions_it_misses():
    # A_Plain loads before B_Setup configures funcscope: where the worker runs no hooks it is loaded unwrapped.
    note, missed = checks.check_tracing_path(AppFacts(LATE_SETUP, environ={}))
    assert note.severity == "note" and "funcscope wraps every function as the worker loads it" in note.message
    assert missed.severity == "problem" and missed.message == "funcscope would not trace A_Plain on this worker."
    assert "import the module that calls it" in missed.fix
    if sys.version_info < (3, 13):  # with the hooks on, the app-level extension runs for every function
        facts = AppFacts(LATE_SETUP, environ={"PYTHON_ENABLE_WORKER_EXTENSIONS": "1"})
        (note,) = checks.check_tracing_path(facts)
        assert "the classic worker runs funcscope's extension hooks" in note.message


def test_function_folder_without_function_json(tmp_path):
    facts = app(
        tmp_path,
        v1=True,
        files={
            "Orders/function.json": '{"bindings": []}',
            "Orders/__init__.py": "def main(req): ...",
            "Forgotten/__init__.py": "async def main(req): ...",
            "shared_code/__init__.py": "def helper(): ...",
        },
    )
    (finding,) = checks.check_function_folders(facts)
    assert finding.message == "Forgotten/ defines main() but has no function.json, so the host never runs it"


def test_malformed_json_everywhere(tmp_path):
    facts = app(
        tmp_path,
        v1=True,
        files={"host.json": "{}", "Orders/function.json": '{"bindings": [}', "local.settings.json": "{,}"},
    )
    found = messages(checks.check_json_files(facts))
    assert found == [
        'host.json has no "version": "2.0"',
        "local.settings.json is not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)",
        "Orders/function.json is not valid JSON: Expecting value (line 1, column 15)",
    ]


try:
    import opentelemetry.exporter.otlp.proto.grpc  # noqa: F401

    GRPC: list[str] = []
except ImportError:
    GRPC = ["OTLP over grpc needs its exporter, which is not installed; add 'funcscope[otlp-grpc]'"]


@pytest.mark.parametrize(
    ("settings", "found"),
    [
        ({"FUNCSCOPE_EXPORTER": "console"}, []),
        ({"FUNCSCOPE_EXPORTER": "none"}, []),
        ({checks.CONNECTION_STRING: CONNECTION_STRING}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, []),
        ({}, ["no exporter is configured, so spans and metrics are recorded but sent nowhere"]),
        ({"FUNCSCOPE_EXPORTER": "jaeger"}, ["FUNCSCOPE_EXPORTER='jaeger' (in local.settings.json) is not one of"]),
        (
            {checks.CONNECTION_STRING: "InstrumentationKey=x"},
            ["the Azure Monitor exporter could not be set"],
        ),
        ({"FUNCSCOPE_EXPORTER": "azure-monitor"}, ["the Azure Monitor exporter could not be set up"]),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, GRPC),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"}, ["OTEL_EXPORTER_OTLP_ENDPOINT='localhost:4318' (in"]),
    ],
)
def test_exporter_settings(tmp_path, monkeypatch, settings, found):
    # funcscope's own exporter set-up decides, as the app's start would: its messages are the findings.
    monkeypatch.delenv(checks.CONNECTION_STRING, raising=False)
    facts = app(tmp_path, settings=settings, probe=configured("orders"))
    assert [m[: len(f)] for m, f in zip(messages(checks.check_exporter(facts)), found, strict=True)] == found


def test_an_app_with_its_own_providers_needs_no_exporter_setting(tmp_path):
    provider = {"sdk": True, "by_funcscope": False, "parent_based": True}
    assert list(checks.check_exporter(app(tmp_path, probe=configured("orders", provider=provider)))) == []


def test_sampler_that_ignores_the_host(tmp_path):
    app(tmp_path, files={"function_app.py": SAMPLED_APP})
    (finding,) = checks.check_sampler(AppFacts(tmp_path, environ={}))
    assert "sampler TraceIdRatioBased (TraceIdRatioBased{0.5}) is not parent-based" in finding.message
    # Said once: funcscope warns about it at start-up too, and that message is this check's.
    assert list(checks.check_funcscope_messages(AppFacts(tmp_path, environ={}))) == []
    good = tmp_path / "good"
    good.mkdir()
    app(good, files={"function_app.py": SAMPLED_APP.replace("TraceIdRatioBased(0.5)", "ParentBased(ALWAYS_ON)")})
    assert list(checks.check_sampler(AppFacts(good, environ={}))) == []


SAMPLED_APP = """
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
import azure.functions as func
import funcscope

trace.set_tracer_provider(TracerProvider(sampler=TraceIdRatioBased(0.5)))
metrics.set_meter_provider(MeterProvider())
funcscope.configure()
app = func.FunctionApp()

@app.route(route="orders")
def orders(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")
"""


@pytest.mark.parametrize(
    ("settings", "count"),
    [
        ({"PYTHON_THREADPOOL_THREAD_COUNT": "8", "FUNCTIONS_WORKER_PROCESS_COUNT": "10"}, 0),
        ({"PYTHON_THREADPOOL_THREAD_COUNT": "0"}, 1),
        ({"PYTHON_THREADPOOL_THREAD_COUNT": "many", "FUNCTIONS_WORKER_PROCESS_COUNT": "11"}, 2),
    ],
)
def test_worker_counts(tmp_path, settings, count):
    found = list(checks.check_worker_counts(app(tmp_path, settings=settings)))
    assert len(found) == count and all("is out of range" in f.message for f in found)


def test_a_v2_script_that_does_not_import(tmp_path):
    facts = app(tmp_path, files={"function_app.py": "import azure.functions as func\nimport not_installed_anywhere\n"})
    (finding,) = checks.check_loads(facts)
    assert "No module named 'not_installed_anywhere'" in finding.message and "function_app.py:2" in finding.message
    assert list(checks.check_configured(facts)) == []  # said once: the app does not load


def test_never_configured(tmp_path):
    probe = AppProbe([{"name": "orders", "trigger": "httpTrigger", "decorated": False}], [], [], {})
    (finding,) = checks.check_configured(app(tmp_path, probe=probe))
    assert finding.message == "funcscope is never configured: no function of this app is traced"


def test_a_failing_check_is_a_finding_and_new_checks_plug_in(tmp_path):
    app(tmp_path)

    def broken(facts):
        raise KeyError("x")

    def custom(facts):
        yield Finding("custom finding", "custom fix")

    result = diagnose(tmp_path, [("broken", "never fails", broken), ("custom", "custom", custom)])
    assert [f.message for f in result.problems] == ["the check itself failed: KeyError: 'x'", "custom finding"]
    assert not result.ok and result.to_json()["checks"][1]["findings"][0]["fix"] == "custom fix"


def test_funcscope_switched_off_is_said_instead_of_the_path(tmp_path):
    facts = app(tmp_path, settings={"FUNCSCOPE_ENABLED": "false"}, probe=configured("orders"))
    (finding,) = checks.check_tracing_path(facts)
    assert finding.severity == "note"  # a choice, as the console and none exporters are
    assert finding.message == (
        "FUNCSCOPE_ENABLED='false' (in local.settings.json) switches funcscope off: no function of this app is "
        "traced, whatever the worker."
    )
    assert finding.fix == "remove FUNCSCOPE_ENABLED (or set it to true) to trace the app"
    facts = app(tmp_path, settings={"FUNCSCOPE_ENABLED": "true"}, probe=configured("orders"))
    assert "FUNCSCOPE_ENABLED" not in " ".join(messages(checks.check_tracing_path(facts)))
