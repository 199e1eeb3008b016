"""Loading apps: the sample apps, v1 details, and every kind of bad input."""

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from emutest import app_path

import funcscope.emulator
from funcscope.emulator import EmulatorError, Worker
from funcscope.instrumentation import sigterm

SCRIPT_ROOT = "AzureWebJobsScriptRoot"  # the host's spelling
SAMPLES = Path(funcscope.emulator.__file__).parent / "sample_apps"


def _http(**kw):
    return {"method": "POST", "body": {"a": 1}, **kw}


@pytest.mark.parametrize("app", ["v1_app", "v2_app"])
def test_sample_apps_load_and_every_function_succeeds(app):
    with Worker(SAMPLES / app, extensions_enabled=True) as worker:
        assert worker.functions
        for name, info in worker.functions.items():
            payload = _http() if info.trigger_type == "httpTrigger" else None
            result = worker.invoke(name, payload)
            assert result.ok, (name, result.exception)
            assert [e.message for e in result.logs if not e.is_system], name


def test_sample_v1_function_info_script_file_entry_point_and_relative_imports():
    with Worker(SAMPLES / "v1_app") as worker:
        info = worker.functions
        assert set(info) == {"CustomEntry", "HttpHello", "HttpHelloAsync", "QueueWorker", "TimerTick"}
        assert info["HttpHelloAsync"].is_async and info["HttpHelloAsync"].requires_context
        assert not info["HttpHello"].is_async and not info["HttpHello"].requires_context
        assert (info["QueueWorker"].trigger_type, info["QueueWorker"].trigger_binding_name) == ("queueTrigger", "msg")
        assert info["QueueWorker"].output_names == ("shipped",)
        assert info["HttpHello"].has_return and not info["TimerTick"].has_return
        custom = worker.invoke("CustomEntry", _http())  # scriptFile handler.py, entryPoint handle
        hello = worker.invoke("HttpHello", {"params": {"name": "Ada"}})  # imports ..shared_code
        queue = worker.invoke("QueueWorker", {"body": "order-1"})
        assert "AzureWebJobsScriptRoot" in os.environ
        assert os.environ[SCRIPT_ROOT] == str((SAMPLES / "v1_app").resolve())
    assert json.loads(custom.value.get_body()) == {"keys": ["a"]}
    assert hello.value.get_body() == b"Hello, Ada!"
    assert queue.outputs == {"shipped": "shipped:order-1"}


def test_sample_v2_blueprint_functions_included():
    with Worker(SAMPLES / "v2_app") as worker:
        info = worker.functions
        assert {"handle_payment", "ingest_telemetry", "on_upload"} <= set(info)
        assert info["handle_payment"].is_async and info["handle_payment"].trigger_type == "serviceBusTrigger"
        assert info["ingest_telemetry"].trigger_type == "eventHubTrigger"
        assert {i.directory for i in info.values()} == {str((SAMPLES / "v2_app").resolve())}
        assert all(b["direction"] in ("in", "out") for i in info.values() for b in i.bindings)
    assert "function_app" not in sys.modules and "jobs_blueprint" not in sys.modules


def test_script_root_and_sys_path_restored(monkeypatch):
    monkeypatch.setenv("AzureWebJobsScriptRoot", "/somewhere/else")
    path_before = list(sys.path)
    with Worker(SAMPLES / "v2_app"):
        assert os.environ[SCRIPT_ROOT] == str((SAMPLES / "v2_app").resolve())
        assert sys.path[0] == str((SAMPLES / "v2_app").resolve())
    assert os.environ[SCRIPT_ROOT] == "/somewhere/else"
    assert sys.path == path_before


def test_the_sigterm_handler_the_worker_installed_goes_with_it():
    def own(signum, frame):
        raise AssertionError("not called")

    previous = signal.signal(signal.SIGTERM, own)
    try:
        assert not sigterm.installed()
        with Worker(SAMPLES / "v2_app"):
            assert sigterm.installed() and signal.getsignal(signal.SIGTERM) is not own  # as the app would get it
        assert not sigterm.installed() and signal.getsignal(signal.SIGTERM) is own
        sigterm.instrument()  # installed before the Worker (an app's configure() on the main thread): it stays
        with Worker(SAMPLES / "v2_app"):
            pass
        assert sigterm.installed()
    finally:
        sigterm.uninstrument()
        signal.signal(signal.SIGTERM, previous)
    assert signal.getsignal(signal.SIGTERM) is previous


# -- bad input ------------------------------------------------------------------------------------


def _v1(tmp_path, name="Func", function_json=None, code="def main(req):\n    return None\n", script="__init__.py"):
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    if function_json is None:
        function_json = {"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"}]}
    text = function_json if isinstance(function_json, str) else json.dumps(function_json)
    (folder / "function.json").write_text(text)
    if code is not None:
        (folder / script).write_text(code)
    return tmp_path


def _error(app, **kwargs):
    with pytest.raises(EmulatorError) as info:
        Worker(app, **kwargs)
    assert info.value.__cause__ is None  # one clear message, not a chained traceback
    return str(info.value)


def test_missing_app_dir(tmp_path):
    assert "app folder not found" in _error(tmp_path / "nope")


def test_app_dir_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert "not a directory" in _error(f)


def test_no_functions(tmp_path):
    assert "no functions found" in _error(tmp_path)


def test_broken_function_json_names_file_and_position(tmp_path):
    _v1(tmp_path, function_json='{"bindings": [\n  {"type": "httpTrigger",, }]}')
    message = _error(tmp_path)
    assert str(tmp_path / "Func" / "function.json") in message
    assert "invalid JSON" in message and "line 2" in message


@pytest.mark.parametrize(
    ("function_json", "match"),
    [
        ({"nobindings": []}, "'bindings' must be a non-empty list"),
        ({"bindings": [{"type": "queue"}]}, "needs string 'type' and 'name'"),
        ({"bindings": [{"type": "queue", "name": "x", "direction": "out"}]}, "exactly one trigger binding"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_invalid_function_json_shape(tmp_path, function_json, match):
    _v1(tmp_path, function_json=function_json)
    assert match in _error(tmp_path)


def test_missing_script_file(tmp_path):
    _v1(tmp_path, code=None)
    message = _error(tmp_path)
    assert "cannot load function 'Func'" in message and "script file not found" in message


def test_missing_entry_point(tmp_path):
    _v1(
        tmp_path,
        function_json={"entryPoint": "run", "bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"}]},
    )
    message = _error(tmp_path)
    assert "cannot load function 'Func'" in message and "no callable 'run'" in message


def test_import_error_in_user_code_reports_function_and_original_error(tmp_path):
    _v1(tmp_path, code="import nonexistent_module_for_emulator_test\n\ndef main(req):\n    pass\n")
    message = _error(tmp_path)
    assert "cannot load function 'Func'" in message
    assert "ModuleNotFoundError" in message and "nonexistent_module_for_emulator_test" in message
    assert "__init__.py:1" in message
    assert "Traceback" not in message


def test_syntax_error_and_sys_exit_in_user_code(tmp_path):
    _v1(tmp_path, code="def main(req)\n    pass\n")
    assert "SyntaxError" in _error(tmp_path)
    _v1(tmp_path, code="import sys\nsys.exit(3)\n")
    assert "SystemExit" in _error(tmp_path)


def test_parameters_must_match_bindings(tmp_path):
    _v1(tmp_path, code="def main(request):\n    pass\n")
    message = _error(tmp_path)
    assert "bindings without a parameter: ['req']" in message
    assert "parameters without a binding: ['request']" in message


def test_v2_without_or_with_two_function_apps(tmp_path):
    (tmp_path / "function_app.py").write_text("x = 1\n")
    assert "expected exactly one top-level FunctionApp, found 0" in _error(tmp_path)
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as func\na = func.FunctionApp()\nb = func.FunctionApp()\n"
    )
    assert "found 2" in _error(tmp_path)


def test_v2_import_error(tmp_path):
    (tmp_path / "function_app.py").write_text("raise RuntimeError('app exploded')\n")
    message = _error(tmp_path)
    assert "cannot index" in message and "RuntimeError: app exploded" in message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hooks": "sometimes"}, "hooks must be"),
        ({"thread_count": 0}, "thread_count must be an integer >= 1"),
        ({"process_count": "2"}, "process_count must be an integer >= 1"),
        ({"env": {"A": 1}}, "env must map str to str"),
    ],
)
def test_bad_worker_arguments(kwargs, match):
    assert match in _error(app_path("hooks_v2"), **kwargs)


def test_failed_start_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.delenv("EMULATOR_TEST_FAILED", raising=False)
    _v1(tmp_path, code="raise ValueError('no')\n")
    _error(tmp_path, env={"EMULATOR_TEST_FAILED": "1"}, extensions_enabled=True)
    assert "EMULATOR_TEST_FAILED" not in os.environ
    assert not any(n == "__app__" or n.startswith("__app__.") for n in sys.modules)
    with Worker(app_path("hooks_v2")) as worker:  # the process is free for the next Worker
        assert worker.invoke("sync_func", {}).ok


def test_only_one_in_process_worker_at_a_time():
    with Worker(app_path("hooks_v2")):
        assert "another in-process Worker is running" in _error(app_path("hooks_v1"))
