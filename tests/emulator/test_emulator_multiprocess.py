"""Several worker processes: distribution, per-process hooks and logs, pickling, lifecycle."""

import os

import apprecorder
import pytest
from emutest import app_path, body, expected_invocation_hooks, hooks_for, load_records, messages, req

from funcscope.emulator import Call, EmulatorError, RemoteException, Unpicklable, Worker


@pytest.fixture(scope="module")
def mp_worker():
    with Worker(
        app_path("hooks_v1"), process_count=2, extensions_enabled=True, env={"EMULATOR_TEST_MARKER": "from-parent"}
    ) as worker:
        yield worker


def _all_records(worker):
    return [r for part in worker.run_in_each_process(apprecorder.snapshot) for r in part]


def test_two_processes_run_invocations(mp_worker):
    assert len(set(mp_worker.pids)) == 2
    assert os.getpid() not in mp_worker.pids
    assert mp_worker.run_in_each_process(apprecorder.pid) == mp_worker.pids
    results = mp_worker.invoke_many(
        [Call("SyncFunc", req()) for _ in range(4)] + [Call("AsyncFunc", req()) for _ in range(4)]
    )
    assert {r.pid for r in results} == set(mp_worker.pids)
    for r in results:
        assert body(r)["pid"] == r.pid


def test_serial_invocations_alternate_between_processes(mp_worker):
    pids = [mp_worker.invoke("SyncFunc", req()).pid for _ in range(4)]
    assert set(pids) == set(mp_worker.pids)


@pytest.mark.parametrize("mode", ["SyncFunc", "AsyncFunc"])
def test_hooks_order_in_each_process(mp_worker, mode):
    results = mp_worker.invoke_many([Call(mode, req()) for _ in range(4)])
    records = _all_records(mp_worker)
    for r in results:
        assert hooks_for(records, r.invocation_id) == expected_invocation_hooks("v1")
    assert {r.pid for r in results} == set(mp_worker.pids)


def test_load_hooks_ran_in_every_process(mp_worker):
    per_process = mp_worker.run_in_each_process(apprecorder.snapshot)
    for records in per_process:
        loads = load_records(records)
        assert loads[:4] == [
            ("post_function_load", "FuncExtA", "AsyncFunc"),
            ("post_function_load", "FuncExtB", "AsyncFunc"),
            ("post_function_load_app_level", "AppExtA", "AsyncFunc"),
            ("post_function_load_app_level", "AppExtB", "AsyncFunc"),
        ]


@pytest.mark.parametrize("mode", ["SyncFunc", "AsyncFunc"])
def test_raise_skips_post_hooks_and_exception_comes_back(mp_worker, mode):
    result = mp_worker.invoke(mode, req(action="raise"))
    assert isinstance(result.exception, ValueError)
    assert str(result.exception) == "requested failure"
    hooks = hooks_for(_all_records(mp_worker), result.invocation_id)
    assert hooks == [h for h in expected_invocation_hooks("v1") if h[0].startswith("pre")]


def test_hook_exception_logged_in_child(mp_worker):
    result = mp_worker.invoke("SyncFunc", req(hook_raise="AppExtB.post_invocation_app_level"))
    assert result.ok
    (error,) = [e for e in result.logs if e.levelname == "ERROR"]
    assert error.logger_name == "azure_functions_worker.extension.AppExtB"


@pytest.mark.parametrize(
    ("mode", "action", "attributed", "unattributed"),
    [
        ("SyncFunc", "log", True, False),
        ("SyncFunc", "thread", False, True),
        ("SyncFunc", "thread_fixed", True, False),
        ("AsyncFunc", "create_task", True, False),
        ("AsyncFunc", "to_thread", False, True),
    ],
)
def test_log_attribution_in_child(mp_worker, mode, action, attributed, unattributed):
    result = mp_worker.invoke(mode, req(action=action))
    assert result.ok
    user = [e for e in result.logs if not e.is_system]
    assert bool(user) is attributed
    assert bool(result.unattributed_logs) is unattributed
    if unattributed:
        assert result.unattributed_logs[0].message in messages(mp_worker.unattributed_logs)


def test_thread_local_in_child(mp_worker):
    result = mp_worker.invoke("SyncFunc", req())
    assert body(result)["tls"] == result.invocation_id


def test_unpicklable_value_comes_back_as_stand_in(mp_worker):
    result = mp_worker.invoke("SyncFunc", req(action="unpicklable"))
    assert result.ok
    assert isinstance(result.value, Unpicklable)
    assert result.value.type_name == "lock"


def test_env_reaches_children_and_trace_context_is_passed(mp_worker):
    result = mp_worker.invoke("SyncFunc", req(action="env", name="EMULATOR_TEST_MARKER"))
    assert body(result)["env"] == "from-parent"
    assert os.environ["EMULATOR_TEST_MARKER"] == "from-parent"
    info = body(mp_worker.invoke("AsyncFunc", req(action="context_info"), trace_parent="odd", trace_state="s=1"))
    assert (info["trace_parent"], info["trace_state"]) == ("odd", "s=1")


def test_errors_in_children_are_reported(mp_worker):
    with pytest.raises(EmulatorError, match="unknown function 'Nope'"):
        mp_worker.invoke("Nope")
    with pytest.raises(EmulatorError, match="unknown key"):
        mp_worker.invoke("SyncFunc", {"bogus": 1})
    with pytest.raises(ZeroDivisionError):
        mp_worker.run_in_each_process(divmod, 1, 0)


def test_app_defined_exception_becomes_remote_exception(mp_worker):
    # The parent cannot import a class defined in the app: a stand-in named after it arrives.
    result = mp_worker.invoke("SyncFunc", req(action="raise_app_error"))
    assert isinstance(result.exception, RemoteException)
    assert result.exception.type_name == "AppError"
    assert "bad thing" in str(result.exception)
    with pytest.raises(RemoteException):
        result.raise_for_exception()


def test_process_count_from_env_and_close_stops_children_and_restores_env(monkeypatch):
    monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "2")  # no process_count: the app setting says how many
    worker = Worker(app_path("hooks_v2"), env={"EMULATOR_TEST_CLOSE": "1"})
    assert worker.process_count == 2 and len(worker.pids) == 2
    processes = [c.process for c in worker._remote._children]
    assert worker.invoke("sync_func", req()).ok
    worker.close()
    worker.close()
    assert all(not p.is_alive() for p in processes)
    assert "EMULATOR_TEST_CLOSE" not in os.environ
    with pytest.raises(EmulatorError, match="closed"):
        worker.invoke("sync_func", req())


def test_startup_failure_in_child_is_reported(tmp_path):
    (tmp_path / "Broken").mkdir()
    (tmp_path / "Broken" / "function.json").write_text("{not json")
    with pytest.raises(EmulatorError, match="invalid JSON"):
        Worker(tmp_path, process_count=2)


@pytest.mark.parametrize("process_count", [1, 2])
def test_initializer_runs_in_each_process_with_its_env_before_the_app_loads(process_count):
    apprecorder.clear()
    with Worker(
        app_path("hooks_v2"),
        process_count=process_count,
        env={"EMULATOR_TEST_MARKER": "set"},
        initializer=apprecorder.note_start,
        initargs=("started",),
    ) as worker:
        seen = [r for part in worker.run_in_each_process(apprecorder.snapshot) for r in part if r.hook == "initializer"]
    assert [(r.extension, r.detail) for r in seen] == [("started", ("set", False))] * process_count
