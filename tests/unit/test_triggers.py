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
    read_function_json_trigger,
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
