"""The driver's own promises: clear errors for calls it cannot make, and a worker that dies is reported."""

from __future__ import annotations

import pytest

from funcscope.bench.realworker.client import RealWorker, RealWorkerError

from .conftest import APPS, LIB


@pytest.fixture(scope="module")
def worker(location):
    with RealWorker(APPS / "traced_v2", python_path=[LIB], location=location) as w:
        yield w


def test_the_app_is_loaded_as_the_worker_indexed_it(worker):
    assert worker.model == "v2"
    assert set(worker.functions) == {"hello", "ahello", "retried", "aretried", "on_order", "tick"}
    assert worker.functions["retried"]["trigger_type"] == "eventHubTrigger"
    assert all(load["ok"] for load in worker.loads)


@pytest.mark.parametrize(
    ("function", "payload", "message"),
    [
        ("nope", None, "unknown function 'nope'; this app has: ahello, aretried, hello, on_order, retried, tick"),
        ("hello", {"query": {}}, "unknown key(s) ['query']"),
        ("hello", "a string", "must be an object"),
    ],
)
def test_a_call_the_driver_cannot_make_is_refused_with_a_clear_message(worker, function, payload, message):
    with pytest.raises(RealWorkerError) as refused:
        worker.invoke(function, payload)
    assert message in str(refused.value)
    assert worker.invoke("hello").ok  # and the driver goes on


def test_a_worker_process_that_dies_is_reported_with_its_exit_code(location):
    with (
        RealWorker(APPS / "traced_v2", python_path=[LIB], location=location, timeout=30) as worker,
        pytest.raises(RealWorkerError, match=r"worker 0 \(pid \d+\) exited with code 7"),
    ):
        worker.invoke("hello", {"params": {"action": "exit", "code": "7"}})
