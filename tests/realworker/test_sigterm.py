"""The real classic worker (4.34), stopped with SIGTERM right after its last response, as the host stops it on
scale-in: every invocation's telemetry arrives, and each worker process still dies by SIGTERM.

funcscope sets its own providers up here (Azure Monitor, to a receiver on 127.0.0.1), with export delays of ten
minutes, and SIGTERM runs no exit handler: only funcscope's SIGTERM flush can deliver (without it, 0 of them
arrive). The app also records where the worker imports it: on its main thread, where funcscope installs its
handler.
"""

from __future__ import annotations

import pytest

from funcscope.bench.realworker.client import RealWorker
from tests.integration.receivers import AppInsightsReceiver
from tests.integration.test_export import EXPORT_ONLY_AT_EXIT, QUIET_AZURE

from .conftest import APPS, LIB, new_trace

APP = APPS / "stopped_v1"


@pytest.mark.parametrize("processes", [1, 2])
def test_the_real_worker_stopped_by_sigterm_delivers_every_invocation(location, tmp_path, processes):
    with AppInsightsReceiver() as app_insights:
        env = {
            **QUIET_AZURE,
            **EXPORT_ONLY_AT_EXIT,
            "APPLICATIONINSIGHTS_CONNECTION_STRING": app_insights.connection_string(),
            "FUNCSCOPE_FLUSH_TIMEOUT_MS": "10000",  # a budget that holds on a loaded machine
            "TMPDIR": str(tmp_path),  # the exporter's offline storage
        }
        worker = RealWorker(APP, processes=processes, python_path=[LIB], env=env, telemetry="none", location=location)
        try:
            facts = [fact for process in worker.run_in_each_process("rwfacts:recorded") for fact in process]
            traces = [new_trace() for _ in range(8)]
            calls = [
                {"function_name": name, "payload": {"method": "GET"}, "trace_parent": traceparent}
                for name, (_, _, traceparent) in zip(["hello", "ahello"] * 4, traces, strict=True)
            ]
            results = worker.invoke_many(calls, concurrency=2)
            warnings = [log.message for log in worker.logs() if "funcscope:" in log.message]
        finally:
            exit_codes = worker.close()  # SIGTERM to each worker process at once, as the host stops them
        assert all(r.ok for r in results), [r.exception for r in results]
        assert exit_codes == [-15] * processes  # the host sees workers ended by SIGTERM, as without funcscope
        items = {
            e["data"]["baseData"]["properties"]["faas.invocation_id"]: e
            for e in app_insights.envelopes("RemoteDependencyData")
            if "faas.invocation_id" in e["data"]["baseData"]["properties"]
        }
        assert set(items) == {r.invocation_id for r in results}
        for result, (trace_id, host_span, _) in zip(results, traces, strict=True):
            tags = items[result.invocation_id]["tags"]
            assert (tags["ai.operation.id"], tags["ai.operation.parentId"]) == (trace_id, host_span)
        assert warnings == []
    # Where the worker imported the app: each process's main thread, so configure() installed the handler there.
    assert len(facts) == 2 * processes
    assert {(f["main_thread"], f["thread"], f["sigterm_handler"]) for f in facts} == {
        (True, "MainThread", "funcscope.instrumentation.sigterm")
    }
