"""Durable Functions through the worker emulator, with the real `azure-functions-durable` objects: an orchestrator
driven episode by episode with the history the Durable extension sends (tests/integration/durable_history.py),
its replays left out or marked, activities and entities with their instance ids, and the client's traceparent."""

from __future__ import annotations

import http.server
import json
import logging
import threading

import pytest

from funcscope.emulator import Worker
from funcscope.runtime import get_runner

from . import capture
from .conftest import APPS, HOST_TRACE, host_parent
from .durable_history import History

APP = APPS / "durable_v2"
CITIES = ["Tokyo", "Seattle", "London"]


def spans_named(prefix):
    return [s for s in capture.finished_spans() if s["name"].startswith(prefix)]


def run_orchestration(worker, name="hello_sequence"):
    """Every episode of the orchestration: the first schedules Tokyo, each next one gets a result and goes on."""
    history = History(name, CITIES)
    results = []
    for step, city in enumerate([*CITIES, None]):
        result = worker.invoke(name, history.context(), trace_parent=host_parent(step))
        result.raise_for_exception()
        results.append(result)
        state = json.loads(result.value)
        if city is None:
            assert state["isDone"] and state["output"] == [f"Hello {c}" for c in CITIES]
            break
        history.scheduled("say_hello", step).completed(step, f"Hello {city}")
    return history, results


def user_lines(result):
    return [entry.message for entry in result.logs if entry.logger_name == "durable_v2"]


MODELS = {
    "hooks": {"extensions_enabled": True},
    "wrapping": {"extensions_enabled": False},
    "3.13": {"extensions_enabled": True, "hooks": "none"},
}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_replays_are_left_out_by_default(model, caplog):
    name = "hello_sequence"
    with Worker(APP, thread_count=1, **MODELS[model]) as worker:
        history, results = run_orchestration(worker, name)
    episodes = spans_named(name)
    assert len(episodes) == 4  # one span per invocation: each episode is a real step of the orchestration
    assert [e["attributes"]["azure.functions.durable.replayed_steps"] for e in episodes] == [0, 1, 2, 3]
    # The framework's handle takes its trigger as `context`, so the worker passes it no Context: with the hooks
    # they get it, without them the wrapper claims the one the worker built. Either way the host's trace.
    for n, episode in enumerate(episodes):
        a = episode["attributes"]
        assert a["azure.functions.durable.instance_id"] == history.instance_id
        assert a["azure.functions.durable.function_type"] == "orchestrator"
        assert episode["trace_id"] == HOST_TRACE and episode["parent_span_id"] == f"{n + 1:016x}"
        assert a["faas.invocation_id"] == results[n].invocation_id
    assert not [r for r in caplog.records if "takes its trigger as 'context'" in r.getMessage()]
    # Each city's span and log line once, from the episode that really asked; replays record nothing.
    asks = spans_named("ask ")
    assert [s["name"] for s in asks] == [f"ask {c}" for c in CITIES]
    assert [s["parent_span_id"] for s in asks] == [e["span_id"] for e in episodes[:3]]
    assert [user_lines(r) for r in results] == [
        ["asking for Tokyo"],
        ["asking for Seattle"],
        ["asking for London"],
        ["all 3 greeted"],
    ]
    assert not spans_named(f"{name} replay")


def test_replays_marked_hang_under_a_replay_span():
    get_runner().configure(durable_replays="mark", metrics=False)
    with Worker(APP, thread_count=1, extensions_enabled=True) as worker:
        _, results = run_orchestration(worker)
    replays = spans_named("hello_sequence replay")
    assert len(replays) == 3  # episodes 2-4 replay; the first has nothing to replay
    main = [s for s in spans_named("hello_sequence") if s not in replays]
    assert [r["parent_span_id"] for r in replays] == [m["span_id"] for m in main[1:]]
    assert all(r["attributes"]["azure.functions.durable.is_replaying"] is True for r in replays)
    asks = spans_named("ask ")
    assert len(asks) == 1 + 2 + 3 + 3  # every step of every episode, replayed ones included
    replayed = [s for s in asks if s["parent_span_id"] in {r["span_id"] for r in replays}]
    assert len(replayed) == 0 + 1 + 2 + 3  # the replayed ones hang under their episode's replay span
    assert user_lines(results[3]) == ["asking for Tokyo", "asking for Seattle", "asking for London", "all 3 greeted"]


def test_a_failed_activity_is_thrown_into_the_orchestrator_unchanged():
    with Worker(APP, thread_count=1, extensions_enabled=True) as worker:
        history = History("hello_sequence", ["Nowhere"])
        worker.invoke("hello_sequence", history.context()).raise_for_exception()
        history.scheduled("say_hello", 0).failed(0, "no such city")
        failed = worker.invoke("hello_sequence", history.context(), trace_parent=host_parent(9))
    assert failed.exception is not None and "no such city" in str(failed.exception)
    episode = spans_named("hello_sequence")[-1]
    assert episode["status"] == "ERROR" and episode["attributes"]["azure.functions.durable.replayed_steps"] == 1


def test_activity_and_entity_carry_their_instance_ids():
    with Worker(APP, thread_count=1, extensions_enabled=True) as worker:
        activity = worker.invoke("say_hello", {"input": "Oslo", "instance_id": "orch-1"}, trace_parent=host_parent(1))
        entity_context = {
            "self": {"name": "counter", "key": "k1"},
            "state": None,
            "exists": False,
            "batch": [{"name": "add", "signal": True, "input": "5"}, {"name": "add", "signal": True, "input": "2"}],
        }
        entity = worker.invoke("counter", entity_context, trace_parent=host_parent(2))
    activity.raise_for_exception()
    entity.raise_for_exception()
    assert activity.value == "Hello Oslo" and json.loads(entity.value)["entityState"] == "2"
    (say,) = spans_named("say_hello")
    assert say["attributes"]["azure.functions.durable.instance_id"] == "orch-1"
    assert say["attributes"]["azure.functions.durable.function_type"] == "activity"
    (count,) = spans_named("counter")
    a = count["attributes"]
    assert (a["azure.functions.durable.instance_id"], a["azure.functions.durable.operation_count"]) == (
        "@counter@k1",
        2,
    )
    assert a["azure.functions.durable.function_type"] == "entity"


class DurableWebhook:
    """The Durable extension's HTTP API on 127.0.0.1, as far as `start_new` needs it: 202 with the new instance."""

    def __init__(self):
        self.calls = []
        webhook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                webhook.calls.append({"path": self.path, "traceparent": self.headers.get("traceparent")})
                body = json.dumps({"id": "instance-7"}).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def test_client_sends_the_invocation_trace_to_the_durable_extension():
    webhook = DurableWebhook()
    binding = {
        "taskHubName": "hub",
        "creationUrls": {},
        "managementUrls": {},
        "rpcBaseUrl": webhook.url + "/durabletask/",
        "baseUrl": webhook.url,
        "requiredQueryStringParameters": "",
    }
    try:
        with Worker(APP, thread_count=1, extensions_enabled=True) as worker:
            result = worker.invoke(
                "start",
                {
                    "url": "http://localhost/api/start/hello_sequence",
                    "route_params": {"name": "hello_sequence"},
                    "$inputs": {"client": json.dumps(binding)},
                },
                trace_parent=host_parent(3),
            )
    finally:
        webhook.close()
    result.raise_for_exception()
    assert result.value.get_body() == b"instance-7"
    (start,) = spans_named("start")
    (call,) = webhook.calls
    assert call["path"] == "/durabletask/orchestrators/hello_sequence"
    trace_id, parent = call["traceparent"].split("-")[1:3]
    assert trace_id == HOST_TRACE and trace_id == start["trace_id"]
    assert parent in {s["span_id"] for s in capture.finished_spans() if s["trace_id"] == HOST_TRACE}


def test_no_log_is_lost_outside_replays(caplog):
    caplog.set_level(logging.INFO, logger="durable_v2")
    with Worker(APP, thread_count=1, extensions_enabled=True) as worker:
        worker.invoke("say_hello", {"input": "Rome"}).raise_for_exception()
    assert any(r.getMessage() == "hello Rome" for r in caplog.records)
