"""Trigger classification: which kind of trigger started an invocation, and what its binding says of it.

The kind decides the span kind under `span_kind="trigger"` (SERVER for HTTP, CONSUMER for message and data
triggers, INTERNAL for timers and Durable Functions), the `faas.trigger` attribute and the messaging system. It is
read from the function's binding metadata, which every worker has before the first invocation:

- v1 apps: the trigger binding of the function folder's `function.json`, read once as the worker loads it;
- v2 apps: the bindings the `azure.functions` decorators recorded on the app's `Function`, which every worker
  (and funcscope's emulator) reads when it indexes the app (`declare_indexed_function`).

The binding also names the trigger's argument, its cardinality (a batch), and what it reads from: the queue,
topic or event hub (`%setting%` references resolved from the app settings, as the host resolves them), the Service
Bus subscription, the Event Hubs consumer group, the blob or Cosmos DB container. So an argument of a type
funcscope does not know (an SDK-type binding such as `azurefunctions-extensions-bindings-blob`'s `BlobClient`, a
plain `str`) is classified by its binding, never by its type. Only a function whose metadata could not be read is
classified from the `azure.functions` types of its arguments. Either way the answer is cached per function.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import azure.functions as func
from opentelemetry.semconv._incubating.attributes.faas_attributes import FaasTriggerValues
from opentelemetry.semconv._incubating.attributes.messaging_attributes import MessagingSystemValues
from opentelemetry.trace import SpanKind

from .diagnostics import report_once

__all__ = [
    "Trigger",
    "TriggerCache",
    "UNKNOWN_TRIGGER",
    "classify_arguments",
    "classify_binding_type",
    "declare_function",
    "declare_indexed_function",
    "declare_loaded_folder",
    "declared_trigger",
    "read_function_json_trigger",
    "trigger_from_bindings",
]


@dataclass(frozen=True)
class Trigger:
    """What funcscope knows about a function's trigger."""

    binding_type: str  # as in function.json, e.g. "httpTrigger"; "unknown" when it could not be told
    faas_trigger: str  # semantic-convention `faas.trigger` value
    span_kind: SpanKind  # the invocation span's kind when `span_kind="trigger"`
    messaging_system: str | None = None
    route: str | None = None  # HTTP route template, with the host's route prefix
    argument: str | None = None  # the name of the trigger's argument, when the binding metadata tells it
    batch: bool = False  # cardinality "many": the argument is a list of messages
    destination: str | None = None  # the queue, topic or event hub the binding reads
    subscription: str | None = None  # the Service Bus topic subscription
    consumer_group: str | None = None  # the Event Hubs consumer group
    collection: str | None = None  # the blob container or Cosmos DB container the binding reads
    durable: str | None = None  # "orchestrator", "activity" or "entity": a Durable Functions trigger

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
        # Durable Functions: the host's own spans carry the orchestration; these are steps of it.
        Trigger("orchestrationTrigger", _OTHER, SpanKind.INTERNAL, durable="orchestrator"),
        Trigger("activityTrigger", _OTHER, SpanKind.INTERNAL, durable="activity"),
        Trigger("entityTrigger", _OTHER, SpanKind.INTERNAL, durable="entity"),
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

# The binding properties that name what a trigger reads, by binding type (function.json's camel case).
_DESTINATION_KEYS = ("queueName", "topicName", "eventHubName", "topic")  # "topic": Kafka
_COLLECTION_KEYS = ("containerName", "collectionName")
_SETTING_REFERENCE = re.compile(r"^%([^%]+)%$")


def classify_binding_type(binding_type: str) -> Trigger:
    """The trigger for a function.json binding type; unknown types give a generic INTERNAL trigger."""
    known = _BY_BINDING_TYPE.get(binding_type.lower())
    if known is not None:
        return known
    return Trigger(binding_type, _OTHER, SpanKind.INTERNAL)


def classify_arguments(func_args: Mapping[str, object] | None) -> Trigger | None:
    """The trigger told by the `azure.functions` types among the arguments (with the argument it was told by),
    or None if none is recognised."""
    try:  # the arguments may be of any type, with any behaviour
        if not func_args:
            return None
        values = [(k, v[0] if isinstance(v, list) and v else v) for k, v in func_args.items()]  # cardinality "many"
        for arg_type, binding_type in _BY_ARGUMENT_TYPE:
            for name, value in values:
                if isinstance(value, arg_type):
                    return replace(
                        _BY_BINDING_TYPE[binding_type], argument=name, batch=isinstance(func_args[name], list)
                    )
    except Exception:
        return None
    return None


def _text(value: object) -> str | None:
    # The decorators keep enums (e.g. `Cardinality.MANY`) where function.json has their string values.
    value = getattr(value, "value", value)
    return value if isinstance(value, str) and value else None


def _resolved(value: object) -> str | None:
    # A binding may name an app setting instead of a value (`"queueName": "%ORDERS_QUEUE%"`); the host resolves it
    # from the app settings, and so does this. An unset setting tells nothing.
    text = _text(value)
    if text is None:
        return None
    reference = _SETTING_REFERENCE.match(text)
    if reference is None:
        return text
    return os.environ.get(reference.group(1)) or None


def _first(binding: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = _resolved(binding.get(key))
        if value is not None:
            return value
    return None


def _container_of(path: object) -> str | None:
    # "samples/{name}" reads the container "samples"; "{container}/{name}" names no container.
    text = _resolved(path)
    if text is None:
        return None
    container = text.strip("/").split("/", 1)[0]
    return container if container and "{" not in container else None


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


def trigger_from_bindings(
    bindings: Iterable[object], function_name: str, app_root: str | None = None
) -> Trigger | None:
    """The trigger a function's bindings declare (function.json's `bindings`, or a v2 function's bindings as
    dicts), with what the binding says of it; None when no binding is a trigger. `app_root` is the folder of
    `host.json`, for the HTTP route prefix."""
    for binding in bindings:
        if not isinstance(binding, Mapping):
            continue
        binding_type = _text(binding.get("type"))
        if binding_type is None or not binding_type.lower().endswith("trigger"):
            continue
        trigger = classify_binding_type(binding_type)
        details: dict[str, Any] = {
            "argument": _text(binding.get("name")),
            "batch": (_text(binding.get("cardinality")) or "").lower() == "many",
        }
        kind = binding_type.lower()
        if trigger.is_http:
            route = _text(binding.get("route"))
            route = route.strip("/") if route else function_name
            prefix = _route_prefix(app_root) if app_root else "api"
            details["route"] = "/" + "/".join(p for p in (prefix, route) if p)
        elif trigger.messaging_system:
            details["destination"] = _first(binding, _DESTINATION_KEYS)
            details["subscription"] = _resolved(binding.get("subscriptionName"))
            details["consumer_group"] = _resolved(binding.get("consumerGroup"))
        elif kind == "blobtrigger":
            details["collection"] = _container_of(binding.get("path"))
        elif kind == "cosmosdbtrigger":
            details["collection"] = _first(binding, _COLLECTION_KEYS)
        return replace(trigger, **details)
    return None


def read_function_json_trigger(function_directory: str) -> Trigger | None:
    """The trigger declared in a v1 function folder's function.json, or None when there is none to read."""
    config = _read_json(os.path.join(function_directory, "function.json"))
    bindings = config.get("bindings") if isinstance(config, dict) else None
    if not isinstance(bindings, list):
        return None
    directory = os.path.abspath(function_directory)
    return trigger_from_bindings(bindings, os.path.basename(directory), os.path.dirname(directory))


# -- what the workers declared as they loaded the app ----------------------------------------------------------

# Function name -> trigger, for every function the worker loaded in this process. Process-wide, as the worker's own
# registry of functions is: a runner set up afresh (tests, tools) still knows the functions already loaded.
_declared: dict[str, Trigger] = {}
_declared_lock = threading.Lock()


def declare_function(function_name: str, trigger: Trigger | None) -> None:
    """Remember `function_name`'s trigger as the worker loaded it (None forgets it)."""
    with _declared_lock:
        if trigger is None:
            _declared.pop(function_name, None)
        else:
            _declared[function_name] = trigger


def declared_trigger(function_name: str) -> Trigger | None:
    return _declared.get(function_name)


def declare_indexed_function(function: Any) -> None:
    """Learn a v2 function's trigger from the `azure.functions` decorators' `Function` the worker indexed."""
    try:
        name = function.get_function_name()
        bindings = function.get_bindings_dict()["bindings"]
        script = getattr(function, "function_script_file", None)
        app_root = os.path.dirname(os.path.abspath(script)) if isinstance(script, str) and script else None
        if isinstance(name, str) and name:
            declare_function(name, trigger_from_bindings(bindings, name, app_root))
    except Exception as exc:
        report_once(
            ("triggers", "index", type(exc).__name__),
            f"could not read the bindings of an indexed function ({exc!r}); its trigger is told from "
            "its arguments' types instead.",
            exc=exc,
        )


def declare_loaded_folder(function_name: str, function_directory: object) -> None:
    """Learn a v1 function's trigger from its folder's function.json, as the worker loads it."""
    if isinstance(function_directory, str) and function_directory:
        trigger = read_function_json_trigger(function_directory)
        if trigger is not None:
            declare_function(function_name, trigger)


class TriggerCache:
    """Per-function trigger, learned once: from its binding metadata (function.json at load, or what the worker
    indexed), else from the first invocation's arguments."""

    def __init__(self) -> None:
        self._by_function: dict[str, Trigger] = {}

    def learn_from_directory(self, function_name: str, function_directory: str) -> None:
        trigger = read_function_json_trigger(function_directory)
        if trigger is not None:
            self._by_function[function_name] = trigger

    def get(self, function_name: str, func_args: Mapping[str, object] | None) -> Trigger:
        trigger = self._by_function.get(function_name)
        if trigger is None:
            trigger = _declared.get(function_name) or classify_arguments(func_args)
            if trigger is None:
                return UNKNOWN_TRIGGER  # not cached: a later invocation may carry a recognisable argument
            self._by_function[function_name] = trigger
        return trigger
