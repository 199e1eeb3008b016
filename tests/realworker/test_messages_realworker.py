"""Message triggers in the real classic worker, with the trigger metadata the Service Bus and Event Hubs
extensions send (the driver builds it): links to the producers, batches, what the bindings say; and an SDK-type
blob triggers, whose `BlobClient`, `ContainerClient` and `StorageStreamDownloader` the worker's deferred binding
makes from the model binding data the host sends (the downloader reads its blob from a store on 127.0.0.1 as it is
bound); with the hooks and with the wrapping (extensions off)."""

from __future__ import annotations

import pytest

from funcscope.bench.realworker.client import RealWorker

from ..integration.receivers import Downstream
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
    "clicks": {"value": "x", "offset": 7, "headers": {"traceparent": PRODUCER, "tracestate": "k=v"}},
    "clicks_batch": [{"value": "a", "headers": {"traceparent": PRODUCER}}, {"value": "b", "offset": 1}],
    "grid": {"id": "eg-1"},
    "carts": {"documents": [{"id": "c1"}, {"id": "c2"}]},
    "uploaded": {"name": "report.csv"},
    "imported": {"name": "rates.csv", "data": "a,b\n1,2\n"},
    "archived": {"name": "2024.tar"},
    "downloaded": {"name": "rates.csv"},
}
ENV = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}  # the clients are made from it and call nothing
BLOB = b"a,b\n1,2\n"


@pytest.fixture(scope="module")
def blob_store():
    """A blob endpoint on 127.0.0.1 that answers every download with BLOB, as the storage service does: its
    connection string (anonymous access, nothing to sign)."""
    with Downstream(blob=BLOB) as store:
        yield f"BlobEndpoint={store.url}/devstoreaccount1;"


def _links(span):
    return [(link["trace_id"], link["span_id"], link["attributes"]) for link in span["links"]]


@pytest.fixture(scope="module", params=[True, False], ids=["hooks", "wrapping"])
def recorded(request, location, blob_store):
    env = {**ENV, "BlobStore": blob_store}
    with RealWorker(APP, extensions_enabled=request.param, thread_count=2, env=env, location=location) as worker:
        results = {}
        for name, payload in CALLS.items():
            trace_id, _, traceparent = new_trace()
            result = worker.invoke(name, payload, trace_parent=traceparent)
            result.raise_for_exception()
            results[name] = (trace_id, result)
        spans = worker.spans()
        logs = {log.invocation_id: log.message for log in worker.logs() if log.category == "messages_v2"}
    return {
        name: (trace_id, the_span(spans, result.invocation_id), logs.get(result.invocation_id))
        for name, (trace_id, result) in results.items()
    }


def test_a_message_is_linked_to_its_producer(recorded):
    trace_id, span, _ = recorded["orders"]
    assert span["trace_id"] == trace_id  # the host's trace: the producer is a link, not the parent
    assert _links(span) == [(PRODUCER_TRACE, PRODUCER_SPAN, {"messaging.message.id": "m-1"})]
    a = span["attributes"]
    assert (a["messaging.system"], a["messaging.destination.name"], a["messaging.message.id"]) == (
        "servicebus",
        "orders",
        "m-1",
    )


def test_a_batch_is_one_span_with_a_link_per_message(recorded):
    _, span, _ = recorded["audit"]
    assert [attrs["messaging.message.id"] for *_, attrs in _links(span)] == ["a", "c"]  # legacy Request-Id: none
    a = span["attributes"]
    assert a["messaging.batch.message_count"] == 3
    assert (a["messaging.destination.name"], a["messaging.destination.subscription.name"]) == ("events", "audit")


def test_event_hubs_properties_one_and_many(recorded):
    _, span, _ = recorded["telemetry"]
    assert [link[:2] for link in _links(span)] == [(PRODUCER_TRACE, PRODUCER_SPAN)]
    assert span["attributes"]["messaging.consumer.group.name"] == "cg"
    _, batch, _ = recorded["telemetry_batch"]
    assert len(batch["links"]) == 1 and batch["attributes"]["messaging.batch.message_count"] == 2


def test_kafka_headers_one_and_many(recorded):
    _, span, logged = recorded["clicks"]
    assert logged == "click at offset 7"
    assert [link[:2] for link in _links(span)] == [(PRODUCER_TRACE, PRODUCER_SPAN)]
    a = span["attributes"]
    assert (a["messaging.system"], a["messaging.destination.name"], a["messaging.consumer.group.name"]) == (
        "kafka",
        "clicks",
        "web",
    )
    _, batch, logged = recorded["clicks_batch"]
    assert logged == "clicks batch of 2"
    assert len(batch["links"]) == 1 and batch["attributes"]["messaging.batch.message_count"] == 2


def test_event_grid_and_cosmos_db(recorded):
    trace_id, grid, logged = recorded["grid"]
    assert logged == "grid event eg-1" and grid["trace_id"] == trace_id
    a = grid["attributes"]
    assert (a["messaging.system"], a["messaging.message.id"]) == ("eventgrid", "eg-1")
    assert grid["links"] == []  # the Event Grid schema has no place for a producer's context
    _, carts, logged = recorded["carts"]
    assert logged == "2 carts changed"
    assert (carts["attributes"]["faas.trigger"], carts["attributes"]["faas.document.collection"]) == (
        "datasource",
        "carts",
    )


@pytest.mark.parametrize(
    ("name", "container", "said"),
    [
        ("uploaded", "uploads", "uploaded uploads/report.csv"),
        ("archived", "archive", "archived into archive"),
        ("downloaded", "downloads", "downloaded rates.csv, 8 bytes"),
        ("imported", "imports", "imported imports/rates.csv, 8 bytes"),  # a plain InputStream, for comparison
    ],
)
def test_an_sdk_type_argument_is_classified_by_its_binding(recorded, name, container, said):
    trace_id, span, logged = recorded[name]
    assert logged == said  # the function got the client the worker's deferred binding made
    a = span["attributes"]
    assert (a["faas.trigger"], a["faas.document.collection"]) == ("datasource", container)
    assert span["trace_id"] == trace_id and span["status"] == "UNSET"
