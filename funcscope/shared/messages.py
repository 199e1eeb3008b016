"""The producers of a trigger's messages: the trace context each message carries, as links for the invocation span.

A producer instrumented with OpenTelemetry or the Azure SDK's tracing writes its span's context into the message's
properties: `traceparent` (and `tracestate`), or `Diagnostic-Id`, which holds a W3C traceparent in the Azure SDKs
of today and a hierarchical Request-Id (`|abc.1.`) in old ones. The invocation span is linked to each producer
span (links, not parents: the host's span is the parent, and a batch has many producers). Where `azure.functions`
shows a message's properties:

- Service Bus (`ServiceBusMessage`): `application_properties`, else `user_properties`, per message also in a batch;
- Event Hubs (`EventHubEvent`): the trigger metadata's `Properties` (one event), or its `PropertiesArray`, one entry
  per event, in order (a batch's events share the metadata);
- Event Grid: a CloudEvents-schema event (`CloudEvent`) carries the distributed-tracing extension's `traceparent`
  and `tracestate` among its extension attributes; an Event Grid-schema event (`EventGridEvent`) has no place for
  them;
- Kafka (`KafkaEvent`): the record's headers, which the Kafka extension sends in the trigger metadata (`Headers`,
  `HeadersArray` for a batch) as a list of `{"Key": ..., "Value": <the bytes, base64>}`; OpenTelemetry's Kafka
  instrumentations write `traceparent` and `tracestate` there. A Kafka record has no message id;
- storage queues (`QueueMessage`): a queue message is its text alone (the service keeps no properties or
  metadata with it, and the Azure SDK's queue client writes none into the text), so there is nothing to link.

Parsing is OpenTelemetry's W3C propagator. A missing, malformed or legacy context gives no link, never an error.
A message without properties costs one attribute read.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import azure.functions as func
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_MESSAGE_ID,
    MessagingSystemValues,
)
from opentelemetry.trace import Link

from .diagnostics import report_once
from .trace_context import span_context_of
from .values import bounded_text

MAX_MESSAGE_ID_LENGTH = 1024  # a message id from the producer, bounded before it reaches the SDK

__all__ = ["MessageBatch", "read_messages"]

_TRACEPARENT_KEYS = ("traceparent", "Diagnostic-Id")
_TRACESTATE_KEY = "tracestate"
_KAFKA_HEADERS = frozenset((*_TRACEPARENT_KEYS, _TRACESTATE_KEY))
_MAX_HEADER_TEXT = 4096  # base64 of more than a traceparent and a W3C tracestate hold
_CLOUD_EVENT: type | None = getattr(func, "CloudEvent", None)  # not in every azure-functions version
_MISSING = object()


class MessageBatch:
    """What an invocation's trigger argument tells of its messages: one link per message whose producer context
    could be read, the number of messages (`count`, None for a single message) and a single message's id."""

    __slots__ = ("links", "count", "message_id")

    def __init__(self, links: Sequence[Link], count: int | None, message_id: str | None) -> None:
        self.links = links
        self.count = count
        self.message_id = message_id


_NOTHING = MessageBatch((), None, None)
_EMPTY_JSON = frozenset({"", "{}", "[]", "null"})


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) and value else None


# -- per messaging system: (properties, message id) of one message -------------------------------------------------


def _service_bus(message: object) -> tuple[Mapping[str, Any] | None, str | None]:
    if not isinstance(message, func.ServiceBusMessage):
        return None, None  # another type (an SDK-type binding's message): nothing funcscope can read of it
    return _mapping(message.application_properties) or _mapping(message.user_properties), _text(message.message_id)


def _event_hub_metadata(event: object, key: str) -> object:
    """One field of an event's trigger metadata, decoded alone.

    `EventHubEvent.metadata` decodes every field of the trigger metadata (system properties, partition context,
    ...) on first use, which costs more than the rest of an invocation's telemetry; only the properties are needed
    here, and most events have none. So the raw field is read when `azure.functions` keeps it where this version
    does, and `metadata` is the fallback."""
    decoded = getattr(event, "_trigger_metadata_pyobj", None)  # decoded already (the function read .metadata)
    if isinstance(decoded, Mapping):
        return decoded.get(key)
    raw = getattr(event, "_EventHubEvent__trigger_metadata", _MISSING)
    if raw is _MISSING:
        metadata = event.metadata if isinstance(event, func.EventHubEvent) else None
        return metadata.get(key) if metadata else None
    datum = raw.get(key) if isinstance(raw, Mapping) else None
    if datum is None or getattr(datum, "value", None) in _EMPTY_JSON:
        return None
    return datum.python_value


def _event_hub(event: object) -> tuple[Mapping[str, Any] | None, str | None]:
    if not isinstance(event, func.EventHubEvent):
        return None, None
    return _mapping(_event_hub_metadata(event, "Properties")), None


def _event_grid(event: object) -> tuple[Mapping[str, Any] | None, str | None]:
    if _CLOUD_EVENT is not None and isinstance(event, _CLOUD_EVENT):
        return _mapping(getattr(event, "extension_attrs", None)), _text(getattr(event, "id", None))
    if isinstance(event, func.EventGridEvent):
        return None, _text(event.id)  # the Event Grid schema has no place for a trace context
    return None, None


def _kafka(event: object) -> tuple[Mapping[str, Any] | None, str | None]:
    headers = event.headers if isinstance(event, func.KafkaEvent) else None
    if not isinstance(headers, list) or not headers:
        return None, None
    found: dict[str, object] = {}
    for header in headers:
        key = header.get("Key") if isinstance(header, Mapping) else None
        if key in _KAFKA_HEADERS:
            found[key] = _header_text(header.get("Value"))
    return found or None, None


def _header_text(value: object) -> object:
    # A header's bytes, base64 in the trigger metadata; what cannot be read stays as it is, and gives no link.
    if not isinstance(value, str) or len(value) > _MAX_HEADER_TEXT:
        return value
    try:
        return base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return value


def _queue(message: object) -> tuple[Mapping[str, Any] | None, str | None]:
    return None, _text(message.id) if isinstance(message, func.QueueMessage) else None


_Reader = Callable[[object], tuple[Mapping[str, Any] | None, str | None]]
_READERS: dict[str, _Reader] = {
    MessagingSystemValues.SERVICEBUS.value: _service_bus,
    MessagingSystemValues.EVENTHUBS.value: _event_hub,
    MessagingSystemValues.EVENTGRID.value: _event_grid,
    MessagingSystemValues.KAFKA.value: _kafka,
    "azure.storage.queue": _queue,
}


def _link(properties: Mapping[str, Any] | None, message_id: str | None, system: str) -> Link | None:
    if not properties:
        return None
    for key in _TRACEPARENT_KEYS:
        traceparent = properties.get(key)
        if traceparent is None:
            continue
        span_context = span_context_of(traceparent, properties.get(_TRACESTATE_KEY))
        if span_context is None:
            _report_unusable(key, traceparent, system)
            continue
        if not isinstance(message_id, str) or not message_id:
            return Link(span_context)
        return Link(span_context, {MESSAGING_MESSAGE_ID: bounded_text(message_id, MAX_MESSAGE_ID_LENGTH)})
    return None


def _report_unusable(key: str, value: object, system: str) -> None:
    legacy = isinstance(value, str) and value.startswith("|")
    why = "a legacy Request-Id, not a W3C traceparent" if legacy else "not a W3C traceparent"
    shown = repr(value[:64]) if isinstance(value, str) else type(value).__name__
    report_once(
        ("messages", system, key, "legacy" if legacy else "invalid"),
        f"a {system} message carried a {key} property that is {why} ({shown}); such messages get no "
        "link to their producer. Producers on a current Azure SDK or OpenTelemetry write a W3C traceparent.",
        level=logging.INFO,
    )


def read_messages(value: object, system: str) -> MessageBatch:
    """The links, count and id of the messages in a trigger argument: one message, or a batch's list."""
    reader = _READERS.get(system)
    if isinstance(value, list):
        if reader is None or not value:
            return MessageBatch((), len(value), None)
        batch_properties = _event_hub_metadata(value[0], "PropertiesArray") if reader is _event_hub else None
        if not (isinstance(batch_properties, list) and len(batch_properties) == len(value)):
            batch_properties = None
        links = []
        for index, message in enumerate(value):
            properties, message_id = reader(message)
            if batch_properties is not None:  # the events of a batch share one metadata, with one entry each
                properties = _mapping(batch_properties[index])
            link = _link(properties, message_id, system)
            if link is not None:
                links.append(link)
        return MessageBatch(links, len(value), None)
    if reader is None:
        return _NOTHING
    properties, message_id = reader(value)
    link = _link(properties, message_id, system)
    if link is None:
        return MessageBatch((), None, message_id) if message_id else _NOTHING
    return MessageBatch((link,), None, message_id)
