"""Trigger classification: which kind of trigger started an invocation.

The kind decides the span kind under `span_kind="trigger"` (SERVER for HTTP, CONSUMER for message and data
triggers, INTERNAL for timers), the `faas.trigger` attribute and the messaging system. v1 apps name their trigger
in `function.json`, which is read once at load; v2 apps (and v1 apps whose `function.json` could not be read) are
classified from the `azure.functions` types of the invocation's arguments. Either way the answer is cached per
function.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

import azure.functions as func
from opentelemetry.semconv._incubating.attributes.faas_attributes import FaasTriggerValues
from opentelemetry.semconv._incubating.attributes.messaging_attributes import MessagingSystemValues
from opentelemetry.trace import SpanKind

__all__ = ["Trigger", "TriggerCache", "classify_binding_type", "classify_arguments", "UNKNOWN_TRIGGER"]


@dataclass(frozen=True)
class Trigger:
    """What funcscope knows about a function's trigger."""

    binding_type: str  # as in function.json, e.g. "httpTrigger"; "unknown" when it could not be told
    faas_trigger: str  # semantic-convention `faas.trigger` value
    span_kind: SpanKind  # the invocation span's kind when `span_kind="trigger"`
    messaging_system: str | None = None
    route: str | None = None  # HTTP route template, when function.json tells it (v1 apps)

    @property
    def is_http(self) -> bool:
        return self.faas_trigger == FaasTriggerValues.HTTP.value


_HTTP = FaasTriggerValues.HTTP.value
_PUBSUB = FaasTriggerValues.PUBSUB.value
_DATASOURCE = FaasTriggerValues.DATASOURCE.value
_TIMER = FaasTriggerValues.TIMER.value
_OTHER = FaasTriggerValues.OTHER.value

# Keyed by the lower-cased function.json binding type. Storage queues have no semantic-convention system value.
_BY_BINDING_TYPE: dict[str, Trigger] = {
    t.binding_type.lower(): t
    for t in (
        Trigger("httpTrigger", _HTTP, SpanKind.SERVER),
        Trigger("queueTrigger", _PUBSUB, SpanKind.CONSUMER, "azure.storage.queue"),
        Trigger("serviceBusTrigger", _PUBSUB, SpanKind.CONSUMER, MessagingSystemValues.SERVICEBUS.value),
        Trigger("eventHubTrigger", _PUBSUB, SpanKind.CONSUMER, MessagingSystemValues.EVENTHUBS.value),
        Trigger("eventGridTrigger", _PUBSUB, SpanKind.CONSUMER, MessagingSystemValues.EVENTGRID.value),
        Trigger("kafkaTrigger", _PUBSUB, SpanKind.CONSUMER, MessagingSystemValues.KAFKA.value),
        Trigger("blobTrigger", _DATASOURCE, SpanKind.CONSUMER),
        Trigger("cosmosDBTrigger", _DATASOURCE, SpanKind.CONSUMER),
        Trigger("timerTrigger", _TIMER, SpanKind.INTERNAL),
    )
}

UNKNOWN_TRIGGER = Trigger("unknown", _OTHER, SpanKind.INTERNAL)

# Argument types in priority order: a function triggered over HTTP may also take a blob input, so the more
# specific trigger types are tried before the data types that also appear as input bindings.
_BY_ARGUMENT_TYPE: tuple[tuple[type, str], ...] = (
    (func.HttpRequest, "httptrigger"),
    (func.ServiceBusMessage, "servicebustrigger"),
    (func.EventHubEvent, "eventhubtrigger"),
    (func.QueueMessage, "queuetrigger"),
    (func.EventGridEvent, "eventgridtrigger"),
    (func.KafkaEvent, "kafkatrigger"),
    (func.TimerRequest, "timertrigger"),
    (func.DocumentList, "cosmosdbtrigger"),
    (func.InputStream, "blobtrigger"),
)


def classify_binding_type(binding_type: str) -> Trigger:
    """The trigger for a function.json binding type; unknown types give a generic INTERNAL trigger."""
    known = _BY_BINDING_TYPE.get(binding_type.lower())
    if known is not None:
        return known
    return Trigger(binding_type, _OTHER, SpanKind.INTERNAL)


def classify_arguments(func_args: Mapping[str, object] | None) -> Trigger | None:
    """The trigger told by the `azure.functions` types among the arguments, or None if none is recognised."""
    if not func_args:
        return None
    values = [v[0] if isinstance(v, list) and v else v for v in func_args.values()]  # cardinality "many"
    for arg_type, binding_type in _BY_ARGUMENT_TYPE:
        for value in values:
            if isinstance(value, arg_type):
                return _BY_BINDING_TYPE[binding_type]
    return None


def _read_json(path: str) -> object:
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _route_prefix(app_root: str) -> str:
    # host.json may change the "api" prefix of HTTP routes (extensions.http.routePrefix).
    host = _read_json(os.path.join(app_root, "host.json"))
    try:
        prefix = host["extensions"]["http"]["routePrefix"]  # type: ignore[index]
    except (TypeError, KeyError):
        return "api"
    return prefix.strip("/") if isinstance(prefix, str) else "api"


def read_function_json_trigger(function_directory: str) -> Trigger | None:
    """The trigger declared in a v1 function folder's function.json, or None when there is none to read."""
    config = _read_json(os.path.join(function_directory, "function.json"))
    bindings = config.get("bindings") if isinstance(config, dict) else None
    for binding in bindings if isinstance(bindings, list) else []:
        binding_type = binding.get("type") if isinstance(binding, dict) else None
        if isinstance(binding_type, str) and binding_type.lower().endswith("trigger"):
            trigger = classify_binding_type(binding_type)
            if trigger.is_http:
                route = binding.get("route")
                route = route.strip("/") if isinstance(route, str) and route else os.path.basename(function_directory)
                prefix = _route_prefix(os.path.dirname(os.path.abspath(function_directory)))
                trigger = replace(trigger, route="/" + "/".join(p for p in (prefix, route) if p))
            return trigger
    return None


class TriggerCache:
    """Per-function trigger, learned once: from function.json at load, else from the first invocation's arguments."""

    def __init__(self) -> None:
        self._by_function: dict[str, Trigger] = {}

    def learn_from_directory(self, function_name: str, function_directory: str) -> None:
        trigger = read_function_json_trigger(function_directory)
        if trigger is not None:
            self._by_function[function_name] = trigger

    def get(self, function_name: str, func_args: Mapping[str, object] | None) -> Trigger:
        trigger = self._by_function.get(function_name)
        if trigger is None:
            trigger = classify_arguments(func_args)
            if trigger is None:
                return UNKNOWN_TRIGGER  # not cached: a later invocation may carry a recognisable argument
            self._by_function[function_name] = trigger
        return trigger
