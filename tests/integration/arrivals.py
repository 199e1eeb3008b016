"""What one invocation of each function of the delivered_v1 and delivered_v2 test apps must leave in Application
Insights and in an OTLP backend, whichever worker ran it (the emulator or the real classic worker).

The checks expect the functions invoked once each, in `FUNCTIONS` order, the n-th (from 1) under the host span
`f"{n:016x}"` of the trace `HOST_TRACE` (see `host_parent`), by a worker that exports to fresh receivers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

from .receivers import AppInsightsReceiver, Downstream

HOST_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
#: The function key the apps' outgoing calls send in their URLs (`?code=`): no receiver may get it.
PLANTED_KEY = "SeKrEtFuNcTiOnKeYtErKeS"


class Function(NamedTuple):
    """One function of the delivered apps: its names, its trigger, what it does."""

    v2: str
    v1: str
    trigger: str  # http, queue or timer
    calls: int  # outgoing HTTP calls it makes
    records: int  # log records the app writes ("<name>: ...")
    raises: bool = False
    status: int = 200  # an HTTP function's response status

    def name(self, version: str) -> str:
        return self.v1 if version == "v1" else self.v2

    @property
    def keyed_calls(self) -> int:
        """The HTTP clients' calls, each with a function key in its URL (the Azure SDK's call has none)."""
        return self.calls - (self.v2 == "hello")

    @property
    def succeeds(self) -> bool:
        return not self.raises and self.status < 500


FUNCTIONS = [
    Function("hello", "Hello", "http", 3, 2),  # requests, httpx in a thread, an Azure SDK call
    Function("ahello", "AsyncHello", "http", 2, 2),  # httpx, aiohttp in a task
    Function("on_order", "Order", "queue", 0, 1),
    Function("tick", "Tick", "timer", 0, 1),
    Function("boom", "Boom", "http", 0, 1, raises=True),
    Function("unavailable", "Unavailable", "http", 0, 1, status=503),
]
CALLS = sum(f.calls for f in FUNCTIONS)
RECORDS = sum(f.records for f in FUNCTIONS)
REQUEST_UNDER_TRIGGER = {"http", "queue"}  # SERVER and CONSUMER spans are requests; a timer's is INTERNAL
PAYLOADS: dict[str, Any] = {"queue": {"body": "one", "id": "order-1"}, "timer": {}}


def host_parent(n: int, sampled: bool = True) -> str:
    """The host's traceparent for the n-th invocation (from 1): trace `HOST_TRACE`, span id n."""
    return f"00-{HOST_TRACE}-{n:016x}-{'01' if sampled else '00'}"


def payload(name: str, trigger: str) -> Any:
    """What the host passes the function: an HTTP GET with a function key, a queue message or a timer."""
    if trigger == "http":
        return {"method": "GET", "url": f"http://localhost/api/{name}?code=KEY"}
    return PAYLOADS[trigger]


def function_calls(version: str) -> list[tuple[str, str]]:
    """(name, trigger) of each function, in `FUNCTIONS` order."""
    return [(f.name(version), f.trigger) for f in FUNCTIONS]


def span_tree(items: list[dict[str, Any]], id_of: Callable[[Any], str], parent_of: Callable[[Any], str], root_id: str):
    """The items under `root_id` (children, their children, ...)."""
    children: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        children.setdefault(parent_of(item), []).append(item)
    out, todo = [], [root_id]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(id_of(child))
    return out


def check_downstream(downstream: Downstream, client_span_ids: set[str], expected: int = CALLS) -> None:
    """Every outgoing call sent a traceparent in the host's trace naming the CLIENT span of that call."""
    assert len(downstream.calls) == expected
    for _, _, traceparent in downstream.calls:
        assert traceparent is not None
        _, trace_id, span_id, flags = traceparent.split("-")
        assert (trace_id, flags) == (HOST_TRACE, "01") and span_id in client_span_ids


def app_records(messages: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """The trace items of the records the app itself wrote ("<function>: ..."), not the libraries'."""
    names = {f.name(version) for f in FUNCTIONS}
    return [m for m in messages if m["data"]["baseData"]["message"].split(":", 1)[0] in names]


def _workers_own(envelope: dict[str, Any]) -> bool:
    """A record the real worker logs itself (loading, invocation requests), exported with the app's under
    logs=export, or one of the Azure SDK's lines about the live-metrics requests of the distro the worker sets up in
    its OpenTelemetry mode. Logged outside any invocation span, they have an operation id of zeros."""
    data = envelope["data"]["baseData"]
    if envelope["data"]["baseType"] != "MessageData":
        return False
    return (data.get("properties") or {}).get("logger_name") == "azure_functions_worker" or (
        "/QuickPulseService.svc/" in data.get("message", "")
    )


def check_no_key(receiver: Any) -> None:
    """No byte a receiver got holds the key the outgoing calls sent in their URLs."""
    bodies = getattr(receiver, "bodies", None)
    for body in receiver.serialized() if bodies is None else bodies:
        assert PLANTED_KEY.encode() not in body, body[:2000]


def check_app_insights(
    receiver: AppInsightsReceiver, version: str, span_kind: str, logs_exported: bool, records_redacted: bool = True
) -> set[str]:
    """Item types and counts per invocation, and no key of an outgoing call's URL anywhere (in the spans' items
    only, unless `records_redacted`: log records exported by a pipeline funcscope did not set up are exported as
    logged, the HTTP clients' own lines quoting the URL among them); returns the ids of the HTTP dependency items
    (the CLIENT spans)."""
    if records_redacted:
        check_no_key(receiver)
    else:
        spans = [e for e in receiver.envelopes() if e["data"]["baseType"] not in ("MessageData", "ExceptionData")]
        assert PLANTED_KEY not in json.dumps(spans)
    envelopes = [e for e in receiver.envelopes() if e["data"]["baseType"] != "MetricData" and not _workers_own(e)]
    strays = [e for e in envelopes if e["tags"].get("ai.operation.id") != HOST_TRACE]
    assert strays == [], json.dumps(strays, indent=1)[:3000]

    def id_of(e):
        return e["data"]["baseData"].get("id", "")

    def parent_of(e):
        return e["tags"].get("ai.operation.parentId", "")

    http_ids: set[str] = set()
    for n, function in enumerate(FUNCTIONS, 1):
        name = function.name(version)
        (item,) = [e for e in envelopes if parent_of(e) == f"{n:016x}" and e["data"]["baseType"] != "MessageData"]
        data = item["data"]["baseData"]
        assert data["name"].endswith(name) and data["properties"]["faas.name"] == name
        is_request = span_kind == "trigger" and function.trigger in REQUEST_UNDER_TRIGGER
        assert item["data"]["baseType"] == ("RequestData" if is_request else "RemoteDependencyData"), name
        if not is_request:
            assert data["type"] == "InProc", name  # an in-process dependency under the host's request
        elif function.trigger == "http":
            assert data["responseCode"] == str(function.status if not function.raises else 500), name
        assert data["success"] is function.succeeds, name
        under = span_tree(envelopes, id_of, parent_of, data["id"])
        # the app's own records; the HTTP clients' and the Azure SDK's INFO records are exported too
        mine = [e for e in under if e["data"]["baseData"].get("message", "").startswith(f"{name}: ")]
        types = Counter(e["data"]["baseType"] for e in under if e["data"]["baseType"] != "MessageData")
        http = [
            e
            for e in under
            if e["data"]["baseType"] == "RemoteDependencyData" and e["data"]["baseData"]["type"] == "HTTP"
        ]
        assert len(http) == function.calls, (name, [e["data"]["baseData"]["name"] for e in under])
        http_ids.update(e["data"]["baseData"]["id"] for e in http)
        keyed = [e["data"]["baseData"]["data"] for e in http if "code=REDACTED" in e["data"]["baseData"]["data"]]
        assert len(keyed) == function.keyed_calls, (name, [e["data"]["baseData"]["data"] for e in http])
        # the Azure SDK call is its own dependency, with the HTTP call under it
        sdk = [e for e in under if e["data"]["baseData"].get("name") == "ContainerClient.exists"]
        assert len(sdk) == (function.v2 == "hello"), name
        expected = Counter(RemoteDependencyData=function.calls + len(sdk))
        if function.raises:
            expected["ExceptionData"] = 1
        assert types == expected, (name, types)
        assert len(mine) == (function.records if logs_exported else 0), name
        for message in mine:
            assert message["data"]["baseType"] == "MessageData"
            assert parent_of(message) == data["id"]  # from the body, a thread or a task alike
            assert (
                message["data"]["baseData"]["properties"]["invocation_id"] == data["properties"]["faas.invocation_id"]
            )
    ours = [e["data"]["baseData"]["message"] for e in app_records(receiver.envelopes("MessageData"), version)]
    assert len(ours) == len(set(ours)) == (RECORDS if logs_exported else 0)  # none twice, none stray
    return http_ids


def check_otlp(receiver: Any, version: str, span_kind: str, logs_exported: bool) -> set[str]:
    """The same per invocation in the OTLP backend; returns the CLIENT span ids."""
    check_no_key(receiver)
    spans = receiver.spans()
    assert all(s["trace_id"] == HOST_TRACE for s in spans)
    kinds = {"http": "SERVER", "queue": "CONSUMER", "timer": "INTERNAL"}
    clients: set[str] = set()
    records = [r for r in receiver.log_records() if r["scope"] == "app"]
    for n, function in enumerate(FUNCTIONS, 1):
        name = function.name(version)
        (span,) = [s for s in spans if s["parent_span_id"] == f"{n:016x}"]
        assert span["name"] == name
        assert span["kind"] == (kinds[function.trigger] if span_kind == "trigger" else "INTERNAL")
        assert span["status"] == ("UNSET" if function.succeeds else "ERROR")
        under = span_tree(spans, lambda s: s["span_id"], lambda s: s["parent_span_id"], span["span_id"])
        client_spans = [s for s in under if s["kind"] == "CLIENT"]
        assert len(client_spans) == function.calls, (name, [s["name"] for s in under])
        clients.update(s["span_id"] for s in client_spans)
        urls = [str(s["attributes"].get("url.full", s["attributes"].get("http.url"))) for s in client_spans]
        assert len([u for u in urls if "code=REDACTED" in u]) == function.keyed_calls, (name, urls)
        mine = [r for r in records if r["body"].startswith(f"{name}: ")]
        assert len(mine) == (function.records if logs_exported else 0), name
        for record in mine:
            assert (record["trace_id"], record["span_id"]) == (HOST_TRACE, span["span_id"])
            assert record["attributes"]["function_name"] == name
    if not logs_exported:
        assert receiver.log_records() == []
    return clients
