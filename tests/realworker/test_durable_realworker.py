"""Durable Functions in the real classic worker, with the contexts the Durable extension sends (built by
tests/integration/durable_history.py): an orchestration run episode by episode, replays left out, and the
activity and entity with their instance ids, all in the host's trace. The framework's handle takes its trigger as
`context`, so the worker passes it no Context: the hooks get it all the same, and the wrapping (extensions off)
claims the one the worker built."""

from __future__ import annotations

import json

import pytest

from funcscope.bench.realworker.client import RealWorker

from ..integration.durable_history import History
from .conftest import APPS, new_trace
from .helpers import children, the_span

APP = APPS / "durable_v2"
CITIES = ["Tokyo", "Seattle"]


@pytest.fixture(scope="module", params=[True, False], ids=["hooks", "wrapping"])
def worker(request, location):
    with RealWorker(APP, extensions_enabled=request.param, thread_count=2, location=location) as w:
        yield w


def test_one_span_per_episode_and_replays_left_out(worker):
    history = History("hello_sequence", CITIES)
    traces, results = [], []
    for step, city in enumerate([*CITIES, None]):
        trace_id, host_span, traceparent = new_trace()
        result = worker.invoke("hello_sequence", history.context(), trace_parent=traceparent)
        result.raise_for_exception()
        traces.append((trace_id, host_span))
        results.append(result)
        if city is not None:
            history.scheduled("say_hello", step).completed(step, f"Hello {city}")
    state = results[-1].value  # the orchestrator's state, which the driver reads back from JSON
    state = json.loads(state) if isinstance(state, str) else state
    assert state["output"] == ["Hello Tokyo", "Hello Seattle"]
    spans = worker.spans()
    episodes = [the_span(spans, r.invocation_id) for r in results]
    assert [e["attributes"]["azure.functions.durable.replayed_steps"] for e in episodes] == [0, 1, 2]
    assert {e["attributes"]["azure.functions.durable.instance_id"] for e in episodes} == {history.instance_id}
    assert [(e["trace_id"], e["parent_span_id"]) for e in episodes] == traces
    asks = [[s["name"] for s in children(spans, e)] for e in episodes]
    assert asks == [["ask Tokyo"], ["ask Seattle"], []]  # each asked once, by the episode that really asked
    lines = [log for log in worker.logs() if log.category == "rwapp"]
    assert [log.message for log in lines] == ["asking for Tokyo", "asking for Seattle"]
    assert [log.invocation_id for log in lines] == [results[0].invocation_id, results[1].invocation_id]


def test_activity_and_entity_instance_ids(worker):
    activity_trace, _, traceparent = new_trace()
    activity = worker.invoke("say_hello", {"input": "Oslo", "instance_id": "orch-9"}, trace_parent=traceparent)
    entity_trace, entity_parent, traceparent = new_trace()
    entity = worker.invoke(
        "counter",
        {"self": {"name": "counter", "key": "k"}, "state": None, "exists": False, "batch": [{"name": "add"}]},
        trace_parent=traceparent,
    )
    activity.raise_for_exception()
    entity.raise_for_exception()
    assert activity.value == "Hello Oslo"
    spans = worker.spans()
    a = the_span(spans, activity.invocation_id)["attributes"]
    assert (a["azure.functions.durable.function_type"], a["azure.functions.durable.instance_id"]) == (
        "activity",
        "orch-9",
    )
    e = the_span(spans, entity.invocation_id)
    assert (e["trace_id"], e["parent_span_id"]) == (entity_trace, entity_parent)
    assert the_span(spans, activity.invocation_id)["trace_id"] == activity_trace
    e = e["attributes"]
    assert (e["azure.functions.durable.instance_id"], e["azure.functions.durable.operation_count"]) == ("@counter@k", 1)
