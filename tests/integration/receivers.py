"""Telemetry receivers on 127.0.0.1 for export tests: what the real exporters post, decoded into plain dicts.

- `OTLPReceiver`: OTLP/HTTP (protobuf), `POST /v1/traces` and `POST /v1/metrics`.
- `AppInsightsReceiver`: Application Insights ingestion, `POST /v2.1/track` (JSON envelopes, gzip'd or not).

Each runs a threaded HTTP server on an ephemeral port until `close()`. `hold()` makes every later POST wait
(the client sees a server that does not answer) until `release()` or `close()`, to stand in for a slow backend.
`GET /_status` answers even while POSTs are held, so a child process can tell when its exporter is stuck.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["AppInsightsReceiver", "OTLPReceiver", "Receiver"]


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
                    status = {"held": receiver.held, "received": len(receiver.posts)}
                self._reply(200, "application/json", json.dumps(status).encode())

            def do_POST(self) -> None:  # noqa: N802
                length = self.headers.get("Content-Length")
                if length is None:
                    self._reply(411, "text/plain", b"length required")
                    return
                body = self.rfile.read(int(length))
                if "gzip" in (self.headers.get("Content-Encoding") or "").lower():
                    body = gzip.decompress(body)
                receiver._wait_if_held()
                try:
                    status, content_type, payload = receiver.accept(self.path, body)
                except Exception as exc:  # a body the receiver cannot read is the test's failure, not a hang
                    self._reply(400, "text/plain", repr(exc).encode())
                    raise
                self._reply(status, content_type, payload)
                if status == 200:
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


class OTLPReceiver(Receiver):
    """Accepts OTLP/HTTP protobuf exports; `spans()` and `metrics()` flatten what arrived."""

    def __init__(self) -> None:
        self._trace_requests: list[Any] = []
        self._metric_requests: list[Any] = []
        super().__init__()

    def accept(self, path: str, body: bytes) -> tuple[int, str, bytes]:
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        if path == "/v1/traces":
            request, response = (
                trace_service_pb2.ExportTraceServiceRequest(),
                trace_service_pb2.ExportTraceServiceResponse(),
            )
            store = self._trace_requests
        elif path == "/v1/metrics":
            request = metrics_service_pb2.ExportMetricsServiceRequest()
            response = metrics_service_pb2.ExportMetricsServiceResponse()
            store = self._metric_requests
        else:
            return 404, "text/plain", b"not found"
        request.ParseFromString(body)
        with self._cond:
            store.append(request)
        return 200, "application/x-protobuf", response.SerializeToString()

    def spans(self) -> list[dict[str, Any]]:
        from opentelemetry.proto.trace.v1 import trace_pb2

        with self._cond:
            requests = list(self._trace_requests)
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
                                "status": trace_pb2.Status.StatusCode.Name(span.status.code).removeprefix(
                                    "STATUS_CODE_"
                                ),
                                "attributes": _attributes(span.attributes),
                                "events": [(e.name, _attributes(e.attributes)) for e in span.events],
                                "scope": scope_spans.scope.name,
                                "resource": resource,
                            }
                        )
        return out

    def metrics(self) -> list[dict[str, Any]]:
        """One dict per data point: metric name, resource, point attributes and value (sum) or count (histogram)."""
        with self._cond:
            requests = list(self._metric_requests)
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


# -- Application Insights ingestion ---------------------------------------------------------------------


class AppInsightsReceiver(Receiver):
    """Accepts `POST /v2.1/track` with a JSON array (or newline-delimited JSON) of envelopes."""

    def __init__(self) -> None:
        self._envelopes: list[dict[str, Any]] = []
        super().__init__()

    def connection_string(self) -> str:
        return f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={self.url}/"

    def accept(self, path: str, body: bytes) -> tuple[int, str, bytes]:
        if not path.endswith("/track"):
            return 404, "text/plain", b"not found"
        text = body.decode("utf-8")
        try:
            parsed = json.loads(text)
            envelopes = parsed if isinstance(parsed, list) else [parsed]
        except json.JSONDecodeError:
            envelopes = [json.loads(line) for line in text.splitlines() if line.strip()]
        with self._cond:
            self._envelopes.extend(envelopes)
        count = len(envelopes)
        reply = {"itemsReceived": count, "itemsAccepted": count, "errors": []}
        return 200, "application/json", json.dumps(reply).encode()

    def envelopes(self, base_type: str | None = None) -> list[dict[str, Any]]:
        """Envelopes received, optionally only those of one `data.baseType` (RequestData, MetricData, ...)."""
        with self._cond:
            envelopes = list(self._envelopes)
        return [e for e in envelopes if base_type is None or e.get("data", {}).get("baseType") == base_type]
