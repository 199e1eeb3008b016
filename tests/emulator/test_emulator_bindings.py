"""Trigger arguments, output bindings, payload validation, context shape."""

import datetime as dt
import re

import azure.functions as func
import pytest
from emutest import HOOK_APPS, app_path, body, req

from funcscope.emulator import EmulatorError, Out, RetryContext, RpcException, Worker


@pytest.fixture
def triggers():
    # Function-scoped: only one in-process Worker may run at a time, and other tests start their own.
    with Worker(app_path("triggers_v1")) as worker:
        yield worker


def _value(worker, name, payload=None):
    result = worker.invoke(name, payload)
    result.raise_for_exception()
    return result.value


def test_http_request(triggers):
    r = _value(
        triggers,
        "Http",
        {
            "method": "post",
            "url": "http://localhost/api/things/7?code=k&x=1",
            "headers": {"X-Test": "yes"},
            "route_params": {"id": "7"},
            "body": {"a": 1},
        },
    )
    assert isinstance(r, func.HttpRequest)
    assert r.method == "POST"
    assert r.url == "http://localhost/api/things/7?code=k&x=1"
    assert r.params == {"code": "k", "x": "1"}
    assert r.route_params == {"id": "7"}
    assert r.headers["x-test"] == "yes"
    assert r.headers["content-type"] == "application/json"
    assert r.get_json() == {"a": 1}


def test_http_defaults(triggers):
    r = _value(triggers, "Http")
    assert (r.method, r.url, r.get_body()) == ("GET", "http://localhost:7071/api/things/{id}", b"")
    r = _value(triggers, "Http", {"params": {"q": "1"}, "body": "text", "method": None})
    assert r.method == "GET"
    assert r.params == {"q": "1"}
    assert r.get_body() == b"text"


def test_queue_message(triggers):
    m = _value(
        triggers, "Queue", {"body": "hello", "id": "m1", "dequeue_count": 3, "insertion_time": "2024-01-02T03:04:05Z"}
    )
    assert isinstance(m, func.QueueMessage)
    assert (m.get_body(), m.id, m.dequeue_count) == (b"hello", "m1", 3)
    assert m.insertion_time == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert m.pop_receipt
    d = _value(triggers, "Queue")
    assert d.dequeue_count == 1 and d.id and d.get_body() == b""


def test_service_bus_message(triggers):
    m = _value(
        triggers,
        "ServiceBus",
        {
            "body": b"\x00\x01",
            "message_id": "sb-1",
            "delivery_count": 2,
            "session_id": "s",
            "user_properties": {"k": "v"},
        },
    )
    assert isinstance(m, func.ServiceBusMessage)
    assert (m.get_body(), m.message_id, m.delivery_count, m.session_id) == (b"\x00\x01", "sb-1", 2, "s")
    assert m.user_properties == {"k": "v"}
    assert m.metadata["MessageId"] == "sb-1"
    assert _value(triggers, "ServiceBus").message_id


def test_event_hub_one_and_many(triggers):
    e = _value(triggers, "EventHubOne", {"body": "x", "partition_key": "p", "sequence_number": 5})
    assert isinstance(e, func.EventHubEvent)
    assert (e.get_body(), e.partition_key, e.sequence_number) == (b"x", "p", 5)
    events = _value(triggers, "EventHubMany", [{"body": "a"}, {"body": "b"}])
    assert [ev.get_body() for ev in events] == [b"a", b"b"]
    assert all(isinstance(ev, func.EventHubEvent) for ev in events)
    (single,) = _value(triggers, "EventHubMany", {"body": "c"})
    assert single.get_body() == b"c"
    with pytest.raises(EmulatorError, match="cardinality is 'one'"):
        triggers.invoke("EventHubOne", [{"body": "a"}])


def test_timer_blob_event_grid_cosmos_custom(triggers):
    t = _value(triggers, "Timer", {"past_due": True})
    assert isinstance(t, func.TimerRequest) and t.past_due is True
    assert _value(triggers, "Timer").past_due is False
    b = _value(triggers, "Blob", {"data": b"abc", "name": "uploads/x.txt"})
    assert isinstance(b, func.InputStream)
    assert (b.read(), b.name, b.length) == (b"abc", "uploads/x.txt", 3)
    assert b.uri.endswith("uploads/x.txt")
    assert _value(triggers, "Blob").name == "uploads/sample.txt"
    g = _value(triggers, "EventGrid", {"data": {"k": 1}, "event_type": "T"})
    assert isinstance(g, func.EventGridEvent)
    assert (g.get_json(), g.event_type) == ({"k": 1}, "T")
    docs = _value(triggers, "Cosmos", [{"id": "1"}, {"id": "2"}])
    assert isinstance(docs, func.DocumentList)
    assert [d["id"] for d in docs] == ["1", "2"]
    assert _value(triggers, "Cosmos", {"documents": [{"id": "3"}]})[0]["id"] == "3"
    raw = object()
    assert _value(triggers, "Custom", raw) is raw  # unknown trigger type: the payload itself


def test_output_and_input_bindings(triggers):
    result = triggers.invoke("WithOutputs", {"body": "abc", "$inputs": {"extra": "blob content"}})
    result.raise_for_exception()
    assert result.value == {"extra": "blob content", "out_types": ["Out", True]}
    assert result.outputs == {"out1": "ABC", "out2": None}
    out = Out()
    out.set(1)
    assert isinstance(out, func.Out) and out.get() == 1


def test_value_without_return_binding_fails_like_the_worker(triggers):
    result = triggers.invoke("NoReturnBinding", {"body": "x"})
    assert isinstance(result.exception, RuntimeError)
    assert "without a $return binding" in str(result.exception)


@pytest.mark.parametrize(
    ("name", "payload", "match"),
    [
        ("Queue", {"body": 5}, r"'body' must be bytes, str, dict or list, got int"),
        ("Queue", {"bodyy": "x"}, r"unknown key\(s\) \['bodyy'\]"),
        ("Queue", "just a string", r"must be a dict, got str"),
        ("Http", {"headers": {"a": 1}}, r"'headers' must map str to str"),
        ("Http", {"method": 1}, r"'method' must be str, got int"),
        ("Queue", {"insertion_time": "yesterday"}, r"not an ISO 8601 time"),
        ("ServiceBus", {"delivery_count": "2"}, r"'delivery_count' must be int"),
        ("Cosmos", [1, 2], r"list of dicts"),
        ("WithOutputs", {"$inputs": {"nope": 1}}, r"names no input binding \['nope'\]"),
    ],
)
def test_invalid_payload_is_a_clear_error(triggers, name, payload, match):
    with pytest.raises(EmulatorError, match=match) as info:
        triggers.invoke(name, payload)
    assert name in str(info.value)


def test_invalid_payload_in_invoke_many_raises_before_anything_runs(triggers):
    from funcscope.emulator import Call

    with pytest.raises(EmulatorError):
        triggers.invoke_many([Call("NoReturnBinding", {"body": "x"}), Call("Queue", {"body": 5})])


def test_a_bad_payload_shared_by_many_calls_raises_before_anything_runs(triggers):
    from funcscope.emulator import Call

    bad = {"body": 5}
    with pytest.raises(EmulatorError, match="'body' must be bytes"):
        triggers.invoke_many([Call("NoReturnBinding", {"body": "x"})] + [Call("Queue", bad) for _ in range(3)])


def test_check_says_whether_a_call_could_run(triggers):
    from funcscope.emulator import Call

    triggers.check(Call("Queue", {"body": "x"}))
    with pytest.raises(EmulatorError, match="'body' must be bytes"):
        triggers.check(Call("Queue", {"body": 5}))
    with pytest.raises(EmulatorError, match="unknown function 'Nope'"):
        triggers.check(Call("Nope"))


def test_unknown_function_lists_known_names(triggers):
    with pytest.raises(EmulatorError) as info:
        triggers.invoke("Nope")
    assert "unknown function 'Nope'" in str(info.value)
    assert "Blob, Cosmos, Custom" in str(info.value)


# -- context ------------------------------------------------------------------------------------

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_trace_and_retry_context_shape(kind, mode):
    folder, names = HOOK_APPS[kind]
    with Worker(app_path(folder), extensions_enabled=False) as worker:
        default = worker.invoke(names[mode], req(action="context_info"))
        custom = worker.invoke(
            names[mode],
            req(action="context_info"),
            trace_parent="not-a-traceparent",
            trace_state="k=v",
            trace_attributes={"a": "b"},
            retry_context=RetryContext(2, 5, RpcException("src", "trace", "boom")),
            invocation_id="fixed-id",
        )
        odd = worker.invoke(names[mode], req(action="context_info"), retry_context="odd")
    d = body(default)
    assert TRACEPARENT.match(d["trace_parent"]) and d["trace_parent"] == default.trace_parent
    assert (d["trace_state"], d["attributes"]) == ("", {})
    assert (d["retry_type"], d["retry_count"], d["max_retry_count"]) == ("RetryContext", 0, 0)
    assert (d["rpc_message"], d["rpc_source"]) == ("", "")
    assert d["has_exception_attr"] is False  # the worker's retry context has no `exception`
    assert d["function_name"] == names[mode]
    expected_dir = app_path(folder) / names[mode] if kind == "v1" else app_path(folder)
    assert d["function_directory"] == str(expected_dir)
    c = body(custom)
    assert custom.invocation_id == c["invocation_id"] == "fixed-id"
    assert (c["trace_parent"], c["trace_state"], c["attributes"]) == ("not-a-traceparent", "k=v", {"a": "b"})
    assert custom.trace_parent == "not-a-traceparent"
    assert (c["retry_count"], c["max_retry_count"], c["rpc_message"], c["rpc_source"]) == (2, 5, "boom", "src")
    o = body(odd)
    assert (o["retry_type"], o["retry_count"], o["retry_repr"]) == ("str", None, "'odd'")


def test_generated_trace_parents_differ():
    with Worker(app_path("hooks_v2")) as worker:
        a = worker.invoke("sync_func", req())
        b = worker.invoke("sync_func", req())
    assert a.trace_parent != b.trace_parent
    assert a.invocation_id != b.invocation_id


V2_RETRIED = """
import logging

import azure.functions as func

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
@app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:05")
def retried(msg: func.QueueMessage, context: func.Context) -> None:
    logging.getLogger("retries").info("%s/%s", context.retry_context.retry_count, context.retry_context.max_retry_count)


@app.queue_trigger(arg_name="msg", queue_name="other", connection="AzureWebJobsStorage")
def plain(msg: func.QueueMessage, context: func.Context) -> None:
    logging.getLogger("retries").info("%s/%s", context.retry_context.retry_count, context.retry_context.max_retry_count)
"""

V1_FUNCTION_JSON = """{
  "retry": {"strategy": "exponentialBackoff", "maxRetryCount": %s,
            "minimumInterval": "00:00:10", "maximumInterval": "00:15:00"},
  "bindings": [{"type": "queueTrigger", "direction": "in", "name": "msg", "queueName": "orders"}]
}"""
V1_SCRIPT = """
import logging


def main(msg, context):
    logging.getLogger("retries").info("%s/%s", context.retry_context.retry_count, context.retry_context.max_retry_count)
"""


def _retry_seen(worker, name):
    result = worker.invoke(name)
    result.raise_for_exception()
    return [e.message for e in result.logs if e.logger_name == "retries"]


def test_a_first_attempt_carries_the_retry_policys_maximum(tmp_path):
    """The host sends a function with a retry policy its maximum in every attempt's retry context, the first one
    too; a function without one gets 0."""
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "function_app.py").write_text(V2_RETRIED)
    with Worker(v2) as worker:
        assert [_retry_seen(worker, name) for name in ("retried", "plain")] == [["0/3"], ["0/0"]]
    v1 = tmp_path / "v1"
    for name, count in (("Retried", "-1"), ("Odd", '"many"')):
        (v1 / name).mkdir(parents=True)
        (v1 / name / "function.json").write_text(V1_FUNCTION_JSON % count)
        (v1 / name / "__init__.py").write_text(V1_SCRIPT)
    (v1 / "host.json").write_text('{"version": "2.0"}')
    with Worker(v1) as worker:  # -1: retry forever; what is not a whole number counts as no policy
        assert [_retry_seen(worker, name) for name in ("Retried", "Odd")] == [["0/-1"], ["0/0"]]
