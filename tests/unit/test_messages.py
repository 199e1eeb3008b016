"""Links from the invocation span to the producers of its trigger's messages, and the batch attributes.

The messages are built as the emulator builds them (`funcscope.emulator.bindings.build_trigger`, the shapes the
`azure.functions` converters give the function); the same through the emulator and the real worker is in
tests/integration/test_messages_worker.py and tests/realworker/test_messages_realworker.py."""

from __future__ import annotations

import logging

import azure.functions as func
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult, StaticSampler

from funcscope.emulator.bindings import build_trigger
from funcscope.runtime import get_runner
from funcscope.shared.messages import read_messages
from funcscope.shared.triggers import declare_function, trigger_from_bindings

from .fakes import FakeContext

PRODUCER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01"
OTHER = "00-11111111111111111111111111111111-2222222222222222-00"
APP = object()

SB_ONE = {"type": "serviceBusTrigger", "name": "msg", "queueName": "orders"}
SB_MANY = {
    "type": "serviceBusTrigger",
    "name": "msgs",
    "topicName": "events",
    "subscriptionName": "audit",
    "cardinality": "many",
}
EH_ONE = {"type": "eventHubTrigger", "name": "event", "eventHubName": "telemetry", "consumerGroup": "cg"}
EH_MANY = {**EH_ONE, "name": "events", "cardinality": "many"}
EG = {"type": "eventGridTrigger", "name": "event"}
QUEUE = {"type": "queueTrigger", "name": "msg", "queueName": "%ORDERS_QUEUE%"}
KAFKA = {"type": "kafkaTrigger", "name": "event", "topic": "orders", "brokerList": "b:9092"}


def _link_ids(batch):
    return [(format(link.context.trace_id, "032x"), format(link.context.span_id, "016x")) for link in batch.links]


def test_service_bus_diagnostic_id_is_a_link_with_the_message_id():
    msg = build_trigger("f", SB_ONE, {"message_id": "m-1", "application_properties": {"Diagnostic-Id": TRACEPARENT}})
    batch = read_messages(msg, "servicebus")
    assert _link_ids(batch) == [(PRODUCER_TRACE, PRODUCER_SPAN)]
    assert batch.links[0].attributes == {"messaging.message.id": "m-1"}
    assert batch.links[0].context.is_remote and batch.count is None and batch.message_id == "m-1"


def test_traceparent_wins_and_tracestate_comes_along():
    props = {"traceparent": TRACEPARENT, "tracestate": "vendor=1", "Diagnostic-Id": OTHER}
    msg = build_trigger("f", SB_ONE, {"user_properties": props})  # user properties alone, as older hosts send
    (link,) = read_messages(msg, "servicebus").links
    assert format(link.context.span_id, "016x") == PRODUCER_SPAN and link.context.trace_state.get("vendor") == "1"


@pytest.mark.parametrize(
    "value",
    ["|4bf92f3577b34da6a3ce929d0e0e4736.1.", "00-zz-yy-01", 12, "", "00-" + "a" * 600, None],
    ids=["legacy-request-id", "malformed", "not-a-string", "empty", "oversized", "none"],
)
def test_bad_or_legacy_context_gives_no_link_and_no_error(value, caplog):
    caplog.set_level(logging.INFO, logger="funcscope")
    msg = build_trigger("f", SB_ONE, {"message_id": "m-2", "application_properties": {"Diagnostic-Id": value}})
    for _ in range(3):
        batch = read_messages(msg, "servicebus")
        assert batch.links == () and batch.message_id == "m-2"
    reports = [r for r in caplog.records if r.name == "funcscope"]
    assert len(reports) <= 1  # one message at most, however many messages carry it
    if isinstance(value, str) and value.startswith("|"):
        assert "legacy Request-Id" in reports[0].getMessage()


def test_message_without_properties_has_no_link():
    batch = read_messages(build_trigger("f", SB_ONE, {"message_id": "m-3"}), "servicebus")
    assert batch.links == () and batch.message_id == "m-3"


def test_service_bus_batch_one_link_per_message_with_context():
    msgs = build_trigger(
        "f",
        SB_MANY,
        [
            {"message_id": "a", "application_properties": {"Diagnostic-Id": TRACEPARENT}},
            {"message_id": "b"},
            {"message_id": "c", "application_properties": {"traceparent": OTHER}},
        ],
    )
    batch = read_messages(msgs, "servicebus")
    assert batch.count == 3 and batch.message_id is None
    assert [link.attributes["messaging.message.id"] for link in batch.links] == ["a", "c"]
    assert _link_ids(batch)[1] == ("11111111111111111111111111111111", "2222222222222222")


def test_event_hub_properties_one_and_many():
    event = build_trigger("f", EH_ONE, {"body": "x", "properties": {"Diagnostic-Id": TRACEPARENT}})
    assert _link_ids(read_messages(event, "eventhubs")) == [(PRODUCER_TRACE, PRODUCER_SPAN)]
    events = build_trigger(
        "f", EH_MANY, [{"body": "a", "properties": {"traceparent": TRACEPARENT}}, {"body": "b"}, {"body": "c"}]
    )
    batch = read_messages(events, "eventhubs")
    assert batch.count == 3 and _link_ids(batch) == [(PRODUCER_TRACE, PRODUCER_SPAN)]
    assert read_messages(build_trigger("f", EH_ONE, {"body": "x"}), "eventhubs").links == ()


def test_event_grid_cloud_event_extension_and_event_grid_schema():
    cloud = build_trigger(
        "f",
        EG,
        {
            "cloud_event": {
                "specversion": "1.0",
                "id": "ce-1",
                "source": "/orders",
                "type": "Order.Created",
                "data": {},
                "traceparent": TRACEPARENT,
            }
        },
    )
    batch = read_messages(cloud, "eventgrid")
    assert _link_ids(batch) == [(PRODUCER_TRACE, PRODUCER_SPAN)] and batch.message_id == "ce-1"
    plain = read_messages(build_trigger("f", EG, {"id": "eg-1"}), "eventgrid")
    assert plain.links == () and plain.message_id == "eg-1"


def test_kafka_headers_one_and_many():
    event = build_trigger("f", KAFKA, {"value": "x", "headers": {"traceparent": TRACEPARENT, "tracestate": "k=v"}})
    (link,) = read_messages(event, "kafka").links
    assert format(link.context.span_id, "016x") == PRODUCER_SPAN and link.context.trace_state.get("k") == "v"
    assert not link.attributes  # a Kafka record has no message id
    events = build_trigger(
        "f",
        {**KAFKA, "name": "events", "cardinality": "many"},
        [{"value": "a", "headers": {"traceparent": OTHER, "region": "eu"}}, {"value": "b"}],
    )
    batch = read_messages(events, "kafka")
    assert batch.count == 2 and _link_ids(batch) == [("11111111111111111111111111111111", "2222222222222222")]
    assert read_messages(build_trigger("f", KAFKA, {"value": "x", "headers": {"region": "eu"}}), "kafka").links == ()


@pytest.mark.parametrize(
    "headers",
    [[{"Key": "traceparent", "Value": "not base64!"}], [{"Key": "traceparent", "Value": "x" * 5000}], ["odd"], "x"],
    ids=["not-base64", "oversized", "not-a-header", "not-a-list"],
)
def test_kafka_headers_that_cannot_be_read_give_no_link(headers, caplog):
    caplog.set_level(logging.INFO, logger="funcscope")
    event = func.KafkaEvent(body=b"", headers=headers)  # as the converter makes it from what the host sent
    for _ in range(3):
        assert read_messages(event, "kafka").links == ()
    assert len([r for r in caplog.records if r.name == "funcscope"]) <= 1


def test_queue_message_has_an_id_and_nothing_to_link():
    batch = read_messages(build_trigger("f", QUEUE, {"id": "q-1"}), "azure.storage.queue")
    assert batch.links == () and batch.message_id == "q-1"


def test_an_argument_of_another_type_gives_nothing():
    assert read_messages(object(), "servicebus").links == ()
    assert read_messages(["a", "b"], "servicebus").count == 2


# -- on the invocation span ----------------------------------------------------------------------------------------


class RecordingSampler(Sampler):
    """Samples everything and remembers the links each span was started with."""

    def __init__(self):
        self.seen = []

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        self.seen.append((name, list(links or ())))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self):
        return "recording"


@pytest.fixture
def recorded(monkeypatch):
    monkeypatch.setenv("ORDERS_QUEUE", "orders-queue")
    sampler = RecordingSampler()
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(sampler, remote_parent_sampled=sampler))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    get_runner().configure(tracer_provider=provider, metrics=False)
    yield sampler, exporter
    provider.shutdown()


def _invoke(name, binding, args):
    declare_function(name, trigger_from_bindings([binding], name))
    try:
        ctx = FakeContext(function_name=name)
        get_runner().start(ctx, args, APP)
        get_runner().finish(ctx, None, APP)
    finally:
        declare_function(name, None)


def test_links_are_given_at_the_start_so_the_sampler_sees_them(recorded):
    sampler, exporter = recorded
    msg = build_trigger("f", SB_ONE, {"message_id": "m-1", "application_properties": {"Diagnostic-Id": TRACEPARENT}})
    _invoke("Orders", SB_ONE, {"msg": msg})
    (span,) = exporter.get_finished_spans()
    ((name, links),) = sampler.seen
    assert name == "Orders" and [format(link.context.span_id, "016x") for link in links] == [PRODUCER_SPAN]
    assert [format(link.context.span_id, "016x") for link in span.links] == [PRODUCER_SPAN]
    assert format(span.context.trace_id, "032x") != PRODUCER_TRACE  # a link, not the parent: the host's trace
    a = span.attributes
    assert a["messaging.system"] == "servicebus" and a["messaging.destination.name"] == "orders"
    assert a["messaging.operation.type"] == "process" and a["messaging.message.id"] == "m-1"


def test_batch_span_has_the_count_and_one_link_per_message(recorded):
    _, exporter = recorded
    msgs = build_trigger(
        "f", SB_MANY, [{"application_properties": {"Diagnostic-Id": TRACEPARENT}} for _ in range(4)] + [{}]
    )
    _invoke("Audit", SB_MANY, {"msgs": msgs})
    (span,) = exporter.get_finished_spans()
    assert len(span.links) == 4
    a = span.attributes
    assert a["messaging.batch.message_count"] == 5 and "messaging.message.id" not in a
    assert (a["messaging.destination.name"], a["messaging.destination.subscription.name"]) == ("events", "audit")


def test_event_hub_consumer_group_and_queue_name_from_an_app_setting(recorded):
    _, exporter = recorded
    _invoke("Telemetry", EH_ONE, {"event": build_trigger("f", EH_ONE, {"body": "x"})})
    _invoke("Orders", QUEUE, {"msg": build_trigger("f", QUEUE, {"id": "q-1"})})
    telemetry, orders = exporter.get_finished_spans()
    assert telemetry.attributes["messaging.consumer.group.name"] == "cg"
    assert telemetry.attributes["messaging.destination.name"] == "telemetry" and telemetry.links == ()
    assert orders.attributes["messaging.destination.name"] == "orders-queue"


def test_an_unsampled_parent_based_sampler_still_decides_without_error(spans):
    provider = TracerProvider(sampler=StaticSampler(Decision.DROP))
    get_runner().configure(tracer_provider=provider, metrics=False)
    msg = build_trigger("f", SB_ONE, {"application_properties": {"Diagnostic-Id": TRACEPARENT}})
    _invoke("Orders", SB_ONE, {"msg": msg})  # nothing recorded, nothing raised
