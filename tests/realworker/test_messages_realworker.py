"""Message triggers in the real classic worker, with the trigger metadata the Service Bus and Event Hubs
extensions send (the driver builds it): links to the producers, batches, what the bindings say; with the hooks
and with the wrapping (extensions off). The same app's records compared with the emulator's are at the end."""

from __future__ import annotations

import pytest

from .client import RealWorker
from .conftest import APPS, new_trace
from .helpers import the_span

APP = APPS / "messages_v2"
PRODUCER_TRACE, PRODUCER_SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
PRODUCER = f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01"
CALLS = {
    "orders": {"message_id": "m-1", "application_properties": {"Diagnostic-Id": PRODUCER}},
    "audit": [
        {"message_id": "a", "application_properties": {"Diagnostic-Id": PRODUCER}},
        {"message_id": "b", "application_properties": {"Diagnostic-Id": "|legacy.1."}},
        {"message_id": "c", "user_properties": {"traceparent": PRODUCER}},
    ],
    "telemetry": {"body": "x", "properties": {"traceparent": PRODUCER}},
    "telemetry_batch": [{"body": "a", "properties": {"Diagnostic-Id": PRODUCER}}, {"body": "b"}],
}


def _links(span):
    return [(link["trace_id"], link["span_id"], link["attributes"]) for link in span["links"]]


@pytest.fixture(scope="module", params=[True, False], ids=["hooks", "wrapping"])
def recorded(request, location):
    with RealWorker(APP, extensions_enabled=request.param, thread_count=2, location=location) as worker:
        results = {}
        for name, payload in CALLS.items():
            trace_id, _, traceparent = new_trace()
            result = worker.invoke(name, payload, trace_parent=traceparent)
            result.raise_for_exception()
            results[name] = (trace_id, result)
        spans = worker.spans()
    return {name: (trace_id, the_span(spans, result.invocation_id)) for name, (trace_id, result) in results.items()}


def test_a_message_is_linked_to_its_producer(recorded):
    trace_id, span = recorded["orders"]
    assert span["trace_id"] == trace_id  # the host's trace: the producer is a link, not the parent
    assert _links(span) == [(PRODUCER_TRACE, PRODUCER_SPAN, {"messaging.message.id": "m-1"})]
    a = span["attributes"]
    assert (a["messaging.system"], a["messaging.destination.name"], a["messaging.message.id"]) == (
        "servicebus",
        "orders",
        "m-1",
    )


def test_a_batch_is_one_span_with_a_link_per_message(recorded):
    _, span = recorded["audit"]
    assert [attrs["messaging.message.id"] for *_, attrs in _links(span)] == ["a", "c"]  # legacy Request-Id: none
    a = span["attributes"]
    assert a["messaging.batch.message_count"] == 3
    assert (a["messaging.destination.name"], a["messaging.destination.subscription.name"]) == ("events", "audit")


def test_event_hubs_properties_one_and_many(recorded):
    _, span = recorded["telemetry"]
    assert [link[:2] for link in _links(span)] == [(PRODUCER_TRACE, PRODUCER_SPAN)]
    assert span["attributes"]["messaging.consumer.group.name"] == "cg"
    _, batch = recorded["telemetry_batch"]
    assert len(batch["links"]) == 1 and batch["attributes"]["messaging.batch.message_count"] == 2
