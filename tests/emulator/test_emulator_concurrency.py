"""Threads, tasks and log attribution: the sync pool, the event loop and user-started threads."""

import threading

import pytest
from emutest import HOOK_APPS, app_path, body, messages, req

from funcscope.emulator import Call, Worker
from funcscope.emulator.context import invocation_local

KINDS = ["v1", "v2"]


def _worker(kind, **kwargs):
    kwargs.setdefault("extensions_enabled", True)
    return Worker(app_path(HOOK_APPS[kind][0]), **kwargs)


def _name(kind, mode):
    return HOOK_APPS[kind][1][mode]


@pytest.mark.parametrize("kind", KINDS)
def test_sync_thread_local_set_during_invocation_and_reset_after(kind):
    with _worker(kind, thread_count=1) as worker:
        result = worker.invoke(_name(kind, "sync"), req())
        observed = body(result)
        # The same (only) pool thread, after the invocation: the worker reset it to None.
        after = worker._local._pool.submit(
            lambda: (threading.current_thread().name, getattr(invocation_local, "invocation_id", "unset"))
        ).result()
    assert observed["tls"] == result.invocation_id
    assert observed["thread"].startswith("ThreadPoolExecutor")
    assert after == (observed["thread"], None)


@pytest.mark.parametrize("kind", KINDS)
def test_async_runs_on_loop_thread_and_loop_thread_local_is_never_cleared(kind):
    with _worker(kind) as worker:
        first = worker.invoke(_name(kind, "async"), req())
        sync = worker.invoke(_name(kind, "sync"), req())
        a, b = worker.invoke_many(
            [
                Call(_name(kind, "async"), req(action="wait_peer", key=f"k-{kind}")),
                Call(_name(kind, "async"), req(action="set_peer", key=f"k-{kind}")),
            ]
        )
    assert body(first)["thread"] == "worker-event-loop"
    assert body(first)["tls"] == first.invocation_id
    assert body(sync)["thread"] != "worker-event-loop"
    # A started, B ran to completion meanwhile: the loop thread's thread-local names B, the last
    # invocation that started, and is not cleared when B ends ...
    assert body(a)["tls"] == a.invocation_id
    assert body(a)["tls_after_wait"] == b.invocation_id
    # ... while A's own task mark still attributes A's logs to A.
    assert messages(a.logs) == ["after wait"]
    assert all(e.invocation_id == a.invocation_id for e in a.logs)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_logs_in_invocation_are_attributed(kind, mode):
    with _worker(kind) as worker:
        result = worker.invoke(_name(kind, mode), req(action="log"))
    user = [e for e in result.logs if not e.is_system]
    assert messages(user) == [f"user log {result.invocation_id}"]
    assert user[0].invocation_id == result.invocation_id
    assert user[0].logger_name == "apptest"
    assert result.unattributed_logs == []


@pytest.mark.parametrize(
    ("mode", "action", "message"),
    [
        ("sync", "thread", "from thread"),
        ("sync", "executor", "from executor"),
        ("async", "thread", "from thread"),
        ("async", "run_in_executor", "from run_in_executor"),
        ("async", "to_thread", "from to_thread"),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_logs_from_user_threads_have_no_invocation_id(kind, mode, action, message):
    with _worker(kind) as worker:
        result = worker.invoke(_name(kind, mode), req(action=action))
        everything = worker.unattributed_logs
    assert result.ok, result.exception
    assert messages(result.logs) == []
    assert messages(result.unattributed_logs) == [message]
    assert result.unattributed_logs[0].invocation_id is None
    assert message in messages(everything)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_setting_thread_local_in_user_thread_restores_attribution(kind, mode):
    with _worker(kind) as worker:
        result = worker.invoke(_name(kind, mode), req(action="thread_fixed"))
    assert messages(result.logs) == ["from fixed thread"]
    assert result.logs[0].thread_name == "user-thread-fixed"
    assert result.unattributed_logs == []


@pytest.mark.parametrize("kind", KINDS)
def test_task_created_in_async_invocation_inherits_the_mark(kind):
    with _worker(kind) as worker:
        result = worker.invoke(_name(kind, "async"), req(action="create_task"))
    assert messages(result.logs) == ["from task"]
    assert result.logs[0].invocation_id == result.invocation_id
    assert result.unattributed_logs == []


@pytest.mark.parametrize("kind", KINDS)
def test_thread_count_one_runs_every_sync_invocation_on_one_thread(kind, monkeypatch):
    monkeypatch.setenv("PYTHON_THREADPOOL_THREAD_COUNT", "1")
    with _worker(kind) as worker:
        assert worker.thread_count == 1
        results = worker.invoke_many([Call(_name(kind, "sync"), req()) for _ in range(12)])
    threads = {body(r)["thread"] for r in results}
    assert len(threads) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_invocations_one_after_another_run_on_one_pool_thread(kind):
    # As in the worker, where the next request comes a host round trip after the previous answer, when the
    # previous invocation's thread is idle again; a new thread would lose what the app left on the old one.
    with _worker(kind, thread_count=4) as worker:
        sequential = [worker.invoke(_name(kind, "sync"), req()) for _ in range(20)]
        batched = worker.invoke_many([Call(_name(kind, "sync"), req()) for _ in range(20)], concurrency=1)
    assert len({body(r)["thread"] for r in sequential + batched}) == 1


def test_thread_count_from_argument_env_and_default(monkeypatch):
    import os

    monkeypatch.delenv("PYTHON_THREADPOOL_THREAD_COUNT", raising=False)
    with _worker("v2") as worker:
        assert worker.thread_count == min(32, (os.cpu_count() or 1) + 4)
    with _worker("v2", env={"PYTHON_THREADPOOL_THREAD_COUNT": "3"}) as worker:
        assert worker.thread_count == 3
    with _worker("v2", thread_count=2) as worker:
        assert worker.thread_count == 2
    assert "PYTHON_THREADPOOL_THREAD_COUNT" not in os.environ


def test_several_pool_threads_are_used_when_allowed():
    gate = threading.Barrier(2)
    with _worker("v2", thread_count=4) as worker:
        # Two invocations that can only finish together must be on two threads at once.
        worker._local._pool.submit(gate.wait)
        result = worker.invoke("sync_func", req())
        gate.wait()
    assert result.ok


def test_invoke_many_keeps_order_and_respects_concurrency():
    with _worker("v1") as worker:
        calls = [Call("SyncFunc" if i % 2 else "AsyncFunc", req(), invocation_id=f"id-{i}") for i in range(10)]
        results = worker.invoke_many(calls, concurrency=3)
    assert [r.invocation_id for r in results] == [f"id-{i}" for i in range(10)]
    assert [body(r)["invocation_id"] for r in results] == [f"id-{i}" for i in range(10)]
    for r in results:
        assert r.timings.total_s >= r.timings.run_s >= 0
        assert r.timings.queued_s >= 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_calls_sharing_one_payload_each_get_their_own_invocation(mode):
    payload = req()
    with _worker("v2") as worker:
        results = worker.invoke_many([Call(_name("v2", mode), payload) for _ in range(6)], concurrency=2)
    assert all(r.ok for r in results)
    ids = [body(r)["invocation_id"] for r in results]
    assert ids == [r.invocation_id for r in results]
    assert len(set(ids)) == 6


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_invoke_many_never_has_more_in_flight_than_asked(mode):
    import appactions

    appactions.OVERLAP.update(now=0, peak=0)
    with _worker("v2", thread_count=8) as worker:
        results = worker.invoke_many([Call(_name("v2", mode), req(action="overlap")) for _ in range(9)], concurrency=3)
    assert all(r.ok for r in results)
    # Each call holds its slot for 20 ms, so the first three overlap; a fourth never joins them.
    assert appactions.OVERLAP["peak"] == 3


def test_log_fields_capture_extra_and_make_values_picklable():
    with _worker("v2") as worker:
        result = worker.invoke("sync_func", req(action="log_extra"))
    (entry,) = result.logs
    assert entry.fields["custom"] == {"a": 1}
    assert isinstance(entry.fields["lock"], str) and "lock" in entry.fields["lock"]


@pytest.mark.parametrize("kind", KINDS)
def test_contextvars_leak_on_reused_pool_thread_but_not_between_async_tasks(kind):
    import appactions

    token = appactions.CV.set("set-by-caller")
    try:
        with _worker(kind, thread_count=1) as worker:
            s1, s2 = (worker.invoke(_name(kind, "sync"), req(action="cv")) for _ in range(2))
            a1, a2 = (worker.invoke(_name(kind, "async"), req(action="cv")) for _ in range(2))
    finally:
        appactions.CV.reset(token)
    # The pool thread keeps its contextvars between invocations: the second sees the first's value.
    assert body(s1)["cv_before"] is None
    assert body(s2)["cv_before"] == s1.invocation_id
    # Each async invocation's task starts from a fresh context, never the caller's.
    assert body(a1)["cv_before"] is None
    assert body(a2)["cv_before"] is None


def test_invoke_many_starts_every_async_invocation_from_an_empty_context():
    import appactions

    token = appactions.CV.set("set-by-caller")
    try:
        with _worker("v2") as worker:
            results = worker.invoke_many(
                [Call(_name("v2", "async"), req(action="cv")) for _ in range(4)], concurrency=1
            )
    finally:
        appactions.CV.reset(token)
    assert [body(r)["cv_before"] for r in results] == [None] * 4
