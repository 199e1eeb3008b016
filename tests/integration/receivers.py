"""Telemetry receivers on 127.0.0.1 for export tests: what the real exporters post, decoded into plain dicts.

- `OTLPReceiver`: OTLP/HTTP (protobuf), `POST /v1/traces`, `/v1/metrics` and `/v1/logs`.
- `OTLPGrpcReceiver`: OTLP/gRPC, the trace, metrics and logs services.
- `AppInsightsReceiver`: Application Insights ingestion, `POST /v2.1/track` (JSON envelopes, gzip'd or not).
- `Downstream`: what a function calls out to: records each request's method, path and `traceparent`, and answers
  200 with the headers an Azure Storage client expects, so a real Azure SDK client can call it.

The HTTP ones run a threaded HTTP server on an ephemeral port until `close()`, and keep every POST's raw body
(`bodies`), for checks on what the exporters really sent. `hold()` makes every later POST wait (the client sees a
server that does not answer) until `release()` or `close()`, to stand in for a slow backend; `refuse(status)`
answers every later POST with that status (500, 429, ...), keeping what was refused in `refused`.
`GET /_status` answers even while POSTs are held, so a child process can tell when its exporter is stuck.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["AppInsightsReceiver", "Downstream", "OTLPGrpcReceiver", "OTLPReceiver", "Receiver"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class Receiver:
    """A threaded HTTP server on 127.0.0.1; subclasses decode the POSTs they accept in `accept`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._released = threading.Event()
        self._released.set()
        self.held = 0  # POSTs waiting in hold() right now
        self.posts: list[str] = []  # paths of the POSTs accepted, in order
        self.refusing: int | None = None  # the status every POST gets, set by refuse()
        self.refused: list[tuple[str, bytes]] = []  # (path, body) of the POSTs refused, in order
        self.bodies: list[bytes] = []  # every POST's body as it arrived (decompressed), in order
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path != "/_status":
                    self._reply(404, "text/plain", b"not found")
                    return
                with receiver._cond:
                    status = {"held": receiver.held, "received": len(receiver.posts), "refused": len(receiver.refused)}
                self._reply(200, "application/json", json.dumps(status).encode())

            def do_POST(self) -> None:  # noqa: N802
                length = self.headers.get("Content-Length")
                if length is None:
                    self._reply(411, "text/plain", b"length required")
                    return
                body = self.rfile.read(int(length))
                if "gzip" in (self.headers.get("Content-Encoding") or "").lower():
                    body = gzip.decompress(body)
                with receiver._cond:
                    receiver.bodies.append(body)
                receiver._wait_if_held()
                refusing = receiver.refusing
                if refusing is not None:
                    with receiver._cond:
                        receiver.refused.append((self.path, body))
                        receiver._cond.notify_all()
                    self._reply(refusing, "text/plain", b"refused as the test asked")
                    return
                try:
                    status, content_type, payload = receiver.accept(self.path, body)
                except Exception as exc:  # a body the receiver cannot read is the test's failure, not a hang
                    self._reply(400, "text/plain", repr(exc).encode())
                    raise
                self._reply(status, content_type, payload)
                if status in (200, 206):
                    with receiver._cond:
                        receiver.posts.append(self.path)
                        receiver._cond.notify_all()

            def _reply(self, status: int, content_type: str, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up (a timed-out or exited exporter)
                    self.close_connection = True

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def accept(self, path: str, body: bytes) -> tuple[int, str, bytes]:
        raise NotImplementedError

    def hold(self) -> None:
        """From now on, keep every POST waiting (unanswered) until `release()`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def refuse(self, status: int | None) -> None:
        """From now on, answer every POST with `status` (None: accept them again)."""
        self.refusing = status

    def _wait_if_held(self) -> None:
        if self._released.is_set():
            return
        with self._cond:
            self.held += 1
            self._cond.notify_all()
        self._released.wait()
        with self._cond:
            self.held -= 1

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Wait until `predicate()` (checked after each accepted POST) is true; False on timeout."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- OTLP/HTTP ------------------------------------------------------------------------------------------


def _any_value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, which)


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in key_values}


def _hex(raw: bytes) -> str | None:
    return raw.hex() if raw else None


def _spans_of(requests: list[Any]) -> list[dict[str, Any]]:
    from opentelemetry.proto.trace.v1 import trace_pb2

    out = []
    for request in requests:
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    out.append(
                        {
                            "name": span.name,
                            "kind": trace_pb2.Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": _hex(span.parent_span_id),
                            "status": trace_pb2.Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
                            "attributes": _attributes(span.attributes),
                            "events": [(e.name, _attributes(e.attributes)) for e in span.events],
                            "scope": scope_spans.scope.name,
                            "resource": resource,
                        }
                    )
    return out


def _points_of(requests: list[Any]) -> list[dict[str, Any]]:
    """One dict per data point: metric name, resource, point attributes and value (sum) or count (histogram)."""
    out = []
    for request in requests:
        for resource_metrics in request.resource_metrics:
            resource = _attributes(resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        entry = {
                            "name": metric.name,
                            "resource": resource,
                            "attributes": _attributes(point.attributes),
                        }
                        if kind == "histogram":
                            entry["count"] = point.count
                        else:
                            entry["value"] = getattr(point, point.WhichOneof("value"))
                        out.append(entry)
    return out


class _OTLPStore:
    """The export requests an OTLP receiver got, flattened: `spans()`, `metrics()` and `log_records()`."""

    def _init_store(self) -> None:
        self._store_lock = threading.Lock()
        self._trace_requests: list[Any] = []
        self._metric_requests: list[Any] = []
        self._log_requests: list[Any] = []

    def _keep(self, signal: str, request: Any) -> None:
        with self._store_lock:
            {"traces": self._trace_requests, "metrics": self._metric_requests, "logs": self._log_requests}[
                signal
            ].append(request)

    def _requests(self, signal: str) -> list[Any]:
        with self._store_lock:
            return list(
                {"traces": self._trace_requests, "metrics": self._metric_requests, "logs": self._log_requests}[signal]
            )

    def serialized(self) -> list[bytes]:
        """Every export request as bytes, for checks on all that arrived (`bodies` where the receiver keeps them)."""
        return [r.SerializeToString() for signal in ("traces", "metrics", "logs") for r in self._requests(signal)]

    def spans(self) -> list[dict[str, Any]]:
        return _spans_of(self._requests("traces"))

    def metrics(self) -> list[dict[str, Any]]:
        """One dict per data point: metric name, resource, point attributes and value (sum) or count (histogram)."""
        return _points_of(self._requests("metrics"))

    def log_records(self) -> list[dict[str, Any]]:
        """One dict per log record: body, severity, attributes, trace and span ids, scope (the logger's name)."""
        out = []
        for request in self._requests("logs"):
            for resource_logs in request.resource_logs:
                resource = _attributes(resource_logs.resource.attributes)
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        out.append(
                            {
                                "body": _any_value(record.body),
                                "severity": record.severity_text,
                                "attributes": _attributes(record.attributes),
                                "trace_id": _hex(record.trace_id),
                                "span_id": _hex(record.span_id),
                                "scope": scope_logs.scope.name,
                                "resource": resource,
                            }
                        )
        return out


class OTLPReceiver(_OTLPStore, Receiver):
    """Accepts OTLP/HTTP protobuf exports."""

    def __init__(self) -> None:
        self._init_store()
        super().__init__()

    def accept(self, path: str, body: bytes) -> tuple[int, str, bytes]:
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        services = {
            "/v1/traces": (
                "traces",
                trace_service_pb2.ExportTraceServiceRequest,
                trace_service_pb2.ExportTraceServiceResponse,
            ),
            "/v1/metrics": (
                "metrics",
                metrics_service_pb2.ExportMetricsServiceRequest,
                metrics_service_pb2.ExportMetricsServiceResponse,
            ),
            "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
        }
        if path not in services:
            return 404, "text/plain", b"not found"
        signal, request_type, response_type = services[path]
        request = request_type()
        request.ParseFromString(body)
        self._keep(signal, request)
        return 200, "application/x-protobuf", response_type().SerializeToString()

    def refused_spans(self) -> list[dict[str, Any]]:
        """The spans of the POSTs `refuse()` refused, each request once however often the exporter retried it."""
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        return _spans_of(self._refused("/v1/traces", trace_service_pb2.ExportTraceServiceRequest))

    def refused_metrics(self) -> list[dict[str, Any]]:
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

        return _points_of(self._refused("/v1/metrics", metrics_service_pb2.ExportMetricsServiceRequest))

    def _refused(self, path: str, request_type: Any) -> list[Any]:
        with self._cond:
            bodies = dict.fromkeys(body for p, body in self.refused if p == path)  # a retry sends the same bytes
        requests = []
        for body in bodies:
            request = request_type()
            request.ParseFromString(body)
            requests.append(request)
        return requests


class OTLPGrpcReceiver(_OTLPStore):
    """Accepts OTLP/gRPC exports (insecure, on 127.0.0.1) for traces, metrics and logs until `close()`."""

    def __init__(self) -> None:
        from concurrent import futures

        import grpc
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        self._init_store()
        self._cond = threading.Condition()
        self.calls: list[str] = []
        receiver = self

        def service(base: type, signal: str, response_type: type) -> Any:
            class Service(base):  # type: ignore[misc, valid-type]
                def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method's name
                    receiver._keep(signal, request)
                    with receiver._cond:
                        receiver.calls.append(signal)
                        receiver._cond.notify_all()
                    return response_type()

            return Service()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            service(
                trace_service_pb2_grpc.TraceServiceServicer, "traces", trace_service_pb2.ExportTraceServiceResponse
            ),
            self._server,
        )
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
            service(
                metrics_service_pb2_grpc.MetricsServiceServicer,
                "metrics",
                metrics_service_pb2.ExportMetricsServiceResponse,
            ),
            self._server,
        )
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(
            service(logs_service_pb2_grpc.LogsServiceServicer, "logs", logs_service_pb2.ExportLogsServiceResponse),
            self._server,
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.stop(grace=None).wait(10)

    def __enter__(self) -> OTLPGrpcReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- Application Insights ingestion ---------------------------------------------------------------------


class AppInsightsReceiver(Receiver):
    """Accepts `POST /v2.1/track` with a JSON array (or newline-delimited JSON) of envelopes."""

    def __init__(self) -> None:
        self._envelopes: list[dict[str, Any]] = []
        self.partial: tuple[int, int] | None = None  # (n, status): every n-th item of a POST refused with status
        super().__init__()

    def accept_partly(self, every: int, status: int) -> None:
        """From now on, refuse every `every`-th item of each POST with `status`, in a 206 reply (accept the rest)."""
        self.partial = (every, status)

    def connection_string(self) -> str:
        return f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={self.url}/"

    def accept(self, path: str, body: bytes) -> tuple[int, str, bytes]:
        if not path.endswith("/track"):
            return 404, "text/plain", b"not found"
        envelopes = _envelopes_of(body)
        errors = []
        if self.partial is not None:
            every, status = self.partial
            errors = [
                {"index": i, "statusCode": status, "message": "refused as the test asked"}
                for i in range(every - 1, len(envelopes), every)
            ]
        refused = {error["index"] for error in errors}
        with self._cond:
            self._envelopes.extend(e for i, e in enumerate(envelopes) if i not in refused)
        count = len(envelopes)
        reply = {"itemsReceived": count, "itemsAccepted": count - len(errors), "errors": errors}
        return (206 if errors else 200), "application/json", json.dumps(reply).encode()

    def refused_envelopes(self) -> list[dict[str, Any]]:
        """The envelopes of the POSTs `refuse()` refused, each request once however often it was sent."""
        with self._cond:
            bodies = dict.fromkeys(body for _, body in self.refused)
        return [envelope for body in bodies for envelope in _envelopes_of(body)]

    def envelopes(self, base_type: str | None = None) -> list[dict[str, Any]]:
        """Envelopes received, optionally only those of one `data.baseType` (RequestData, MetricData, ...)."""
        with self._cond:
            envelopes = list(self._envelopes)
        return [e for e in envelopes if base_type is None or e.get("data", {}).get("baseType") == base_type]


def _envelopes_of(body: bytes) -> list[dict[str, Any]]:
    text = body.decode("utf-8")
    try:
        parsed = json.loads(text)
        return parsed if isinstance(parsed, list) else [parsed]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


# -- what functions call ------------------------------------------------------------------------------------------


class Downstream(Receiver):
    """Answers every request 200 (GET, HEAD, POST, PUT, ...) and records `(method, path, traceparent)`; with
    `blob`, answers a GET with it as a blob download (206, its range and blob type)."""

    def __init__(self, blob: bytes | None = None) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        super().__init__()
        handler = self._server.RequestHandlerClass
        receiver = self

        def answer(request: Any) -> None:
            length = int(request.headers.get("Content-Length") or 0)
            if length:
                request.rfile.read(length)
            with receiver._cond:
                receiver.calls.append((request.command, request.path, request.headers.get("traceparent")))
                receiver._cond.notify_all()
            # What an Azure Storage service answers (get_container_properties, a download): enough for the SDK.
            content = blob if blob is not None and request.command == "GET" else b""
            request.send_response(206 if content else 200)
            request.send_header("Content-Length", str(len(content)))
            if content:
                request.send_header("Content-Range", f"bytes 0-{len(content) - 1}/{len(content)}")
                request.send_header("x-ms-blob-type", "BlockBlob")
            request.send_header("x-ms-request-id", "00000000-0000-0000-0000-000000000001")
            request.send_header("x-ms-version", "2025-01-05")
            request.send_header("Last-Modified", "Tue, 01 Dec 2026 00:00:00 GMT")
            request.send_header("ETag", '"0x1"')
            request.end_headers()
            request.wfile.write(content)

        for method in ("GET", "HEAD", "POST", "PUT", "DELETE"):
            setattr(handler, f"do_{method}", answer)
