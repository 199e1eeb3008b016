"""Trigger classification from function.json and from argument types."""

from __future__ import annotations

import json

import azure.functions as func
import pytest
from opentelemetry.trace import SpanKind

from funcscope.shared.triggers import (
    UNKNOWN_TRIGGER,
    TriggerCache,
    classify_arguments,
    classify_binding_type,
    declare_function,
    declare_indexed_function,
    declared_trigger,
    read_function_json_trigger,
    trigger_from_bindings,
)


@pytest.mark.parametrize(
    "binding_type, faas_trigger, kind, system",
    [
        ("httpTrigger", "http", SpanKind.SERVER, None),
        ("queueTrigger", "pubsub", SpanKind.CONSUMER, "azure.storage.queue"),
        ("serviceBusTrigger", "pubsub", SpanKind.CONSUMER, "servicebus"),
        ("eventHubTrigger", "pubsub", SpanKind.CONSUMER, "eventhubs"),
        ("eventGridTrigger", "pubsub", SpanKind.CONSUMER, "eventgrid"),
        ("blobTrigger", "datasource", SpanKind.CONSUMER, None),
        ("cosmosDBTrigger", "datasource", SpanKind.CONSUMER, None),
        ("timerTrigger", "timer", SpanKind.INTERNAL, None),
        ("TIMERTRIGGER", "timer", SpanKind.INTERNAL, None),
        ("activityTrigger", "other", SpanKind.INTERNAL, None),
    ],
)
def test_binding_types(binding_type, faas_trigger, kind, system):
    trigger = classify_binding_type(binding_type)
    assert (trigger.faas_trigger, trigger.span_kind, trigger.messaging_system) == (faas_trigger, kind, system)


def _http():
    return func.HttpRequest("GET", "http://localhost/api/x", body=b"")


def test_arguments_http_wins_over_blob_input():
    blob = func.blob.InputStream(data=b"x", name="c/b")
    assert classify_arguments({"blob": blob, "req": _http()}).binding_type == "httpTrigger"
    assert classify_arguments({"blob": blob}).binding_type == "blobTrigger"


def test_arguments_message_types():
    assert classify_arguments({"msg": func.QueueMessage(body=b"x")}).messaging_system == "azure.storage.queue"
    assert classify_arguments({"msg": func.ServiceBusMessage(body=b"x")}).messaging_system == "servicebus"
    events = [func.EventHubEvent(body=b"a"), func.EventHubEvent(body=b"b")]
    assert classify_arguments({"events": events}).messaging_system == "eventhubs"


def test_arguments_unknown():
    assert classify_arguments({"x": 1, "context": object()}) is None
    assert classify_arguments(None) is None and classify_arguments({"empty": []}) is None


def test_function_json(tmp_path):
    (tmp_path / "function.json").write_text(
        json.dumps({"bindings": [{"type": "blob", "direction": "in"}, {"type": "queueTrigger", "direction": "in"}]})
    )
    assert read_function_json_trigger(str(tmp_path)).binding_type == "queueTrigger"


@pytest.mark.parametrize("content", ["{not json", '{"bindings": "nope"}', "[]", '{"bindings": [1, {"type": 3}]}'])
def test_function_json_broken(tmp_path, content):
    (tmp_path / "function.json").write_text(content)
    assert read_function_json_trigger(str(tmp_path)) is None


def test_cache_prefers_function_json_then_arguments(tmp_path):
    (tmp_path / "function.json").write_text(json.dumps({"bindings": [{"type": "timerTrigger"}]}))
    cache = TriggerCache()
    cache.learn_from_directory("Timer", str(tmp_path))
    cache.learn_from_directory("Missing", str(tmp_path / "nowhere"))
    assert cache.get("Timer", {"req": _http()}).binding_type == "timerTrigger"
    assert cache.get("Other", {"x": 1}) is UNKNOWN_TRIGGER  # not cached: a later call can still tell
    assert cache.get("Other", {"req": _http()}).binding_type == "httpTrigger"
    assert cache.get("Other", {"x": 1}).binding_type == "httpTrigger"


# -- binding metadata: what every worker knows of a function before its first invocation ------------------------


def test_bindings_tell_argument_batch_and_what_they_read(monkeypatch):
    monkeypatch.setenv("HUB_SETTING", "telemetry")
    monkeypatch.delenv("UNSET_SETTING", raising=False)
    sb = trigger_from_bindings(
        [
            {"type": "blob", "name": "extra", "direction": "in"},
            {
                "type": "serviceBusTrigger",
                "name": "msgs",
                "topicName": "events",
                "subscriptionName": "audit",
                "cardinality": "many",
            },
        ],
        "Audit",
    )
    assert (sb.binding_type, sb.argument, sb.batch, sb.destination, sb.subscription) == (
        "serviceBusTrigger",
        "msgs",
        True,
        "events",
        "audit",
    )
    eh = trigger_from_bindings(
        [{"type": "eventHubTrigger", "name": "e", "eventHubName": "%HUB_SETTING%", "consumerGroup": "%UNSET_SETTING%"}],
        "T",
    )
    assert (eh.destination, eh.consumer_group, eh.batch) == ("telemetry", None, False)
    blob = trigger_from_bindings([{"type": "blobTrigger", "name": "client", "path": "uploads/{name}"}], "B")
    assert (blob.faas_trigger, blob.collection, blob.argument) == ("datasource", "uploads", "client")
    assert trigger_from_bindings([{"type": "blobTrigger", "path": "{c}/{name}"}], "B").collection is None
    cosmos = trigger_from_bindings([{"type": "cosmosDBTrigger", "containerName": "items"}], "C")
    assert cosmos.collection == "items"
    http = trigger_from_bindings([{"type": "httpTrigger", "name": "req"}], "Hello")
    assert (http.route, http.argument) == ("/api/Hello", "req")
    assert trigger_from_bindings([{"type": "queue", "name": "out"}, "junk", {"type": 3}], "X") is None


@pytest.mark.parametrize(
    "binding_type, role",
    [("orchestrationTrigger", "orchestrator"), ("activityTrigger", "activity"), ("entityTrigger", "entity")],
)
def test_durable_triggers(binding_type, role):
    trigger = trigger_from_bindings([{"type": binding_type, "name": "context"}], "F")
    assert (trigger.durable, trigger.span_kind, trigger.faas_trigger) == (role, SpanKind.INTERNAL, "other")


def test_indexed_v2_function_with_an_sdk_type_is_told_by_its_binding():
    import azurefunctions.extensions.bindings.blob as blob

    app = func.FunctionApp()

    @app.blob_trigger(arg_name="client", path="uploads/{name}", connection="AzureWebJobsStorage")
    def uploaded(client: blob.BlobClient) -> None: ...

    @app.service_bus_queue_trigger(arg_name="msgs", queue_name="q", connection="c", cardinality=func.Cardinality.MANY)
    def drain(msgs: list[func.ServiceBusMessage]) -> None: ...

    try:
        for function in app.get_functions():
            declare_indexed_function(function)
        assert declared_trigger("uploaded").collection == "uploads"
        assert declared_trigger("drain").batch is True  # the decorators' enum, read as function.json's string
        cache = TriggerCache()
        opaque = object()  # what funcscope cannot tell by type
        assert cache.get("uploaded", {"client": opaque}).binding_type == "blobTrigger"
    finally:
        declare_function("uploaded", None)
        declare_function("drain", None)


def test_an_unreadable_indexed_function_is_reported_once(caplog):
    class Broken:
        def get_function_name(self):
            return "broken"

        def get_bindings_dict(self):
            raise RuntimeError("no bindings today")

    declare_indexed_function(Broken())
    declare_indexed_function(Broken())
    assert declared_trigger("broken") is None
    assert len([r for r in caplog.records if "could not read the bindings" in r.getMessage()]) == 1
