"""The real classic worker, driven through its own mock host, from a process of its own.

Run with the worker venv's Python (never import this into the test process):

    python driver.py WORKER_FOLDER

The worker folder goes first on `sys.path`, so `tests` here is the worker's own test package (its mock host,
`tests/utils/testutils.py`). The driver plays the Functions host: it starts each worker process with the
worker's entry script (`python/test/worker.py`) as the host does, serves their gRPC event streams, initialises
them, loads the app (a v1 app's `FunctionLoadRequest`s built from its folders' `function.json` by the mock host;
a v2 app indexed by the first worker on `FunctionsMetadataRequest`, each function then loaded in every worker),
and sends invocation requests with the trace context, retry context and payload it is given, one after another
or many at once.

What it uses of the mock host: its init, metadata and v1 load requests (`_MockWebHost.init_worker`,
`get_functions_metadata`, `load_function`, `_read_available_functions`). What it replaces: the mock host's
servicer, which serves one worker and has one request in flight at a time; here every worker process has its
own stream, and responses are matched to their requests, so invocations can overlap.

Protocol: one JSON command per line on stdin, one JSON answer per line on stdout; everything else the driver or
the worker prints goes to stderr or to the workers' output files. Commands (`op`):
- `start`: app (folder), processes, env (set), unset (names), python_path (folders), telemetry ("memory"/"none"),
  timeout; answers the functions, the workers (ids and pids) and the load results.
- `invoke`: calls (function, payload, trace_parent, trace_state, trace_attributes, retry, invocation_id,
  worker), concurrency, timeout; answers one result per call, in order.
- `logs`: every log the workers sent (`clear`: forget them). `spans`, `metrics`: what each worker recorded.
- `call`: target ("module:function") and args, run in every worker process; answers each one's result.
- `output`: what each worker process printed. `stop`: ends the workers; answers their exit codes.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

WORKER_FOLDER = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else None
HERE = Path(__file__).resolve().parent
WORKER_SIDE = HERE / "worker_side"

if WORKER_FOLDER is None or not (WORKER_FOLDER / "azure_functions_worker").is_dir():
    sys.exit(f"usage: driver.py WORKER_FOLDER (the classic worker's folder); got {sys.argv[1:]}")
sys.dont_write_bytecode = True  # the worker folder is shared: leave no caches in it
sys.path.remove(str(HERE))  # nothing of this folder is imported here

# The worker as the venv installed it (with its generated stubs), then its folder first on sys.path: the
# worker's `tests` package, holding the mock host, is the only `tests` this process knows.
import grpc  # noqa: E402
from azure_functions_worker import protos  # noqa: E402
from azure_functions_worker.protos import FunctionRpc_pb2 as rpc  # noqa: E402

sys.path.insert(0, str(WORKER_FOLDER))
from tests.utils import testutils  # noqa: E402

LOCALHOST = testutils.LOCALHOST
HOST_VERSION = "4.34.0"
_STOP = object()


class DriverError(Exception):
    """A request the driver cannot carry out; its message is the answer's `error`."""


def _now_ns() -> int:
    return time.perf_counter_ns()


# -- one worker's event stream ------------------------------------------------------------------------------


class Stream:
    """The host's end of one worker process's event stream: what to send, and who waits for which answer."""

    def __init__(self, host: Host, index: int) -> None:
        self.host = host
        self.index = index
        self.worker_id = str(uuid.uuid4())
        self.request_id = str(uuid.uuid4())
        self.outgoing: queue.Queue[Any] = queue.Queue()
        self.connected: asyncio.Future[bool] = host.loop.create_future()
        self._pending: dict[tuple[str, ...], asyncio.Future[tuple[Any, int]]] = {}
        self.failure: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.output_path: Path | None = None
        self.probe: Any = None
        self.pid: int | None = None
        self.functions: dict[str, FunctionInfo] = {}
        self.http_uri: str | None = None

    def expect(self, key: tuple[str, ...]) -> asyncio.Future[tuple[Any, int]]:
        if self.failure is not None:
            raise DriverError(self.failure)
        if key in self._pending:
            raise DriverError(f"a request {key} is already waiting for its answer")
        future = self.host.loop.create_future()
        self._pending[key] = future
        return future

    def forget(self, key: tuple[str, ...]) -> None:
        self._pending.pop(key, None)

    def send(self, message: Any) -> None:
        self.outgoing.put(message)

    def read(self, responses: Any) -> None:
        """The reader thread: every message the worker sends, matched to the request that waits for it."""
        try:
            for message in responses:
                received = _now_ns()
                kind = message.WhichOneof("content")
                if kind == "rpc_log":
                    self.host.record_log(self.index, message.rpc_log, received)
                    continue
                self.host.loop.call_soon_threadsafe(self._answer, _response_key(kind, message), message, received)
        except Exception as exc:  # the stream broke: say so to everyone waiting
            if self.process is not None:
                # A worker that dies breaks its stream first: then its exit code (which the watcher reports) says
                # more than the broken stream does.
                try:
                    self.process.wait(timeout=5.0)
                    return
                except subprocess.TimeoutExpired:
                    pass
            self.host.loop.call_soon_threadsafe(self.fail, f"the event stream of worker {self.index} broke: {exc!r}")

    def _answer(self, key: tuple[str, ...], message: Any, received: int) -> None:
        future = self._pending.pop(key, None)
        if future is None:
            self.host.unexpected.append({"worker": self.index, "key": list(key)})
        elif not future.done():
            future.set_result((getattr(message, message.WhichOneof("content")), received))

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(DriverError(reason))
        if not self.connected.done():
            self.connected.set_exception(DriverError(reason))


def _response_key(kind: str, message: Any) -> tuple[str, ...]:
    if kind == "invocation_response":
        return (kind, message.invocation_response.invocation_id)
    if kind == "function_load_response":
        return (kind, message.function_load_response.function_id)
    return (kind,)


def _request_key(message: Any, wait_for: str) -> tuple[str, ...]:
    if wait_for == "invocation_response":
        return (wait_for, message.invocation_request.invocation_id)
    if wait_for == "function_load_response":
        return (wait_for, message.function_load_request.function_id)
    return (wait_for,)


class Servicer(protos.FunctionRpcServicer):
    """Serves every worker's `EventStream`; a worker is known by the id its `start_stream` carries."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def EventStream(self, request_iterator: Any, context: Any) -> Any:  # noqa: N802 - gRPC's name
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("content") != "start_stream":
            return
        stream = self.host.streams_by_id.get(first.start_stream.worker_id)
        if stream is None:
            return
        threading.Thread(
            target=stream.read, args=(request_iterator,), name=f"mockhost-reader-{stream.index}", daemon=True
        ).start()
        self.host.loop.call_soon_threadsafe(_resolve, stream.connected, True)
        while True:
            message = stream.outgoing.get()
            if message is _STOP:
                return
            yield message


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


# -- the mock host's requests, on one stream -----------------------------------------------------------------


class Channel(testutils._MockWebHost):
    """The worker's mock host, speaking on one worker's stream.

    The requests are the mock host's own (`init_worker`, `get_functions_metadata`, `load_function` of a v1
    function from its `function.json`); `communicate` is replaced so that its answer is matched to its request
    on this stream, whatever else is in flight. The mock host's constructor is not run: it starts a gRPC server
    of its own for a single worker, and the driver serves all of them.
    """

    def __init__(self, stream: Stream, app_dir: Path) -> None:
        self._loop = stream.host.loop
        self._scripts_dir = app_dir
        self._available_functions: dict[str, Any] = {}
        self._worker_id = stream.worker_id
        self._request_id = stream.request_id
        self.stream = stream

    def read_v1_functions(self) -> dict[str, Any]:
        """The app's function folders, as the mock host reads them for its `FunctionLoadRequest`s."""
        try:
            self._read_available_functions()
        except RuntimeError as exc:
            cause = exc.__cause__
            hint = (
                ' (the mock host needs each function.json to name its "scriptFile")'
                if isinstance(cause, KeyError)
                else ""
            )
            raise DriverError(f"{exc}: {cause!r}{hint}") from None
        return self._available_functions

    async def communicate(self, message: Any, *, wait_for: str) -> Any:
        key = _request_key(message, wait_for)
        future = self.stream.expect(key)
        first_log = self.stream.host.log_count()
        self.stream.send(message)
        try:
            response, _ = await asyncio.wait_for(future, self.stream.host.timeout)
        except asyncio.TimeoutError:
            self.stream.forget(key)
            waited = self.stream.host.timeout
            raise DriverError(f"worker {self.stream.index} did not answer {wait_for} in {waited} s") from None
        return testutils._WorkerResponseMessages(response, self.stream.host.logs_since(first_log, self.stream.index))

    async def init_worker(self, host_version: str = HOST_VERSION) -> Any:
        return await super().init_worker(host_version)

    async def load_indexed(self, metadata: Any) -> Any:
        """Load one function of a v2 app with the metadata the worker's indexing returned, as the host does."""
        return await self.communicate(
            protos.StreamingMessage(
                function_load_request=protos.FunctionLoadRequest(function_id=metadata.function_id, metadata=metadata)
            ),
            wait_for="function_load_response",
        )


class FunctionInfo:
    """What the host knows of one loaded function."""

    def __init__(self, name: str, function_id: str, bindings: list[dict[str, Any]], directory: str) -> None:
        self.name = name
        self.function_id = function_id
        self.bindings = bindings
        self.directory = directory
        trigger = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
        self.trigger = trigger or {}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "function_id": self.function_id,
            "trigger_type": self.trigger.get("type"),
            "trigger_binding_name": self.trigger.get("name"),
            "directory": self.directory,
            "bindings": self.bindings,
        }


def _v2_bindings(metadata: Any) -> list[dict[str, Any]]:
    bindings = []
    for raw in metadata.raw_bindings:
        try:
            bindings.append(json.loads(raw))
        except ValueError:
            continue
    if not bindings:
        for name, info in metadata.bindings.items():
            direction = protos.BindingInfo.Direction.Name(info.direction)
            bindings.append({"name": name, "type": info.type, "direction": direction})
    return bindings


# -- payloads: what a trigger's input data looks like on the wire ---------------------------------------------


def _body_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (dict, list)):
        return json.dumps(value).encode("utf-8")
    raise DriverError(f"a body must be a str, dict or list, got {type(value).__name__}")


def _string(value: Any) -> Any:
    return rpc.TypedData(string=str(value))


def _json(value: Any) -> Any:
    return rpc.TypedData(json=json.dumps(value))


def _check_keys(fn: FunctionInfo, payload: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise DriverError(
            f"payload for {fn.trigger.get('type')} function {fn.name!r}: unknown key(s) {unknown}; "
            f"expected some of {sorted(allowed)}"
        )


def _http(fn: FunctionInfo, payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    _check_keys(fn, payload, {"method", "url", "headers", "params", "route_params", "body"})
    route = fn.trigger.get("route") or fn.name
    url = payload.get("url") or f"http://localhost:7071/api/{route}"
    params = payload["params"] if "params" in payload else dict(parse_qsl(urlsplit(url).query))
    headers = dict(payload.get("headers") or {})
    body = payload.get("body")
    if isinstance(body, (dict, list)) and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    http = rpc.RpcHttp(
        method=str(payload.get("method", "GET")).upper(),
        url=url,
        headers=headers,
        query=params,
        params=dict(payload.get("route_params") or {}),
        body=rpc.TypedData(bytes=_body_bytes(body)),
    )
    return rpc.TypedData(http=http), {}


def _queue(fn: FunctionInfo, payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    _check_keys(fn, payload, {"body", "id", "dequeue_count", "insertion_time"})
    inserted = payload.get("insertion_time") or time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    metadata = {
        "Id": _string(payload.get("id") or uuid.uuid4()),
        "DequeueCount": _json(int(payload.get("dequeue_count", 1))),
        "InsertionTime": _string(inserted),
        "ExpirationTime": _string(inserted),
        "NextVisibleTime": _string(inserted),
        "PopReceipt": _string(uuid.uuid4().hex),
    }
    return rpc.TypedData(string=_body_bytes(payload.get("body")).decode("utf-8")), metadata


def _many(fn: FunctionInfo, payload: Any) -> list[dict[str, Any]] | None:
    """A batch's messages (cardinality "many"), else None; a list for a function of cardinality "one" is refused."""
    many = str(fn.trigger.get("cardinality", "one")).lower() == "many"
    if isinstance(payload, list) and not many:
        raise DriverError(f"function {fn.name!r}: a list payload needs the binding's cardinality 'many'")
    if not many:
        return None
    messages = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(m, dict) for m in messages):
        raise DriverError(f"function {fn.name!r}: every message of a batch must be an object")
    return messages


def _strings(bodies: list[bytes]) -> Any:
    return rpc.TypedData(collection_string=rpc.CollectionString(string=[b.decode("utf-8") for b in bodies]))


def _event_hub_system(payload: dict[str, Any], enqueued: str) -> dict[str, Any]:
    return {
        "x-opt-enqueued-time": enqueued,
        "x-opt-sequence-number": int(payload.get("sequence_number", 0)),
        "x-opt-offset": str(payload.get("offset", "0")),
        "x-opt-partition-key": payload.get("partition_key"),
    }


def _event_hub(fn: FunctionInfo, payload: Any) -> tuple[Any, dict[str, Any]]:
    # As the Event Hubs extension binds: one event's Properties and SystemProperties, or a batch's arrays
    # (PropertiesArray, SystemPropertiesArray, ...), one entry per event.
    keys = {"body", "partition_key", "sequence_number", "offset", "enqueued_time", "properties"}
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    batch = _many(fn, payload)
    if batch is not None:
        for event in batch:
            _check_keys(fn, event, keys)
        times = [event.get("enqueued_time") or now for event in batch]
        metadata = {
            "PropertiesArray": _json([event.get("properties") or {} for event in batch]),
            "SystemPropertiesArray": _json([_event_hub_system(e, t) for e, t in zip(batch, times, strict=True)]),
            "EnqueuedTimeUtcArray": _json(times),
            "SequenceNumberArray": _json([int(e.get("sequence_number", 0)) for e in batch]),
            "OffsetArray": _json([str(e.get("offset", "0")) for e in batch]),
            "PartitionKeyArray": _json([e.get("partition_key") for e in batch]),
        }
        return _strings([_body_bytes(e.get("body")) for e in batch]), metadata
    _check_keys(fn, payload, keys)
    enqueued = payload.get("enqueued_time") or now
    metadata = {
        "Properties": _json(payload.get("properties") or {}),
        "SystemProperties": _json(_event_hub_system(payload, enqueued)),
        "EnqueuedTimeUtc": _string(enqueued),
        "SequenceNumber": _json(int(payload.get("sequence_number", 0))),
        "Offset": _string(payload.get("offset", "0")),
    }
    if payload.get("partition_key") is not None:
        metadata["PartitionKey"] = _string(payload["partition_key"])
    return rpc.TypedData(string=_body_bytes(payload.get("body")).decode("utf-8")), metadata


_SERVICE_BUS_KEYS = {"body", "message_id", "delivery_count", "application_properties", "user_properties"}


def _service_bus(fn: FunctionInfo, payload: Any) -> tuple[Any, dict[str, Any]]:
    # As the Service Bus extension binds: one message's fields (UserProperties and ApplicationProperties among
    # them), or a batch's arrays of them (MessageIdArray, UserPropertiesArray, ...), one entry per message.
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    batch = _many(fn, payload)
    if batch is not None:
        for message in batch:
            _check_keys(fn, message, _SERVICE_BUS_KEYS)
        ids = [str(m.get("message_id") or uuid.uuid4().hex) for m in batch]
        metadata = {
            "MessageIdArray": _json(ids),
            "DeliveryCountArray": _json([int(m.get("delivery_count", 1)) for m in batch]),
            "UserPropertiesArray": _json([m.get("user_properties") or {} for m in batch]),
            "ApplicationPropertiesArray": _json(
                [m.get("application_properties") or m.get("user_properties") or {} for m in batch]
            ),
            "EnqueuedTimeUtcArray": _json([now for _ in batch]),
            "SequenceNumberArray": _json(list(range(1, len(batch) + 1))),
        }
        return _strings([_body_bytes(m.get("body")) for m in batch]), metadata
    _check_keys(fn, payload, _SERVICE_BUS_KEYS)
    user = payload.get("user_properties") or {}
    metadata = {
        "MessageId": _string(payload.get("message_id") or uuid.uuid4().hex),
        "DeliveryCount": _json(int(payload.get("delivery_count", 1))),
        "UserProperties": _json(user),
        "ApplicationProperties": _json(payload.get("application_properties") or user),
        "EnqueuedTimeUtc": _string(now),
        "SequenceNumber": _json(1),
    }
    return rpc.TypedData(string=_body_bytes(payload.get("body")).decode("utf-8")), metadata


def _kafka_record(fn: FunctionInfo, payload: dict[str, Any], now: str) -> dict[str, Any]:
    _check_keys(fn, payload, {"value", "key", "partition", "offset", "headers"})
    headers = payload.get("headers") or {}
    return {  # as the Kafka extension serialises a record (KafkaEventData): a header's bytes in base64
        "Offset": int(payload.get("offset", 0)),
        "Partition": int(payload.get("partition", 0)),
        "Topic": str(fn.trigger.get("topic") or ""),
        "Timestamp": now,
        "Key": payload.get("key"),
        "Value": str(payload.get("value", "")),
        "Headers": [{"Key": k, "Value": base64.b64encode(str(v).encode()).decode()} for k, v in headers.items()],
    }


def _kafka(fn: FunctionInfo, payload: Any) -> tuple[Any, dict[str, Any]]:
    # As the Kafka extension binds: the record as JSON, its fields in the trigger metadata, or a batch's arrays
    # of them (OffsetArray, HeadersArray, ...), one entry per record.
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    batch = _many(fn, payload)
    if batch is not None:
        records = [_kafka_record(fn, r, now) for r in batch]
        metadata = {
            "OffsetArray": rpc.TypedData(collection_sint64=rpc.CollectionSInt64(sint64=[r["Offset"] for r in records])),
            "PartitionArray": _json([r["Partition"] for r in records]),
            "TopicArray": rpc.TypedData(collection_string=rpc.CollectionString(string=[r["Topic"] for r in records])),
            "TimestampArray": _json([r["Timestamp"] for r in records]),
            "KeyArray": _json([r["Key"] for r in records]),
            "HeadersArray": _json([r["Headers"] for r in records]),
        }
        return _strings([json.dumps(r).encode() for r in records]), metadata
    record = _kafka_record(fn, payload, now)
    metadata = {
        "Offset": _json(record["Offset"]),
        "Partition": _json(record["Partition"]),
        "Topic": _string(record["Topic"]),
        "Timestamp": _string(now),
        "Headers": _json(record["Headers"]),
    }
    return rpc.TypedData(string=json.dumps(record)), metadata


def _event_grid(fn: FunctionInfo, payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # An Event Grid-schema event, as JSON.
    _check_keys(fn, payload, {"id", "subject", "event_type", "data"})
    event = {
        "id": str(payload.get("id") or uuid.uuid4()),
        "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.EventGrid/topics/t",
        "subject": str(payload.get("subject", "orders/1")),
        "eventType": str(payload.get("event_type", "Orders.Created")),
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "dataVersion": "1.0",
        "data": payload.get("data") or {},
    }
    return _json(event), {}


def _cosmos(fn: FunctionInfo, payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # The changed documents, as one JSON list.
    _check_keys(fn, payload, {"documents"})
    return _json(list(payload.get("documents") or [])), {}


def _timer(fn: FunctionInfo, payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    _check_keys(fn, payload, {"past_due", "schedule_status", "schedule"})
    info = {
        "Schedule": payload.get("schedule") or {"AdjustForDST": True},
        "ScheduleStatus": payload.get("schedule_status") or {},
        "IsPastDue": bool(payload.get("past_due", False)),
    }
    return _json(info), {}


def _durable_context(fn: FunctionInfo, payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # The Durable extension sends an orchestration's (or entity's) context as one JSON string.
    return rpc.TypedData(string=json.dumps(payload)), {}


def _activity(fn: FunctionInfo, payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # An activity's input as JSON, and its orchestration's instance id in the trigger metadata.
    _check_keys(fn, payload, {"input", "instance_id"})
    metadata = {"instanceId": _string(payload["instance_id"])} if payload.get("instance_id") else {}
    return _json(payload.get("input")), metadata


def _blob(fn: FunctionInfo, payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # With `data`, the blob's bytes and their properties (an InputStream parameter). For a parameter of an SDK
    # type the host sends model binding data, which the extension's converter makes the client from: the
    # binding's connection setting, container and blob name (the path's {name} filled in).
    _check_keys(fn, payload, {"container", "name", "data"})
    container, _, pattern = str(fn.trigger.get("path") or "").partition("/")
    name = str(payload.get("name") or "sample.txt")
    if "data" in payload:
        data = _body_bytes(payload["data"])
        path = f"{payload.get('container') or container}/{pattern.replace('{name}', name)}"
        metadata = {
            "BlobTrigger": _string(path),
            "Uri": _string(f"http://127.0.0.1:10000/devstoreaccount1/{path}"),
            "Properties": _json({"Length": len(data)}),
            "Metadata": _json({}),
            "name": _string(name),
        }
        return rpc.TypedData(bytes=data), metadata
    content = {
        "Connection": fn.trigger.get("connection") or "AzureWebJobsStorage",
        "ContainerName": payload.get("container") or container,
        "BlobName": pattern.replace("{name}", name),
    }
    data = rpc.ModelBindingData(
        version="1.0",
        source="AzureStorageBlobs",
        content_type="application/json",
        content=json.dumps(content).encode("utf-8"),
    )
    return rpc.TypedData(model_binding_data=data), {"name": _string(name)}


TRIGGERS = {
    "httpTrigger": _http,
    "blobTrigger": _blob,
    "cosmosDBTrigger": _cosmos,
    "eventGridTrigger": _event_grid,
    "orchestrationTrigger": _durable_context,
    "entityTrigger": _durable_context,
    "activityTrigger": _activity,
    "queueTrigger": _queue,
    "eventHubTrigger": _event_hub,
    "kafkaTrigger": _kafka,
    "serviceBusTrigger": _service_bus,
    "timerTrigger": _timer,
}


def _input_data(fn: FunctionInfo, payload: Any) -> tuple[list[Any], dict[str, Any]]:
    kind = fn.trigger.get("type")
    build = TRIGGERS.get(str(kind))
    if build is None:
        raise DriverError(f"function {fn.name!r}: the driver sends no {kind!r} payload (it knows {sorted(TRIGGERS)})")
    if payload is not None and not isinstance(payload, (dict, list)):
        raise DriverError(f"payload for function {fn.name!r} must be an object, got {type(payload).__name__}")
    if isinstance(payload, list) and build not in (_event_hub, _kafka, _service_bus):
        raise DriverError(f"payload for function {fn.name!r} must be an object, got a list")
    data, metadata = build(fn, payload if isinstance(payload, list) else dict(payload or {}))
    return [protos.ParameterBinding(name=fn.trigger["name"], data=data)], metadata


def _retry(retry: Any) -> Any:
    if not retry:
        return None
    failure = retry.get("exception") or {}
    return rpc.RetryContext(
        retry_count=int(retry.get("retry_count", 0)),
        max_retry_count=int(retry.get("max_retry_count", 0)),
        exception=rpc.RpcException(
            message=str(failure.get("message", "")),
            stack_trace=str(failure.get("stack_trace", "")),
            source=str(failure.get("source", "")),
        ),
    )


def _decode(data: Any) -> Any:
    """TypedData as JSON can carry it."""
    kind = data.WhichOneof("data")
    if kind is None:
        return None
    if kind == "http":
        return {
            "status_code": int(data.http.status_code or 200),
            "headers": dict(data.http.headers),
            "body": _decode(data.http.body),
        }
    if kind == "bytes":
        return data.bytes.decode("utf-8", errors="replace")
    if kind == "json":
        try:
            return json.loads(data.json)
        except ValueError:
            return data.json
    value = getattr(data, kind)
    return value if isinstance(value, (str, int, float)) else str(value)


def _forward_http(base: str, http: Any, invocation_id: str, timeout: float) -> dict[str, Any]:
    """The host forwarding an HTTP request to the worker's web server, reading the response as it streams."""
    from http.client import HTTPConnection, HTTPException

    address = urlsplit(base)
    target = urlsplit(http.url)
    path = target.path + (f"?{target.query}" if target.query else "")
    connection = HTTPConnection(address.hostname or LOCALHOST, address.port, timeout=timeout)
    started = time.perf_counter()
    chunks: list[str] = []
    times: list[float] = []
    error = None
    try:
        headers = {**dict(http.headers), "x-ms-invocation-id": invocation_id}
        connection.request(http.method, path or "/", body=http.body.bytes, headers=headers)
        answer = connection.getresponse()
        try:
            while chunk := answer.read1(65536):
                chunks.append(chunk.decode("utf-8", errors="replace"))
                times.append(time.perf_counter() - started)
        except (OSError, HTTPException) as exc:  # the worker broke the response off
            error = repr(exc)
        return {
            "status_code": answer.status,
            "headers": {k.lower(): v for k, v in answer.getheaders()},
            "chunks": chunks,
            "chunk_times_s": times,
            "error": error,
        }
    finally:
        connection.close()


# -- the host ------------------------------------------------------------------------------------------------


class Host:
    """The Functions host for one app and its worker processes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.timeout = 60.0
        self.streams: list[Stream] = []
        self.streams_by_id: dict[str, Stream] = {}
        self.channels: list[Channel] = []
        self.unexpected: list[dict[str, Any]] = []
        self._logs: list[dict[str, Any]] = []
        self._logs_by_invocation: dict[str, list[dict[str, Any]]] = {}
        self._log_lock = threading.Lock()
        self._log_seq = itertools.count()
        self._next_worker = itertools.count()
        self._server: Any = None
        self._listener: Any = None
        self._stopping = False
        self._outdir = Path(tempfile.mkdtemp(prefix="funcscope-realworker-"))

    # logs ---------------------------------------------------------------------------------------------------

    def record_log(self, worker: int, log: Any, received: int) -> None:
        entry = {
            "seq": next(self._log_seq),
            "worker": worker,
            "invocation_id": log.invocation_id or None,
            "category": log.category,
            "level": protos.RpcLog.Level.Name(log.level),
            "log_category": protos.RpcLog.RpcLogCategory.Name(log.log_category),
            "message": log.message,
            "received_ns": received,
        }
        with self._log_lock:
            self._logs.append(entry)
            if entry["invocation_id"]:
                self._logs_by_invocation.setdefault(entry["invocation_id"], []).append(entry)

    def log_count(self) -> int:
        with self._log_lock:
            return len(self._logs)

    def logs_since(self, start: int, worker: int) -> list[Any]:
        with self._log_lock:
            return [e for e in self._logs[start:] if e["worker"] == worker]

    def logs_of(self, invocation_id: str) -> list[dict[str, Any]]:
        with self._log_lock:
            return list(self._logs_by_invocation.get(invocation_id, ()))

    def all_logs(self, clear: bool) -> list[dict[str, Any]]:
        with self._log_lock:
            logs = list(self._logs)
            if clear:
                self._logs.clear()
                self._logs_by_invocation.clear()
        return logs

    # start --------------------------------------------------------------------------------------------------

    async def start(self, command: dict[str, Any]) -> dict[str, Any]:
        if self.streams:
            raise DriverError("already started")
        app_dir = Path(command["app"]).resolve()
        if not app_dir.is_dir():
            raise DriverError(f"app folder not found: {app_dir}")
        processes = int(command.get("processes", 1))
        if processes < 1:
            raise DriverError(f"processes must be >= 1, got {processes}")
        self.timeout = float(command.get("timeout", 60.0))
        self._server = grpc.server(ThreadPoolExecutor(max_workers=processes + 1, thread_name_prefix="mockhost"))
        protos.add_FunctionRpcServicer_to_server(Servicer(self), self._server)
        port = self._server.add_insecure_port(f"{LOCALHOST}:0")
        self._server.start()
        key = secrets.token_bytes(16)
        self._listener = Listener((LOCALHOST, 0), authkey=key)
        for index in range(processes):
            stream = Stream(self, index)
            self.streams.append(stream)
            self.streams_by_id[stream.worker_id] = stream
        threading.Thread(target=self._accept_probes, name="mockhost-probes", daemon=True).start()
        env = self._worker_env(command, app_dir, key)
        for stream in self.streams:
            self._spawn(stream, app_dir, port, env)
        await self._wait_connected()
        self.channels = [Channel(stream, app_dir) for stream in self.streams]
        for channel in self.channels:
            init = await channel.init_worker()
            _check_status(init.response.result, f"worker {channel.stream.index} failed to initialise")
            # With HTTP streaming (init indexing and an HTTP extension), the worker runs a web server and says
            # where: the host forwards each HTTP request there.
            channel.stream.http_uri = init.response.capabilities.get("HttpUri") or None
        metadata = await self.channels[0].get_functions_metadata()
        _check_status(metadata.response.result, "indexing the app failed")
        loads = []
        if metadata.response.use_default_metadata_indexing:
            for channel in self.channels:  # a v1 app: the host reads the function folders itself
                for name, fn in sorted(channel.read_v1_functions().items()):
                    function_id, load = await channel.load_function(name)
                    loads.append(self._loaded(channel, name, load.response, fn.desc["bindings"], fn.script))
        else:
            for meta in metadata.response.function_metadata_results:
                for channel in self.channels:
                    load = await channel.load_indexed(meta)
                    loads.append(self._loaded(channel, meta.name, load.response, _v2_bindings(meta), meta.directory))
        return {
            "functions": {name: fn.describe() for name, fn in self.streams[0].functions.items()},
            "workers": [{"worker_id": s.worker_id, "pid": s.pid} for s in self.streams],
            "loads": loads,
            "model": "v1" if metadata.response.use_default_metadata_indexing else "v2",
        }

    def _loaded(self, channel: Channel, name: str, response: Any, bindings: list[Any], where: str) -> dict[str, Any]:
        ok = response.result.status == protos.StatusResult.Success
        if ok:
            directory = where if Path(where).is_dir() else str(Path(where).parent)
            channel.stream.functions[name] = FunctionInfo(name, response.function_id, list(bindings), directory)
        return {
            "worker": channel.stream.index,
            "function": name,
            "ok": ok,
            "error": None if ok else response.result.exception.message,
        }

    def _worker_env(self, command: dict[str, Any], app_dir: Path, key: bytes) -> dict[str, str]:
        # The worker reads its settings from the environment: start from this machine's, less anything that
        # would change what the worker does (CONTAINER_NAME makes it believe it runs on Linux Consumption).
        dropped = ("PYTHON", "FUNCTIONS_", "FUNCSCOPE_", "AzureWebJobs", "WEBSITE_", "OTEL_", "APPLICATIONINSIGHTS_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(dropped) and k != "CONTAINER_NAME"}
        env.update(
            {
                "AzureWebJobsScriptRoot": str(app_dir),
                "FUNCTIONS_WORKER_RUNTIME": "python",
                "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
                "PYTHONPATH": os.pathsep.join([str(WORKER_SIDE), *map(str, command.get("python_path", ()))]),
                "FUNCSCOPE_RW_PROBE": f"{LOCALHOST}:{self._listener.address[1]}",
                "FUNCSCOPE_RW_PROBE_KEY": key.hex(),
                "FUNCSCOPE_RW_TELEMETRY": str(command.get("telemetry", "memory")),
            }
        )
        for name, value in (command.get("env") or {}).items():
            env[str(name)] = str(value)
        for name in command.get("unset") or ():
            env.pop(str(name), None)
        return env

    def _spawn(self, stream: Stream, app_dir: Path, port: int, env: dict[str, str]) -> None:
        assert WORKER_FOLDER is not None
        entry = WORKER_FOLDER / "python" / "test" / "worker.py"
        stream.output_path = self._outdir / f"worker-{stream.index}.log"
        args = [
            sys.executable,
            str(WORKER_SIDE / "launch.py"),
            str(entry),
            "--host",
            LOCALHOST,
            "--port",
            str(port),
            "--workerId",
            stream.worker_id,
            "--requestId",
            stream.request_id,
            "--grpcMaxMessageLength",
            "2147483647",
        ]
        with open(stream.output_path, "wb") as output:
            stream.process = subprocess.Popen(args, env=env, cwd=app_dir, stdout=output, stderr=subprocess.STDOUT)
        stream.pid = stream.process.pid
        threading.Thread(target=self._watch, args=(stream,), name=f"mockhost-watch-{stream.index}", daemon=True).start()

    def _watch(self, stream: Stream) -> None:
        assert stream.process is not None
        code = stream.process.wait()
        if not self._stopping:
            reason = f"worker {stream.index} (pid {stream.pid}) exited with code {code}: {self.output_tail(stream)}"
            self.loop.call_soon_threadsafe(stream.fail, reason)

    def _accept_probes(self) -> None:
        while True:
            try:
                connection = self._listener.accept()
                hello = connection.recv()
            except Exception:
                return
            stream = self.streams_by_id.get(hello.get("worker_id"))
            if stream is not None:
                stream.probe = connection

    async def _wait_connected(self) -> None:
        deadline = self.loop.time() + self.timeout
        for stream in self.streams:
            try:
                await asyncio.wait_for(asyncio.shield(stream.connected), max(0.1, deadline - self.loop.time()))
            except asyncio.TimeoutError:
                raise DriverError(
                    f"worker {stream.index} did not connect within {self.timeout} s: {self.output_tail(stream)}"
                ) from None
        while any(s.probe is None for s in self.streams):
            if self.loop.time() > deadline:
                raise DriverError("a worker's probe did not connect")
            await asyncio.sleep(0.01)

    def output_tail(self, stream: Stream, limit: int = 4000) -> str:
        try:
            text = stream.output_path.read_text(errors="replace") if stream.output_path else ""
        except OSError:
            return ""
        return text[-limit:]

    # invocations --------------------------------------------------------------------------------------------

    def _pick(self, call: dict[str, Any]) -> Stream:
        if not self.streams:
            raise DriverError("not started")
        index = call.get("worker")
        if index is None:
            return self.streams[next(self._next_worker) % len(self.streams)]
        if not 0 <= int(index) < len(self.streams):
            raise DriverError(f"no worker {index}: there are {len(self.streams)}")
        return self.streams[int(index)]

    def _prepare(self, call: dict[str, Any]) -> tuple[Stream, FunctionInfo, Any]:
        stream = self._pick(call)
        name = call.get("function")
        fn = stream.functions.get(str(name))
        if fn is None:
            raise DriverError(f"unknown function {name!r}; this app has: {', '.join(sorted(stream.functions))}")
        input_data, metadata = _input_data(fn, call.get("payload"))
        request = protos.InvocationRequest(
            invocation_id=call.get("invocation_id") or str(uuid.uuid4()),
            function_id=fn.function_id,
            input_data=input_data,
            trigger_metadata=metadata,
            trace_context=rpc.RpcTraceContext(
                trace_parent=call.get("trace_parent") or "",
                trace_state=call.get("trace_state") or "",
                attributes=dict(call.get("trace_attributes") or {}),
            ),
            retry_context=_retry(call.get("retry")),
        )
        return stream, fn, request

    async def invoke(self, command: dict[str, Any]) -> dict[str, Any]:
        calls = command.get("calls") or []
        prepared = [self._prepare(call) for call in calls]  # every call checked before any is sent
        limit = int(command.get("concurrency") or len(prepared) or 1)
        timeout = float(command.get("timeout", self.timeout))
        gate = asyncio.Semaphore(limit)

        async def one(stream: Stream, fn: FunctionInfo, request: Any) -> dict[str, Any]:
            async with gate:
                return await self._invoke_one(stream, fn, request, timeout)

        results = await asyncio.gather(*(one(*p) for p in prepared))
        return {"results": results}

    async def _invoke_one(self, stream: Stream, fn: FunctionInfo, request: Any, timeout: float) -> dict[str, Any]:
        key = ("invocation_response", request.invocation_id)
        result: dict[str, Any] = {
            "invocation_id": request.invocation_id,
            "function": fn.name,
            "worker": stream.index,
            "pid": stream.pid,
            "trace_parent": request.trace_context.trace_parent,
        }
        try:
            future = stream.expect(key)
        except DriverError as exc:
            return {**result, "ok": False, "host_error": str(exc)}
        forwarded = None
        if stream.http_uri is not None and fn.trigger.get("type") == "httpTrigger":
            http = request.input_data[0].data.http
            forwarded = asyncio.ensure_future(
                asyncio.to_thread(_forward_http, stream.http_uri, http, request.invocation_id, timeout)
            )
        sent = _now_ns()
        stream.send(protos.StreamingMessage(invocation_request=request))
        try:
            response, received = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            stream.forget(key)
            return {**result, "ok": False, "host_error": f"no answer within {timeout} s"}
        except DriverError as exc:
            return {**result, "ok": False, "host_error": str(exc)}
        ok = response.result.status == protos.StatusResult.Success
        streamed = await forwarded if forwarded is not None else None
        return {
            **result,
            "streamed": streamed,
            "ok": ok,
            "exception": None
            if ok
            else {"message": response.result.exception.message, "stack_trace": response.result.exception.stack_trace},
            "value": _decode(response.return_value) if response.HasField("return_value") else None,
            "outputs": {binding.name: _decode(binding.data) for binding in response.output_data},
            "logs": self.logs_of(request.invocation_id),
            "sent_ns": sent,
            "received_ns": received,
            "round_trip_s": (received - sent) / 1e9,
        }

    # the probe ----------------------------------------------------------------------------------------------

    async def ask_each(self, request: dict[str, Any]) -> list[Any]:
        async def ask(stream: Stream) -> Any:
            if stream.probe is None:
                raise DriverError(f"worker {stream.index} has no probe")
            return await asyncio.to_thread(_ask, stream.probe, request)

        return list(await asyncio.gather(*(ask(s) for s in self.streams)))

    # stop ---------------------------------------------------------------------------------------------------

    async def stop(self) -> dict[str, Any]:
        self._stopping = True
        for stream in self.streams:
            stream.send(_STOP)
        codes = []
        for stream in self.streams:
            if stream.process is None:
                continue
            if stream.process.poll() is None:
                stream.process.send_signal(signal.SIGTERM)  # what the host sends a worker it stops
            try:
                codes.append(await asyncio.to_thread(stream.process.wait, 15))
            except subprocess.TimeoutExpired:
                stream.process.kill()
                codes.append(await asyncio.to_thread(stream.process.wait))
        if self._server is not None:
            self._server.stop(1)
        if self._listener is not None:
            self._listener.close()
        return {"exit_codes": codes}

    def cleanup(self) -> None:
        for stream in self.streams:
            if stream.process is not None and stream.process.poll() is None:
                stream.process.kill()
        for path in self._outdir.glob("*"):
            path.unlink(missing_ok=True)
        self._outdir.rmdir()


def _ask(connection: Any, request: dict[str, Any]) -> Any:
    connection.send(request)
    status, value = connection.recv()
    if status != "ok":
        raise DriverError(f"in the worker process: {value}")
    return value


def _check_status(result: Any, what: str) -> None:
    if result.status != protos.StatusResult.Success:
        raise DriverError(f"{what}: {result.exception.message}")


# -- the command loop ----------------------------------------------------------------------------------------


async def serve(commands: Any, answers: Any) -> None:
    host = Host(asyncio.get_running_loop())
    try:
        while True:
            line = await asyncio.to_thread(commands.readline)
            if not line:
                break  # the test process went away
            try:
                command = json.loads(line)
                answer = await _run(host, command)
            except DriverError as exc:
                answer = {"error": str(exc)}
            except Exception as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            answers.write(json.dumps(answer, default=repr) + "\n")
            answers.flush()
            if command.get("op") == "stop":
                break
    finally:
        if not host._stopping:
            await host.stop()
        host.cleanup()


async def _run(host: Host, command: dict[str, Any]) -> dict[str, Any]:
    op = command.get("op")
    if op == "start":
        return await host.start(command)
    if op == "invoke":
        return await host.invoke(command)
    if op == "logs":
        return {"logs": host.all_logs(bool(command.get("clear", True))), "unexpected": host.unexpected}
    if op == "spans":
        per_worker = await host.ask_each({"op": "spans", "clear": bool(command.get("clear", True))})
        return {"spans": [span for spans in per_worker for span in spans]}
    if op == "metrics":
        return {"metrics": await host.ask_each({"op": "metrics"})}
    if op == "call":
        return {"results": await host.ask_each({"op": "call", "target": command["target"], "args": command["args"]})}
    if op == "output":
        return {"output": [host.output_tail(s, 200_000) for s in host.streams]}
    if op == "stop":
        return await host.stop()
    raise DriverError(f"unknown op {op!r}")


def main() -> None:
    # Answers go to the real stdout; anything else printed in this process goes to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    asyncio.run(serve(sys.stdin, answers))


if __name__ == "__main__":
    main()
