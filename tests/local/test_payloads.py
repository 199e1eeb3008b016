"""`--payload`: JSON or @file, for a function, a trigger or everything; defaults per trigger."""

from __future__ import annotations

import pytest

from funcscope.emulator.model import FunctionInfo
from funcscope.local.payloads import PayloadError, Payloads, default_payload


def info(name, trigger="httpTrigger", **binding):
    bindings = ({"name": "req", "type": trigger, "direction": "in", **binding},)
    return FunctionInfo(name, "/app", trigger, "req", False, False, bindings)


FUNCTIONS = {"orders": info("orders", methods=["post"]), "ship": info("ship", "queueTrigger")}


def test_http_default_uses_the_route_method_and_prefix():
    orders = info("orders", route="orders/{id:int}/lines/{line?}", methods=["post", "get"])
    assert default_payload(orders, "api") == {
        "method": "POST",
        "url": "http://localhost:7071/api/orders/1/lines/1",
        "route_params": {"id": "1", "line": "1"},
    }
    assert default_payload(info("plain"), "")["url"] == "http://localhost:7071/plain"
    assert default_payload(info("ship", "queueTrigger")) is None  # the emulator's own defaults


def test_the_most_specific_payload_wins(tmp_path):
    file = tmp_path / "ship.json"
    file.write_text('{"body": "from a file"}')
    payloads = Payloads.parse(['{"body": "everyone"}', f"queue=@{file}", 'orders={"body": {"id": 7}}'])
    payloads.resolve(FUNCTIONS)
    assert payloads.for_function(FUNCTIONS["ship"]) == {"body": "from a file"}
    # An HTTP payload keeps the function's route and method unless it names others.
    assert payloads.for_function(FUNCTIONS["orders"]) == {
        "method": "POST",
        "url": "http://localhost:7071/api/orders",
        "body": {"id": 7},
    }
    only_bare = Payloads.parse(['{"body": "everyone"}'])
    only_bare.resolve(FUNCTIONS)
    assert only_bare.for_function(FUNCTIONS["ship"]) == {"body": "everyone"}
    assert Payloads().for_function(FUNCTIONS["ship"]) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["{not json"], "not JSON"),
        (["orders=@/nonexistent/file.json"], "cannot read"),
        (["{}", "[]"], "more than once"),
    ],
)
def test_bad_payload_options(options, message):
    with pytest.raises(PayloadError, match=message):
        Payloads.parse(options)


def test_a_name_that_is_neither_a_function_nor_a_trigger():
    payloads = Payloads.parse(['nope={"body": ""}'])
    with pytest.raises(PayloadError, match=r"no function or trigger called 'nope' \(functions: orders, ship"):
        payloads.resolve(FUNCTIONS)


def test_a_trigger_the_emulator_cannot_build_needs_a_payload():
    rabbit = info("events", "rabbitMQTrigger")
    with pytest.raises(PayloadError, match="cannot build a rabbitMQTrigger argument; pass --payload events=JSON"):
        Payloads().for_function(rabbit)
    given = Payloads.parse(['events={"value": 1}'])
    given.resolve({"events": rabbit})
    assert given.for_function(rabbit) == {"value": 1}
