"""Message triggers through the worker emulator: links to the producers, batches, what the binding metadata says,
and an SDK-type argument (a `BlobClient`) classified by its binding; on the hook path, the wrapping path, the
Python 3.13+ model and in a worker process."""

from __future__ import annotations

import pytest

from funcscope.emulator import Worker
from funcscope.runtime import get_runner

from . import capture
from .conftest import APPS, HOST_TRACE, host_parent

APP = APPS / "messages_v2"
PRODUCER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
PRODUCER_IDS = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
ENV = {
    "TELEMETRY_HUB": "telemetry-hub",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",  # makes a client; nothing is called
}
MODELS = {
    "hooks": {"extensions_enabled": True},
    "wrapping": {"extensions_enabled": False},
    "3.13": {"extensions_enabled": True, "hooks": "none"},
}


def span_of(name):
    (span,) = [s for s in capture.finished_spans() if s["name"] == name]
    return span


def _calls(worker):
    def call(name, payload, n):
        result = worker.invoke(name, payload, trace_parent=host_parent(n))
        result.raise_for_exception()
        return result

    call("orders", {"message_id": "m-1", "application_properties": {"Diagnostic-Id": PRODUCER}}, 1)
    call(
        "audit",
        [
            {"message_id": "a", "application_properties": {"Diagnostic-Id": PRODUCER}},
            {"message_id": "b", "application_properties": {"Diagnostic-Id": "|legacy.1."}},
            {"message_id": "c", "user_properties": {"traceparent": PRODUCER}},
        ],
        2,
    )
    call("telemetry", {"body": "x", "sequence_number": 3, "properties": {"traceparent": PRODUCER}}, 3)
    call("telemetry_batch", [{"body": "a", "properties": {"Diagnostic-Id": PRODUCER}}, {"body": "b"}], 4)
    cloud = {"specversion": "1.0", "id": "ce-1", "source": "/s", "type": "T", "data": {}, "traceparent": PRODUCER}
    call("grid", {"cloud_event": cloud}, 5)
    call("uploaded", {"name": "report.csv"}, 6)
    call("clicks", {"value": "x", "offset": 7, "headers": {"traceparent": PRODUCER, "tracestate": "k=v"}}, 7)
    call("clicks_batch", [{"value": "a", "headers": {"traceparent": PRODUCER}}, {"value": "b"}], 8)
    call("carts", {"documents": [{"id": "c1"}]}, 9)
    call("imported", {"name": "imports/rates.csv", "data": "a,b\n1,2\n"}, 10)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_links_batches_and_binding_metadata(model):
    with Worker(APP, thread_count=2, env=ENV, **MODELS[model]) as worker:
        _calls(worker)
    orders = span_of("orders")
    assert orders["trace_id"] == HOST_TRACE  # the host's trace is the parent; the producer is a link
    assert [link[:2] for link in orders["links"]] == [PRODUCER_IDS]
    assert orders["links"][0][2] == {"messaging.message.id": "m-1"}
    a = orders["attributes"]
    assert (a["messaging.system"], a["messaging.destination.name"], a["messaging.message.id"]) == (
        "servicebus",
        "orders",
        "m-1",
    )
    assert a["messaging.operation.type"] == "process"

    audit = span_of("audit")
    assert [link[2]["messaging.message.id"] for link in audit["links"]] == ["a", "c"]  # the legacy one: no link
    a = audit["attributes"]
    assert a["messaging.batch.message_count"] == 3 and "messaging.message.id" not in a
    assert (a["messaging.destination.name"], a["messaging.destination.subscription.name"]) == ("events", "audit")

    telemetry = span_of("telemetry")
    assert [link[:2] for link in telemetry["links"]] == [PRODUCER_IDS]
    a = telemetry["attributes"]
    assert (a["messaging.destination.name"], a["messaging.consumer.group.name"]) == ("telemetry-hub", "cg")

    batch = span_of("telemetry_batch")
    assert len(batch["links"]) == 1 and batch["attributes"]["messaging.batch.message_count"] == 2

    grid = span_of("grid")
    assert [link[:2] for link in grid["links"]] == [PRODUCER_IDS]
    assert grid["attributes"]["messaging.message.id"] == "ce-1"

    clicks = span_of("clicks")  # the record's headers, base64 in the trigger metadata
    assert [link[:2] for link in clicks["links"]] == [PRODUCER_IDS]
    a = clicks["attributes"]
    assert (a["messaging.system"], a["messaging.destination.name"], a["messaging.consumer.group.name"]) == (
        "kafka",
        "clicks",
        "web",
    )
    clicks_batch = span_of("clicks_batch")
    assert len(clicks_batch["links"]) == 1 and clicks_batch["attributes"]["messaging.batch.message_count"] == 2

    a = span_of("carts")["attributes"]
    assert (a["faas.trigger"], a["faas.document.collection"]) == ("datasource", "carts")

    a = span_of("imported")["attributes"]
    assert (a["faas.trigger"], a["faas.document.collection"]) == ("datasource", "imports")

    uploaded = span_of("uploaded")  # a BlobClient: classified by its binding, never by its type
    a = uploaded["attributes"]
    assert (a["faas.trigger"], a["faas.document.collection"]) == ("datasource", "uploads")
    assert uploaded["kind"] == "INTERNAL" and uploaded["status"] == "UNSET"


def test_sdk_type_and_messages_get_their_kind_by_trigger():
    get_runner().configure(span_kind="trigger", metrics=False)
    with Worker(APP, thread_count=1, env={**ENV, "FUNCSCOPE_SPAN_KIND": "trigger"}, extensions_enabled=True) as w:
        w.invoke("uploaded", {"name": "a.txt"}, trace_parent=host_parent(1)).raise_for_exception()
        w.invoke("orders", {"message_id": "m"}, trace_parent=host_parent(2)).raise_for_exception()
    assert span_of("uploaded")["kind"] == "CONSUMER" and span_of("orders")["kind"] == "CONSUMER"
