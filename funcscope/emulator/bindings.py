"""Builds real ``azure.functions`` trigger arguments from a plain per-invocation payload.

A payload is a dict describing the trigger data; every key is optional and has a default:

- httpTrigger: method, url, headers, params (else parsed from url), route_params, body
- queueTrigger: body, id, dequeue_count, pop_receipt, insertion_time, expiration_time, time_next_visible
- serviceBusTrigger: body, message_id, delivery_count, session_id, user_properties, application_properties,
  content_type, correlation_id, enqueued_time_utc, time_to_live, ... (see ``_service_bus``); a list of such
  dicts when the binding's cardinality is "many"
- eventHubTrigger: body, enqueued_time, partition_key, sequence_number, offset, iothub_metadata, properties (the
  event's application properties); a list of such dicts when the binding's cardinality is "many"
- kafkaTrigger: value, key, topic (else the binding's), partition, offset, timestamp, headers (the record's
  headers, str to str, such as a producer's traceparent); a list of such dicts when the cardinality is "many"
- timerTrigger: past_due, schedule_status, schedule
- blobTrigger: data (or body), name, uri, length, blob_properties, metadata
- eventGridTrigger: id, data, topic, subject, event_type, event_time, data_version (an Event Grid-schema event),
  or cloud_event: the event as CloudEvents-schema JSON (a dict with specversion, id, source, type, data and any
  extension attributes, such as traceparent)
- cosmosDBTrigger: a list of documents, or {"documents": [...]}
- orchestrationTrigger: the orchestration context the Durable extension sends (a dict or its JSON: instanceId,
  history, input, ...); entityTrigger: the entity context likewise (self, state, batch, ...); activityTrigger:
  input (the activity's input, sent as JSON) and instance_id (the orchestration's, sent as trigger metadata).
  Each is decoded by `azure.functions`' own Durable Functions converter, as the worker does.

A parameter annotated with an SDK type (`azurefunctions-extensions-bindings-blob`'s `BlobClient`,
`ContainerClient`, `StorageStreamDownloader`) is bound as the worker binds it: the host sends model binding data
(the binding's connection setting, container and blob name; the payload may give ``container`` and ``name``), and
the extension's converter makes the client.

Bodies may be bytes, str, or a dict/list (sent as JSON); times a datetime or an ISO 8601 str.
The reserved key ``"$inputs"`` maps other input binding names to the value passed for them
verbatim. Unknown trigger types receive the payload as is.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import re
import uuid
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
from azure.functions import (
    _eventgrid,
    _eventhub,
    blob,
    durable_functions,
    eventgrid,
    http,
    kafka,
    queue,
    servicebus,
    timer,
)
from azure.functions.meta import Datum

from .errors import EmulatorError

__all__ = ["INPUTS_KEY", "Out", "build_arguments", "builds_trigger"]

INPUTS_KEY = "$inputs"
T = TypeVar("T")


class Out(func.Out, Generic[T]):  # type: ignore[type-arg]
    """An output binding value holder, as the worker passes for ``direction: out`` bindings."""

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, val: T) -> None:
        self._value = val

    def get(self) -> T | None:
        return self._value

    def __repr__(self) -> str:
        return f"Out({self._value!r})"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class _Payload:
    """Typed access to one trigger payload, turning every mistake into a clear EmulatorError."""

    def __init__(self, function_name: str, trigger: str, data: Mapping[str, Any], allowed: set[str]) -> None:
        self._function_name = function_name
        self._trigger = trigger
        self.data = data
        unknown = data.keys() - allowed
        unknown.discard(INPUTS_KEY)
        if unknown:
            raise EmulatorError(
                f"{self.where}: unknown key(s) {sorted(map(str, unknown))}; expected some of {sorted(allowed)}"
            )

    @property
    def where(self) -> str:
        # Only error messages need it: built then, not for every payload.
        return f"payload for {self._trigger} function {self._function_name!r}"

    def get(self, key: str, types: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, types):
            return value
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise EmulatorError(f"{self.where}: {key!r} must be {names}, got {type(value).__name__}")

    def body(self, key: str = "body", default: Any = b"") -> bytes:
        value = self.data.get(key, default)
        if value is None:
            return b""
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, (dict, list)):
            try:
                return json.dumps(value).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise EmulatorError(f"{self.where}: {key!r} is not JSON-serialisable: {exc}") from None
        raise EmulatorError(f"{self.where}: {key!r} must be bytes, str, dict or list, got {type(value).__name__}")

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.get(key, Mapping, {})
        return dict(value or {})

    def str_mapping(self, key: str) -> dict[str, str]:
        value = self.mapping(key)
        bad = [k for k, v in value.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise EmulatorError(f"{self.where}: {key!r} must map str to str (bad entries: {bad})")
        return value

    def time(self, key: str, default: dt.datetime | None = None) -> dt.datetime | None:
        value = self.data.get(key, default)
        if value is None or isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise EmulatorError(f"{self.where}: {key!r} is not an ISO 8601 time: {value!r}") from None
        raise EmulatorError(f"{self.where}: {key!r} must be a datetime or ISO 8601 str")


@functools.lru_cache(maxsize=256)
def _query_params(url: str) -> tuple[tuple[str, str], ...]:
    # Calls usually repeat a few URLs; parsing the query string is most of an HTTP trigger's cost.
    return tuple(parse_qsl(urlsplit(url).query))


def _http(name: str, binding: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    p = _Payload(name, "httpTrigger", data, {"method", "url", "headers", "params", "route_params", "body"})
    route = binding.get("route") or name
    url = p.get("url", str, f"http://localhost:7071/api/{route}")
    headers = p.str_mapping("headers")
    if isinstance(data.get("body"), (dict, list)) and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    params = p.str_mapping("params") if "params" in data else dict(_query_params(url))
    method = p.get("method", str, "GET").upper()
    return http.HttpRequest(
        method,
        url,
        headers=headers,
        params=params,
        route_params=p.str_mapping("route_params"),
        body_type="bytes",
        body=p.body(),
    )


def _queue(name: str, binding: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    p = _Payload(
        name,
        "queueTrigger",
        data,
        {"body", "id", "dequeue_count", "pop_receipt", "insertion_time", "expiration_time", "time_next_visible"},
    )
    inserted = p.time("insertion_time") or _now()
    return queue.QueueMessage(
        id=p.get("id", str) or str(uuid.uuid4()),
        body=p.body(),
        dequeue_count=p.get("dequeue_count", int, 1),
        insertion_time=inserted,
        expiration_time=p.time("expiration_time") or inserted + dt.timedelta(days=7),
        time_next_visible=p.time("time_next_visible") or inserted + dt.timedelta(seconds=30),
        pop_receipt=p.get("pop_receipt", str) or uuid.uuid4().hex,
    )


_SB_STR_KEYS = (
    "content_type",
    "correlation_id",
    "dead_letter_error_description",
    "dead_letter_reason",
    "dead_letter_source",
    "label",
    "lock_token",
    "partition_key",
    "reply_to",
    "reply_to_session_id",
    "session_id",
    "subject",
    "to",
    "transaction_partition_key",
)


def _service_bus(name: str, binding: Mapping[str, Any], data: Any) -> Any:
    # cardinality "many": a list of messages, each with its own properties (the converter reads them from the
    # host's per-message arrays, UserPropertiesArray, MessageIdArray, ...).
    many = str(binding.get("cardinality", "one")).lower() == "many"
    if isinstance(data, list):
        if not many:
            raise EmulatorError(
                f"payload for serviceBusTrigger function {name!r} is a list, but the binding's cardinality is "
                "'one': pass a single message dict"
            )
        return [_service_bus_one(name, item) for item in data]
    message = _service_bus_one(name, data)
    return [message] if many else message


def _service_bus_one(name: str, data: Any) -> Any:
    if not isinstance(data, Mapping):
        raise EmulatorError(
            f"message in payload for serviceBusTrigger function {name!r} must be a dict, got {type(data).__name__}"
        )
    p = _Payload(
        name,
        "serviceBusTrigger",
        data,
        {
            "body",
            "message_id",
            "delivery_count",
            "enqueued_sequence_number",
            "sequence_number",
            "state",
            "enqueued_time_utc",
            "expires_at_utc",
            "locked_until",
            "scheduled_enqueue_time_utc",
            "time_to_live",
            "application_properties",
            "user_properties",
            *_SB_STR_KEYS,
        },
    )
    message_id = p.get("message_id", str) or uuid.uuid4().hex
    delivery_count = p.get("delivery_count", int, 1)
    enqueued = p.time("enqueued_time_utc") or _now()
    ttl = p.get("time_to_live", (dt.timedelta, int, float), dt.timedelta(days=14))
    if not isinstance(ttl, dt.timedelta):
        ttl = dt.timedelta(seconds=ttl)
    strings = {k: p.get(k, str) for k in _SB_STR_KEYS}
    strings["lock_token"] = strings["lock_token"] or str(uuid.uuid4())
    user_properties = p.mapping("user_properties")
    metadata = {
        "MessageId": Datum(message_id, "string"),
        "DeliveryCount": Datum(delivery_count, "int"),
        "UserProperties": Datum(json.dumps(user_properties, default=str), "json"),
    }
    return servicebus.ServiceBusMessage(
        body=p.body(),
        trigger_metadata=metadata,
        application_properties=p.mapping("application_properties") or dict(user_properties),
        user_properties=user_properties,
        message_id=message_id,
        delivery_count=delivery_count,
        enqueued_sequence_number=p.get("enqueued_sequence_number", int),
        sequence_number=p.get("sequence_number", int, 1),
        state=p.get("state", int, 0),
        enqueued_time_utc=enqueued,
        expires_at_utc=p.time("expires_at_utc") or enqueued + ttl,
        locked_until=p.time("locked_until") or _now() + dt.timedelta(seconds=30),
        scheduled_enqueue_time_utc=p.time("scheduled_enqueue_time_utc"),
        time_to_live=ttl,
        **strings,
    )


def _event_hub_payload(name: str, data: Any) -> _Payload:
    if not isinstance(data, Mapping):
        raise EmulatorError(
            f"event in payload for eventHubTrigger function {name!r} must be a dict, got {type(data).__name__}"
        )
    return _Payload(
        name,
        "eventHubTrigger",
        data,
        {"body", "enqueued_time", "partition_key", "sequence_number", "offset", "iothub_metadata", "properties"},
    )


def _json_datum(value: Any) -> Datum:
    return Datum(json.dumps(value, default=str), "json")


def _event_hub_system_properties(p: _Payload, enqueued: dt.datetime) -> dict[str, Any]:
    # What the host puts in SystemProperties (SystemPropertiesArray for a batch): the x-opt-* annotations, and an
    # IoT Hub's iothub-* ones.
    system: dict[str, Any] = {
        "x-opt-enqueued-time": enqueued.isoformat(),
        "x-opt-sequence-number": p.get("sequence_number", int, 0),
        "x-opt-offset": p.get("offset", str, "0"),
        "x-opt-partition-key": p.get("partition_key", str),
        "EnqueuedTimeUtc": enqueued.isoformat(),
        "SequenceNumber": p.get("sequence_number", int, 0),
        "Offset": p.get("offset", str, "0"),
        "PartitionKey": p.get("partition_key", str),
    }
    system.update({f"iothub-{k}": v for k, v in p.str_mapping("iothub_metadata").items()})
    return system


def _event_hub_event(p: _Payload, enqueued: dt.datetime, metadata: Mapping[str, Datum]) -> Any:
    # As `azure.functions`' converter builds an event (eventhub.EventHubTriggerConverter), with the trigger
    # metadata the host sent: a batch's events all share the one metadata, with its per-event arrays.
    return _eventhub.EventHubEvent(
        body=p.body(),
        trigger_metadata=metadata,
        enqueued_time=enqueued,
        partition_key=p.get("partition_key", str),
        sequence_number=p.get("sequence_number", int, 0),
        offset=p.get("offset", str, "0"),
        iothub_metadata=p.str_mapping("iothub_metadata") or None,
    )


def _event_hub(name: str, binding: Mapping[str, Any], data: Any) -> Any:
    many = str(binding.get("cardinality", "one")).lower() == "many"
    if isinstance(data, list) and not many:
        raise EmulatorError(
            f"payload for eventHubTrigger function {name!r} is a list, but the "
            "binding's cardinality is 'one': pass a single event dict"
        )
    if not many:
        p = _event_hub_payload(name, data)
        enqueued = p.time("enqueued_time") or _now()
        metadata = {
            "Properties": _json_datum(p.mapping("properties")),
            "SystemProperties": _json_datum(_event_hub_system_properties(p, enqueued)),
            "EnqueuedTimeUtc": Datum(enqueued.isoformat(), "string"),
            "SequenceNumber": _json_datum(p.get("sequence_number", int, 0)),
            "Offset": Datum(p.get("offset", str, "0"), "string"),
        }
        if p.get("partition_key", str) is not None:
            metadata["PartitionKey"] = Datum(p.get("partition_key", str), "string")
        return _event_hub_event(p, enqueued, metadata)
    payloads = [_event_hub_payload(name, item) for item in (data if isinstance(data, list) else [data])]
    times = [p.time("enqueued_time") or _now() for p in payloads]
    shared = {
        "PropertiesArray": _json_datum([p.mapping("properties") for p in payloads]),
        "SystemPropertiesArray": _json_datum(
            [_event_hub_system_properties(p, t) for p, t in zip(payloads, times, strict=True)]
        ),
        "EnqueuedTimeUtcArray": _json_datum([t.isoformat() for t in times]),
        "SequenceNumberArray": _json_datum([p.get("sequence_number", int, 0) for p in payloads]),
        "OffsetArray": _json_datum([p.get("offset", str, "0") for p in payloads]),
        "PartitionKeyArray": _json_datum([p.get("partition_key", str) for p in payloads]),
    }
    return [_event_hub_event(p, t, shared) for p, t in zip(payloads, times, strict=True)]


def _timer(name: str, binding: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    p = _Payload(name, "timerTrigger", data, {"past_due", "schedule_status", "schedule"})
    schedule = p.mapping("schedule") or {"AdjustForDST": True}
    return timer.TimerRequest(
        past_due=p.get("past_due", bool, False), schedule_status=p.mapping("schedule_status"), schedule=schedule
    )


def _blob(name: str, binding: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    p = _Payload(name, "blobTrigger", data, {"data", "body", "name", "uri", "length", "blob_properties", "metadata"})
    content = p.body("data" if "data" in data else "body")
    # A binding path like "uploads/{name}" becomes a concrete blob name.
    path = re.sub(r"\{[^}]*\}", "sample.txt", str(binding.get("path") or f"samples/{name}.txt"))
    blob_name = p.get("name", str) or path
    return blob.InputStream(
        data=content,
        name=blob_name,
        uri=p.get("uri", str) or f"http://127.0.0.1:10000/devstoreaccount1/{blob_name}",
        length=p.get("length", int, len(content)),
        blob_properties=p.mapping("blob_properties") or None,
        metadata=p.mapping("metadata") or None,
    )


def _event_grid(name: str, binding: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    if "cloud_event" in data:
        _Payload(name, "eventGridTrigger", data, {"cloud_event"})
        event = data["cloud_event"]
        if not isinstance(event, Mapping) or "specversion" not in event:
            raise EmulatorError(
                f"payload for eventGridTrigger function {name!r}: 'cloud_event' must be a CloudEvents-schema event "
                "(a dict with 'specversion')"
            )
        # The host sends the event as JSON; azure.functions' converter makes the CloudEvent, extensions and all.
        return eventgrid.EventGridEventInConverter.decode(_json_datum(dict(event)), trigger_metadata={})
    p = _Payload(
        name, "eventGridTrigger", data, {"id", "data", "topic", "subject", "event_type", "event_time", "data_version"}
    )
    return _eventgrid.EventGridEvent(
        id=p.get("id", str) or str(uuid.uuid4()),
        data=p.get("data", (dict, list, str), {}),
        topic=p.get("topic", str, "/subscriptions/local/resourceGroups/local/providers/Local/topics/t"),
        subject=p.get("subject", str, "local"),
        event_type=p.get("event_type", str, "Local.Event"),
        event_time=p.time("event_time") or _now(),
        data_version=p.get("data_version", str, "1.0"),
    )


def _cosmos(name: str, binding: Mapping[str, Any], data: Any) -> Any:
    docs = data
    if isinstance(data, Mapping):
        _Payload(name, "cosmosDBTrigger", data, {"documents"})
        docs = data.get("documents", [])
    if not isinstance(docs, list) or not all(isinstance(d, Mapping) for d in docs):
        raise EmulatorError(
            f"payload for cosmosDBTrigger function {name!r} must be a list of dicts or {{'documents': [...]}}"
        )
    return func.DocumentList([func.Document.from_dict(dict(d)) for d in docs])


def _durable_context(name: str, binding: Mapping[str, Any], data: Any) -> Any:
    # The extension sends the context as JSON; the converter wraps it (OrchestrationContext, EntityContext).
    kind = str(binding.get("type"))
    body = data if isinstance(data, str) else json.dumps(data, default=str)
    converter: Any = durable_functions.OrchestrationTriggerConverter
    if kind.lower() == "entitytrigger":
        converter = durable_functions.EnitityTriggerConverter  # sic: azure.functions' own spelling
    return converter.decode(Datum(body, "string"), trigger_metadata={})


def _activity(name: str, binding: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    p = _Payload(name, "activityTrigger", data, {"input", "instance_id"})
    metadata = {}
    instance_id = p.get("instance_id", str)
    if instance_id is not None:
        metadata["instanceId"] = Datum(instance_id, "string")
    value = json.dumps(data.get("input"), default=str)
    return durable_functions.ActivityTriggerConverter.decode(Datum(value, "json"), trigger_metadata=metadata)


def _kafka_record(name: str, binding: Mapping[str, Any], data: Any) -> dict[str, Any]:
    # A record as the Kafka extension serialises it for an out-of-process worker (its KafkaEventData): the
    # headers' bytes in base64.
    if not isinstance(data, Mapping):
        raise EmulatorError(
            f"event in payload for kafkaTrigger function {name!r} must be a dict, got {type(data).__name__}"
        )
    p = _Payload(name, "kafkaTrigger", data, {"value", "key", "topic", "partition", "offset", "timestamp", "headers"})
    headers = [
        {"Key": k, "Value": base64.b64encode(v.encode("utf-8")).decode("ascii")}
        for k, v in p.str_mapping("headers").items()
    ]
    return {
        "Offset": p.get("offset", int, 0),
        "Partition": p.get("partition", int, 0),
        "Topic": p.get("topic", str) or str(binding.get("topic") or ""),
        "Timestamp": (p.time("timestamp") or _now()).isoformat(),
        "Key": p.get("key", str),
        "Value": p.body("value").decode("utf-8", errors="replace"),
        "Headers": headers,
    }


def _kafka(name: str, binding: Mapping[str, Any], data: Any) -> Any:
    # The host sends each record as JSON, with its fields in the trigger metadata (per-record arrays for a
    # batch); `azure.functions`' converter makes the KafkaEvent(s).
    many = str(binding.get("cardinality", "one")).lower() == "many"
    if isinstance(data, list) and not many:
        raise EmulatorError(
            f"payload for kafkaTrigger function {name!r} is a list, but the "
            "binding's cardinality is 'one': pass a single event dict"
        )
    convert = kafka.KafkaTriggerConverter.decode
    if not many:
        record = _kafka_record(name, binding, data)
        metadata = {
            "Offset": _json_datum(record["Offset"]),
            "Partition": _json_datum(record["Partition"]),
            "Topic": Datum(record["Topic"], "string"),
            "Timestamp": Datum(record["Timestamp"], "string"),
            "Headers": _json_datum(record["Headers"]),
        }
        if record["Key"] is not None:
            metadata["Key"] = Datum(record["Key"], "string")
        return convert(Datum(json.dumps(record), "string"), trigger_metadata=metadata)
    records = [_kafka_record(name, binding, item) for item in (data if isinstance(data, list) else [data])]
    metadata = {
        "OffsetArray": Datum(SimpleNamespace(sint64=[r["Offset"] for r in records]), "collection_sint64"),
        "PartitionArray": _json_datum([r["Partition"] for r in records]),
        "TopicArray": Datum(SimpleNamespace(string=[r["Topic"] for r in records]), "collection_string"),
        "TimestampArray": _json_datum([r["Timestamp"] for r in records]),
        "KeyArray": _json_datum([r["Key"] for r in records]),
        "HeadersArray": _json_datum([r["Headers"] for r in records]),
    }
    bodies = SimpleNamespace(string=[json.dumps(r) for r in records])
    return convert(Datum(bodies, "collection_string"), trigger_metadata=metadata)


_Builder = Callable[[str, Mapping[str, Any], Any], Any]
_BUILDERS: dict[str, _Builder] = {
    "httptrigger": _http,
    "queuetrigger": _queue,
    "servicebustrigger": _service_bus,
    "eventhubtrigger": _event_hub,
    "timertrigger": _timer,
    "blobtrigger": _blob,
    "eventgridtrigger": _event_grid,
    "kafkatrigger": _kafka,
    "cosmosdbtrigger": _cosmos,
    "orchestrationtrigger": _durable_context,
    "entitytrigger": _durable_context,
    "activitytrigger": _activity,
}
_JSON_PAYLOADS = frozenset({"orchestrationtrigger", "entitytrigger"})  # a dict, or its JSON as a str
_LIST_PAYLOADS = frozenset({"eventhubtrigger", "servicebustrigger", "kafkatrigger", "cosmosdbtrigger"})


def builds_trigger(trigger_type: str) -> bool:
    """Whether a payload dict is turned into this trigger's real argument (else the payload is passed as is)."""
    return trigger_type.lower() in _BUILDERS


def build_trigger(function_name: str, binding: Mapping[str, Any], payload: Any) -> Any:
    """The trigger argument for one invocation; unknown trigger types get the payload itself."""
    kind = str(binding.get("type", "")).lower()
    builder = _BUILDERS.get(kind)
    if builder is None:
        return payload
    if payload is None:
        payload = {}
    if kind in _JSON_PAYLOADS and isinstance(payload, str):
        return builder(function_name, binding, payload)
    if not isinstance(payload, Mapping) and not (kind in _LIST_PAYLOADS and isinstance(payload, list)):
        raise EmulatorError(
            f"payload for {binding.get('type')} function {function_name!r} must be a dict, got {type(payload).__name__}"
        )
    return builder(function_name, binding, payload)


def _sdk_type(function_name: str, binding: Mapping[str, Any], type_name: str, payload: Any) -> Any:
    # As the worker's deferred bindings: the host's model binding data, decoded by the converter the extension
    # registered for the binding type, with the parameter's annotation as the type to make.
    import importlib

    import azurefunctions.extensions.base as extension_base

    module_name, _, qualname = type_name.partition(":")
    pytype: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        pytype = getattr(pytype, part)
    data = payload if isinstance(payload, Mapping) else {}
    _Payload(function_name, str(binding.get("type")), data, {"container", "name"})
    path = str(binding.get("path") or "")
    container, _, blob_name = path.partition("/")
    content = {
        "Connection": binding.get("connection") or "AzureWebJobsStorage",
        "ContainerName": data.get("container") or container,
        "BlobName": data.get("name") or re.sub(r"\{[^}]*\}", "sample.txt", blob_name),
    }
    model_binding_data = SimpleNamespace(
        version="1.0", source="AzureStorageBlobs", content_type="application/json", content=json.dumps(content)
    )
    converter = extension_base.get_binding_registry().get(str(binding.get("type")))
    if converter is None:
        raise EmulatorError(
            f"function {function_name!r}: no SDK-type converter is registered for a {binding.get('type')} binding"
        )
    try:
        return converter.decode(
            extension_base.Datum(model_binding_data, "model_binding_data"), trigger_metadata={}, pytype=pytype
        )
    except Exception as exc:
        raise EmulatorError(f"function {function_name!r}: the SDK-type binding could not be made: {exc}") from None


def build_arguments(
    function_name: str,
    bindings: tuple[Mapping[str, Any], ...],
    trigger_name: str,
    payload: Any,
    sdk_types: tuple[tuple[str, str], ...] = (),
) -> tuple[dict[str, Any], dict[str, Out[Any]]]:
    """All keyword arguments but ``context``, plus the ``Out`` holders by binding name."""
    inputs: Mapping[str, Any] = {}
    has_inputs = isinstance(payload, Mapping) and INPUTS_KEY in payload
    if has_inputs:
        inputs = payload[INPUTS_KEY]
        if not isinstance(inputs, Mapping):
            raise EmulatorError(f"payload for function {function_name!r}: {INPUTS_KEY!r} must be a dict")
    args: dict[str, Any] = {}
    outs: dict[str, Out[Any]] = {}
    sdk = dict(sdk_types)
    for binding in bindings:
        bname = binding.get("name")
        if not bname or bname == "$return":
            continue
        if bname in sdk:
            given = payload if bname == trigger_name else inputs.get(bname)
            if bname == trigger_name and has_inputs:
                given = {k: v for k, v in payload.items() if k != INPUTS_KEY}
            args[bname] = _sdk_type(function_name, binding, sdk[bname], given)
        elif bname == trigger_name:
            trigger_payload = payload
            if has_inputs:
                trigger_payload = {k: v for k, v in payload.items() if k != INPUTS_KEY}
            args[bname] = build_trigger(function_name, binding, trigger_payload)
        elif binding.get("direction") == "out":
            outs[bname] = args[bname] = Out()
        else:
            args[bname] = inputs.get(bname)
    unknown = sorted(set(inputs) - set(args)) if inputs else []
    if unknown:
        raise EmulatorError(f"payload for function {function_name!r}: {INPUTS_KEY!r} names no input binding {unknown}")
    return args, outs
