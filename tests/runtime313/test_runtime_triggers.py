"""Message triggers and Durable Functions on the real `azure-functions-runtime` (gRPC path), with the trigger
metadata the extensions send: the apps and expectations of the emulator's tests (tests/integration)."""

from __future__ import annotations

import base64
import json

from funcscope.runtime import get_runner

from ..integration.conftest import APPS
from ..integration.durable_history import History
from ..integration.receivers import Downstream
from .conftest import HOST_TRACE, host_parent
from .proxy import Call, protos

PRODUCER_TRACE, PRODUCER_SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
PRODUCER = f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01"
ENV = {"TELEMETRY_HUB": "telemetry-hub", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def _json(value):
    return protos.TypedData(json=json.dumps(value))


def _blob_model_binding_data(content):
    """What the host sends for a parameter of an SDK type: the blob extension's model binding data."""
    return protos.TypedData(
        model_binding_data=protos.FunctionRpc_pb2.ModelBindingData(
            version="1.0",
            source="AzureStorageBlobs",
            content_type="application/json",
            content=json.dumps(content).encode(),
        )
    )


def _string(value):
    return protos.TypedData(string=value)


def span_of(spans, invocation_id):
    (span,) = [s for s in spans if s.attributes.get("faas.invocation_id") == invocation_id]
    return span


def test_service_bus_message_and_batch_are_linked_to_their_producers(proxy, spans):
    app = proxy(APPS / "messages_v2", env=ENV)
    one = Call(
        "orders",
        trace_parent=host_parent(1),
        trigger=(
            "msg",
            _string("order"),
            {
                "MessageId": _string("m-1"),
                "DeliveryCount": _json(1),
                "UserProperties": _json({}),
                "ApplicationProperties": _json({"Diagnostic-Id": PRODUCER}),
            },
        ),
    )
    batch = Call(
        "audit",
        trace_parent=host_parent(2),
        trigger=(
            "msgs",
            protos.TypedData(collection_string=protos.FunctionRpc_pb2.CollectionString(string=["a", "b"])),
            {
                "MessageIdArray": _json(["a", "b"]),
                "UserPropertiesArray": _json([{"traceparent": PRODUCER}, {}]),
                "ApplicationPropertiesArray": _json([{"traceparent": PRODUCER}, {}]),
            },
        ),
    )
    results = app.invoke_many([one]) + app.invoke_many([batch])
    assert all(r.ok for r in results), [r.error for r in results]
    finished = spans.get_finished_spans()
    orders = span_of(finished, results[0].invocation_id)
    assert format(orders.context.trace_id, "032x") == HOST_TRACE
    ((link_trace, link_span, link_attributes),) = [
        (format(link.context.trace_id, "032x"), format(link.context.span_id, "016x"), dict(link.attributes))
        for link in orders.links
    ]
    assert (link_trace, link_span, link_attributes) == (PRODUCER_TRACE, PRODUCER_SPAN, {"messaging.message.id": "m-1"})
    assert orders.attributes["messaging.destination.name"] == "orders"
    audit = span_of(finished, results[1].invocation_id)
    assert audit.attributes["messaging.batch.message_count"] == 2 and len(audit.links) == 1
    assert audit.attributes["messaging.destination.subscription.name"] == "audit"


def test_kafka_records_and_blobs_on_the_runtime(proxy, spans, caplog):
    store = Downstream(blob=b"a,b\n1,2\n")  # a blob endpoint on 127.0.0.1, for the StorageStreamDownloader
    app = proxy(APPS / "messages_v2", env={**ENV, "BlobStore": f"BlobEndpoint={store.url}/devstoreaccount1;"})
    header = [{"Key": "traceparent", "Value": base64.b64encode(PRODUCER.encode()).decode()}]
    record = {"Offset": 7, "Partition": 0, "Topic": "clicks", "Timestamp": "2026-01-01T00:00:00Z", "Value": "x"}
    one = Call(
        "clicks",
        trace_parent=host_parent(1),
        trigger=(
            "record",
            _string(json.dumps({**record, "Headers": header})),
            {"Offset": _json(7), "Partition": _json(0), "Topic": _string("clicks"), "Headers": _json(header)},
        ),
    )
    strings = protos.FunctionRpc_pb2.CollectionString
    batch = Call(
        "clicks_batch",
        trace_parent=host_parent(2),
        trigger=(
            "records",
            protos.TypedData(collection_string=strings(string=[json.dumps(record), json.dumps(record)])),
            {
                "OffsetArray": protos.TypedData(
                    collection_sint64=protos.FunctionRpc_pb2.CollectionSInt64(sint64=[1, 2])
                ),
                "PartitionArray": _json([0, 0]),
                "TopicArray": protos.TypedData(collection_string=strings(string=["clicks", "clicks"])),
                "TimestampArray": _json([record["Timestamp"]] * 2),
                "KeyArray": _json([None, None]),
                "HeadersArray": _json([header, []]),
            },
        ),
    )
    # For a parameter of an SDK type the host sends model binding data; the extension's converter makes the client.
    content = {"Connection": "AzureWebJobsStorage", "ContainerName": "uploads", "BlobName": "report.csv"}
    blob = Call(
        "uploaded",
        trace_parent=host_parent(3),
        trigger=(
            "client",
            _blob_model_binding_data(content),
            {"name": _string("report.csv")},
        ),
    )
    data = b"a,b\n1,2\n"
    stream = Call(
        "imported",
        trace_parent=host_parent(4),
        trigger=(
            "stream",
            protos.TypedData(bytes=data),
            {
                "BlobTrigger": _string("imports/rates.csv"),
                "Uri": _string("http://127.0.0.1:10000/devstoreaccount1/imports/rates.csv"),
                "Properties": _json({"Length": len(data)}),
            },
        ),
    )
    content = {"Connection": "BlobStore", "ContainerName": "downloads", "BlobName": "rates.csv"}
    download = Call(
        "downloaded",
        trace_parent=host_parent(5),
        trigger=(
            "download",
            _blob_model_binding_data(content),
            {},
        ),
    )
    try:
        results = [app.invoke_many([c])[0] for c in (one, batch, blob, stream, download)]
    finally:
        store.close()
    assert all(r.ok for r in results), [r.error for r in results]
    finished = spans.get_finished_spans()
    clicks = span_of(finished, results[0].invocation_id)
    assert [(format(link.context.trace_id, "032x"), format(link.context.span_id, "016x")) for link in clicks.links] == [
        (PRODUCER_TRACE, PRODUCER_SPAN)
    ]
    assert (clicks.attributes["messaging.system"], clicks.attributes["messaging.destination.name"]) == (
        "kafka",
        "clicks",
    )
    clicks_batch = span_of(finished, results[1].invocation_id)
    assert clicks_batch.attributes["messaging.batch.message_count"] == 2 and len(clicks_batch.links) == 1
    uploaded = span_of(finished, results[2].invocation_id)
    assert (uploaded.attributes["faas.trigger"], uploaded.attributes["faas.document.collection"]) == (
        "datasource",
        "uploads",
    )
    said = [r.getMessage() for r in caplog.records]
    assert "uploaded uploads/report.csv" in said  # the BlobClient the runtime made
    assert "imported imports/rates.csv, 8 bytes" in said  # and a plain InputStream
    assert "downloaded rates.csv, 8 bytes" in said  # and the downloader, which read the blob as it was bound
    a = span_of(finished, results[3].invocation_id).attributes
    assert (a["faas.trigger"], a["faas.document.collection"]) == ("datasource", "imports")


def test_event_hubs_a_cloud_event_and_cosmos_db_on_the_runtime(proxy, spans):
    app = proxy(APPS / "messages_v2", env=ENV)
    event = Call(
        "telemetry",
        trace_parent=host_parent(1),
        trigger=(
            "event",
            _string("x"),
            {
                "Properties": _json({"traceparent": PRODUCER}),
                "SystemProperties": _json({"x-opt-sequence-number": 3}),
                "SequenceNumber": _json(3),
                "Offset": _string("0"),
            },
        ),
    )
    cloud = {"specversion": "1.0", "id": "ce-1", "source": "/s", "type": "T", "data": {}, "traceparent": PRODUCER}
    grid = Call("grid", trace_parent=host_parent(2), trigger=("event", _json(cloud), {}))
    carts = Call("carts", trace_parent=host_parent(3), trigger=("docs", _json([{"id": "c1"}]), {}))
    results = app.invoke_many([event]) + app.invoke_many([grid]) + app.invoke_many([carts])
    assert all(r.ok for r in results), [r.error for r in results]
    finished = spans.get_finished_spans()
    for result, system in zip(results[:2], ["eventhubs", "eventgrid"], strict=True):
        span = span_of(finished, result.invocation_id)
        assert format(span.context.trace_id, "032x") == HOST_TRACE and span.attributes["messaging.system"] == system
        assert [(format(link.context.span_id, "016x")) for link in span.links] == [PRODUCER_SPAN]
    assert span_of(finished, results[0].invocation_id).attributes["messaging.destination.name"] == "telemetry-hub"
    assert span_of(finished, results[1].invocation_id).attributes["messaging.message.id"] == "ce-1"
    a = span_of(finished, results[2].invocation_id).attributes
    assert (a["faas.trigger"], a["faas.document.collection"]) == ("datasource", "carts")


def test_storage_queue_and_timer_on_the_runtime(proxy, spans):
    app = proxy(APPS / "traced_v2", env=ENV)
    now = "2026-01-01T00:00:00+00:00"
    queue = Call(
        "on_order",
        trace_parent=host_parent(1),
        trigger=(
            "msg",
            _string("order"),
            {
                "Id": _string("q-1"),
                "DequeueCount": _json(1),
                "InsertionTime": _string(now),
                "ExpirationTime": _string(now),
                "NextVisibleTime": _string(now),
                "PopReceipt": _string("r"),
            },
        ),
    )
    timer = Call(
        "tick", trace_parent=host_parent(2), trigger=("timer", _json({"Schedule": {}, "IsPastDue": False}), {})
    )
    results = app.invoke_many([queue]) + app.invoke_many([timer])
    assert all(r.ok for r in results), [r.error for r in results]
    finished = spans.get_finished_spans()
    order, tick = (span_of(finished, r.invocation_id) for r in results)
    a = order.attributes
    assert (a["messaging.system"], a["messaging.destination.name"], a["messaging.message.id"]) == (
        "azure.storage.queue",
        "orders",
        "q-1",
    )
    assert order.links == ()  # nothing in a queue message to link
    assert tick.attributes["faas.trigger"] == "timer"
    assert {format(s.context.trace_id, "032x") for s in (order, tick)} == {HOST_TRACE}


def test_orchestrator_episodes_on_the_runtime(proxy, spans, caplog):
    app = proxy(APPS / "durable_v2")
    history = History("hello_sequence", ["Tokyo", "Seattle"])
    results = []
    for step, city in enumerate(["Tokyo", "Seattle", None]):
        call = Call(
            "hello_sequence",
            trace_parent=host_parent(step),
            trigger=("context", _string(json.dumps(history.context())), {}),
        )
        (result,) = app.invoke_many([call])
        assert result.ok, result.error
        results.append(result)
        if city is not None:
            history.scheduled("say_hello", step).completed(step, f"Hello {city}")
    entity = Call(
        "counter",
        trace_parent=host_parent(9),
        trigger=(
            "context",
            _string(
                json.dumps(
                    {
                        "self": {"name": "counter", "key": "k"},
                        "state": None,
                        "exists": False,
                        "batch": [{"name": "add"}],
                    }
                )
            ),
            {},
        ),
    )
    (counted,) = app.invoke_many([entity])
    assert counted.ok, counted.error
    finished = spans.get_finished_spans()
    # The runtime passes the handles no Context (their trigger is `context`): the wrapper claims the one the
    # runtime built, so each invocation is the host's, in its trace, under its id.
    episodes = [span_of(finished, r.invocation_id) for r in results]
    assert [(format(e.context.trace_id, "032x"), e.parent.span_id) for e in episodes] == [
        (HOST_TRACE, n + 1) for n in range(3)
    ]
    assert [e.attributes["azure.functions.durable.replayed_steps"] for e in episodes] == [0, 1, 2]
    assert {e.attributes["azure.functions.durable.instance_id"] for e in episodes} == {history.instance_id}
    asks = [s for s in finished if s.name.startswith("ask ")]
    assert [s.name for s in asks] == ["ask Tokyo", "ask Seattle"]  # replays left out
    assert [s.parent.span_id for s in asks] == [e.context.span_id for e in episodes[:2]]
    counter = span_of(finished, counted.invocation_id)
    assert (format(counter.context.trace_id, "032x"), counter.parent.span_id) == (HOST_TRACE, 10)
    assert counter.attributes["azure.functions.durable.instance_id"] == "@counter@k"
    assert not [r for r in caplog.records if "takes its trigger as 'context'" in r.getMessage()]
    assert get_runner().in_flight() == 0


def test_activity_instance_id_from_the_trigger_metadata(proxy, spans):
    app = proxy(APPS / "durable_v2")
    call = Call(
        "say_hello",
        trace_parent=host_parent(5),
        trigger=("city", _json("Oslo"), {"instanceId": _string("orch-3")}),
    )
    (result,) = app.invoke_many([call])
    assert result.ok, result.error
    span = span_of(spans.get_finished_spans(), result.invocation_id)
    assert format(span.context.trace_id, "032x") == HOST_TRACE  # an activity takes its Context: the host's trace
    assert span.attributes["azure.functions.durable.instance_id"] == "orch-3"
