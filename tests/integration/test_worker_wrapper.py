"""@funcscope.function: the pipeline on workers that run no extension hooks (the Python 3.13+ worker, extensions
off), and only the failure report where the hooks run already."""

from __future__ import annotations

import pytest

from funcscope.emulator import Worker
from funcscope.emulator.extension_manager import ExtensionManager
from funcscope.instrumentation import classic_worker
from funcscope.runtime import get_runner

from . import capture
from .conftest import APPS, HOST_TRACE, host_parent

APP = APPS / "wrapped_v2"

WORKERS = {
    "python-3.13-worker": {"extensions_enabled": True, "hooks": "none"},
    "extensions-off": {"extensions_enabled": False},
    "classic-worker": {"extensions_enabled": True},
}


def spans_named(name):
    return [s for s in capture.finished_spans() if s["name"] == name]


@pytest.mark.parametrize("worker_kind", list(WORKERS))
@pytest.mark.parametrize("function", ["plain", "asks"])
def test_one_span_per_invocation_on_every_worker(worker_kind, function):
    with Worker(APP, thread_count=2, **WORKERS[worker_kind]) as worker:
        classic_worker.uninstrument(ExtensionManager)  # failures must be reported by the wrapper itself
        ok = worker.invoke(function, {"url": f"http://localhost/api/{function}"}, trace_parent=host_parent(1))
        failed = worker.invoke(
            function, {"url": f"http://localhost/api/{function}?fail=1"}, trace_parent=host_parent(2)
        )
    ok.raise_for_exception()
    assert isinstance(failed.exception, ValueError)  # unchanged
    spans = {s["attributes"]["faas.invocation_id"]: s for s in spans_named(function)}
    assert set(spans) == {ok.invocation_id, failed.invocation_id}  # exactly one span each, never two
    assert spans[ok.invocation_id]["trace_id"] == HOST_TRACE
    assert spans[ok.invocation_id]["parent_span_id"] == f"{2:016x}" and spans[ok.invocation_id]["status"] == "UNSET"
    failed_span = spans[failed.invocation_id]
    assert failed_span["status"] == "ERROR" and failed_span["events"][0][1]["exception.type"] == "ValueError"
    assert "azure.functions.invocation.abandoned" not in failed_span["attributes"]
    user_logs = [e.message for e in ok.logs if not e.is_system]
    assert user_logs == [f"{function} thread log"]  # propagation works on the wrapper path too
    if function == "plain":
        assert ok.value.get_body().decode() == spans[ok.invocation_id]["span_id"]
        assert spans[ok.invocation_id]["attributes"]["flavour"] == "sync"
    else:
        assert ok.value.get_body().decode() == ok.invocation_id  # the function's own context parameter
    assert get_runner().in_flight() == 0


def test_options_follow_the_hosts_name():
    with Worker(APP, extensions_enabled=True, hooks="none") as worker:
        worker.invoke("renamed", {"url": "http://localhost/api/renamed"}, trace_parent="").raise_for_exception()
    assert spans_named("renamed") == []  # sample_ratio=0.0 for roots, found under the host's name


def test_called_outside_the_worker_is_plain():
    """A unit test of the user's own calls the function directly, with no context: it just runs."""
    import azure.functions as func

    with Worker(APP, extensions_enabled=True) as worker:
        user_fn = worker._local.functions["plain"].func  # the function as the worker loaded it
        response = user_fn(func.HttpRequest("GET", "http://localhost/api/plain", body=b""))
    assert response.status_code == 200 and spans_named("plain") == []
