"""Extension hooks: order, load hooks, failures, the on/off setting, hooks="none", isolation."""

import sys

import apprecorder
import pytest
from azure.functions import ExtensionMeta
from emutest import (
    HOOK_APPS,
    app_path,
    body,
    expected_invocation_hooks,
    hooks_for,
    load_records,
    messages,
    req,
)

from funcscope.emulator import Call, Worker

KINDS = ["v1", "v2"]
MODES = ["sync", "async"]


def _worker(kind, **kwargs):
    kwargs.setdefault("extensions_enabled", True)
    return Worker(app_path(HOOK_APPS[kind][0]), **kwargs)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_invocation_hooks_run_in_worker_order(kind, mode):
    fname = HOOK_APPS[kind][1][mode]
    with _worker(kind) as worker:
        result = worker.invoke(fname, req())
    observed = body(result)
    records = [r for r in apprecorder.snapshot() if r.invocation_id == result.invocation_id]
    # App pre hooks, then function pre hooks, registration order; post hooks are NOT reversed.
    assert [(r.hook, r.extension) for r in records] == expected_invocation_hooks(kind)
    expected_thread = observed["thread"] if mode == "sync" else "worker-event-loop"
    assert {r.thread for r in records} == {expected_thread}
    if mode == "sync":
        assert expected_thread.startswith("ThreadPoolExecutor")
    for r in records:
        assert r.function == fname
        assert r.detail["logger"] == f"azure_functions_worker.extension.{r.extension}"
        assert r.detail["args"] == ["context", "req"]  # func_args includes the context, as in the worker
        if r.hook.startswith("post"):
            assert r.detail["ret"] == "HttpResponse"


@pytest.mark.parametrize("kind", KINDS)
def test_load_hooks_function_level_then_app_level(kind):
    folder, names = HOOK_APPS[kind]
    with _worker(kind):
        records = apprecorder.snapshot()
    loads = load_records(records)
    if kind == "v1":
        expected = []
        for fname in ("AsyncFunc", "SyncFunc"):  # folders load in name order
            expected += [
                ("post_function_load", "FuncExtA", fname),
                ("post_function_load", "FuncExtB", fname),
                ("post_function_load_app_level", "AppExtA", fname),
                ("post_function_load_app_level", "AppExtB", fname),
            ]
        dirs = {r.function: r.detail for r in records}
        assert dirs["SyncFunc"] == str(app_path(folder) / "SyncFunc")
    else:
        expected = [
            ("post_function_load_app_level", ext, fname)
            for fname in ("sync_func", "async_func")
            for ext in ("AppExtA", "AppExtB")
        ]
        assert {r.detail for r in records} == {str(app_path(folder))}
    assert loads == expected
    assert {r.thread for r in records} == {"worker-event-loop"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_function_exception_skips_every_post_hook(kind, mode):
    with _worker(kind) as worker:
        result = worker.invoke(HOOK_APPS[kind][1][mode], req(action="raise"))
    assert not result.ok
    assert isinstance(result.exception, ValueError)
    assert str(result.exception) == "requested failure"
    with pytest.raises(ValueError, match="requested failure"):
        result.raise_for_exception()
    hooks = hooks_for(apprecorder.snapshot(), result.invocation_id)
    assert hooks == [h for h in expected_invocation_hooks(kind) if h[0].startswith("pre")]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("kind", "failing"),
    [
        ("v1", "AppExtA.pre_invocation_app_level"),
        ("v1", "FuncExtA.pre_invocation"),
        ("v1", "FuncExtB.post_invocation"),
        ("v2", "AppExtB.post_invocation_app_level"),
    ],
)
def test_hook_exception_is_logged_and_swallowed(kind, mode, failing):
    with _worker(kind) as worker:
        result = worker.invoke(HOOK_APPS[kind][1][mode], req(hook_raise=failing))
    assert result.ok, result.exception
    body(result)
    # Every hook still ran, including the failing one and the ones after it.
    assert hooks_for(apprecorder.snapshot(), result.invocation_id) == expected_invocation_hooks(kind)
    ext = failing.split(".")[0]
    errors = [e for e in result.logs if e.levelname == "ERROR"]
    assert len(errors) == 1
    (error,) = errors
    assert error.logger_name == f"azure_functions_worker.extension.{ext}"
    assert error.is_system
    assert error.message == f"boom in {failing}"
    assert error.invocation_id == result.invocation_id
    assert "RuntimeError" in (error.exc_text or "")


@pytest.mark.parametrize("setting", [None, "0", "false", "yes"])
@pytest.mark.parametrize("kind", KINDS)
def test_extensions_off_register_but_run_no_hook(kind, setting, monkeypatch):
    if setting is None:
        monkeypatch.delenv("PYTHON_ENABLE_WORKER_EXTENSIONS", raising=False)
    else:
        monkeypatch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", setting)
    with _worker(kind, extensions_enabled=None) as worker:
        assert not worker.extensions_enabled
        results = [worker.invoke(name, req()) for name in HOOK_APPS[kind][1].values()]
        registered = worker.run_in_each_process(apprecorder.registered_extensions)[0]
    assert all(r.ok for r in results)
    assert registered["AppExtension"][-2:] == ["AppExtA", "AppExtB"]
    assert apprecorder.snapshot() == []


@pytest.mark.parametrize("setting", ["1", "true", "TRUE", " True "])
def test_extension_setting_true_values(setting, monkeypatch):
    monkeypatch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", setting)
    with _worker("v2", extensions_enabled=None) as worker:
        result = worker.invoke("sync_func", req())
    assert hooks_for(apprecorder.snapshot(), result.invocation_id) == expected_invocation_hooks("v2")


def test_setting_is_read_at_each_call(monkeypatch):
    # The setting is undone before the Worker puts back the environment it found.
    with _worker("v2") as worker, monkeypatch.context() as patch:
        patch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", "0")
        off = worker.invoke("sync_func", req())
        patch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", "1")
        on = worker.invoke("sync_func", req())
    records = apprecorder.snapshot()
    assert hooks_for(records, off.invocation_id) == []
    assert hooks_for(records, on.invocation_id) == expected_invocation_hooks("v2")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_hooks_none_runs_no_hook_even_when_enabled(kind, mode):
    with _worker(kind, hooks="none") as worker:
        assert not worker.extensions_enabled
        result = worker.invoke(HOOK_APPS[kind][1][mode], req())
        failed = worker.invoke(HOOK_APPS[kind][1][mode], req(action="raise"))
        registered = worker.run_in_each_process(apprecorder.registered_extensions)[0]
    observed = body(result)
    assert observed["tls"] == result.invocation_id
    assert isinstance(failed.exception, ValueError)
    assert "AppExtA" in registered["AppExtension"]  # classes still register on import
    assert apprecorder.snapshot() == []  # neither load nor invocation hooks


def test_extensions_enabled_argument_sets_and_restores_the_setting(monkeypatch):
    monkeypatch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", "0")
    import os

    with _worker("v2", extensions_enabled=True) as worker:
        assert os.environ["PYTHON_ENABLE_WORKER_EXTENSIONS"] == "1"
        assert worker.extensions_enabled
    assert os.environ["PYTHON_ENABLE_WORKER_EXTENSIONS"] == "0"


@pytest.mark.parametrize("kind", KINDS)
def test_registry_and_modules_restored_after_close(kind):
    before_info = ExtensionMeta.get_registered_extensions_json()
    before_app_hooks = ExtensionMeta.get_application_hooks()
    before_names = None if before_app_hooks is None else [m.ext_name for m in before_app_hooks.pre_invocation_app_level]
    with _worker(kind) as worker:
        assert "recording_ext" in sys.modules
        during = worker.run_in_each_process(apprecorder.registered_extensions)[0]
        assert "AppExtA" in during["AppExtension"]
    assert ExtensionMeta.get_registered_extensions_json() == before_info
    after_app_hooks = ExtensionMeta.get_application_hooks()
    after_names = None if after_app_hooks is None else [m.ext_name for m in after_app_hooks.pre_invocation_app_level]
    assert after_names == before_names
    assert ExtensionMeta.get_function_hooks("SyncFunc") is None
    assert "recording_ext" not in sys.modules  # so the next app registers its extensions afresh
    assert not any(name == "__app__" or name.startswith("__app__.") for name in sys.modules)
    assert "function_app" not in sys.modules
    assert "apprecorder" in sys.modules  # not an app module, not an extension module
    # A second Worker on the same app registers and runs the extensions again, exactly once each.
    apprecorder.clear()
    with _worker(kind) as worker:
        result = worker.invoke(HOOK_APPS[kind][1]["sync"], req())
    assert hooks_for(apprecorder.snapshot(), result.invocation_id) == expected_invocation_hooks(kind)


def test_apps_in_sequence_do_not_see_each_others_extensions():
    with _worker("v1") as worker:
        worker.invoke("SyncFunc", req())
    with Worker(app_path("triggers_v1"), extensions_enabled=True) as worker:
        apprecorder.clear()
        result = worker.invoke("Queue", {"body": "x"})
        registered = worker.run_in_each_process(apprecorder.registered_extensions)[0]
    assert result.ok
    assert "AppExtA" not in registered.get("AppExtension", [])
    assert apprecorder.snapshot() == []


def test_invoke_many_runs_hooks_for_every_call():
    with _worker("v1") as worker:
        results = worker.invoke_many([Call("SyncFunc", req()), Call("AsyncFunc", req())] * 3)
    records = apprecorder.snapshot()
    for result in results:
        assert hooks_for(records, result.invocation_id) == expected_invocation_hooks("v1")
    assert messages(results[0].logs) == []


@pytest.mark.parametrize("mode", MODES)
def test_extension_manager_methods_can_be_wrapped_with_wrapt(mode):
    import wrapt

    from funcscope.emulator import ExtensionManager

    seen = []

    def spy(wrapped, instance, args, kwargs):
        seen.append(args[1])  # hook_name
        return wrapped(*args, **kwargs)

    def wrapper_spy(wrapped, instance, args, kwargs):
        seen.append("wrapper")
        return wrapped(*args, **kwargs)

    originals = {
        name: ExtensionManager.__dict__[name]
        for name in ("_invocation_extension", "_raw_invocation_wrapper", "get_async_invocation_wrapper")
    }
    wrapt.wrap_function_wrapper(ExtensionManager, "_invocation_extension", spy)
    wrapped_name = "_raw_invocation_wrapper" if mode == "sync" else "get_async_invocation_wrapper"
    wrapt.wrap_function_wrapper(ExtensionManager, wrapped_name, wrapper_spy)
    try:
        with _worker("v2") as worker:
            result = worker.invoke(HOOK_APPS["v2"][1][mode], req())
    finally:
        for name, original in originals.items():
            setattr(ExtensionManager, name, original)
    assert result.ok
    assert seen == [
        "wrapper",
        "pre_invocation_app_level",
        "pre_invocation",
        "post_invocation",
        "post_invocation_app_level",
    ]
