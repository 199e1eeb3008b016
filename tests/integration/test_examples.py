"""The apps in examples/ run through the worker emulator as they would on Azure Functions."""

from __future__ import annotations

from pathlib import Path

from funcscope.emulator import RetryContext, RpcException, Worker

from .conftest import HOST_TRACE, host_parent

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def user_logs(result):
    return [e for e in result.logs if not e.is_system]


def test_v2_example(spans):
    with Worker(EXAMPLES / "v2_app", extensions_enabled=True) as worker:
        quote = worker.invoke(
            "quote", {"method": "POST", "body": {"items": ["ab", "cde"]}}, trace_parent=host_parent(1)
        )
        status = worker.invoke("status", {"url": "http://localhost/api/status"}, trace_parent=host_parent(2))
        final = RetryContext(retry_count=3, max_retry_count=3, rpc_exception=RpcException("", "", "earlier"))
        ship = worker.invoke("ship", {"body": "broken", "id": "m-1"}, retry_context=final)
    assert quote.value.get_body() == b"5.00"
    assert sorted(e.message for e in user_logs(quote)) == ["pricing ab", "pricing cde"]  # from pool threads
    assert quote.unattributed_logs == []
    assert [e.message for e in user_logs(status)] == ["status checked"]  # from asyncio.to_thread
    assert isinstance(ship.exception, RuntimeError)
    messages = [e.message for e in user_logs(ship)]
    assert "shipping m-1 (attempt 3, final: True)" in messages
    assert any(m.startswith("Final attempt 3 of 3 for ship failed") for m in messages)
    by_name = {s.name: s for s in spans.get_finished_spans()}
    assert format(by_name["quote"].context.trace_id, "032x") == HOST_TRACE
    assert by_name["status"].attributes["endpoint.kind"] == "health"  # host sampled it: the ratio is for roots
    assert by_name["ship"].status.status_code.name == "ERROR"


def test_v1_example(spans):
    with Worker(EXAMPLES / "v1_app", extensions_enabled=True) as worker:
        order = worker.invoke("Orders", {"method": "POST", "route_params": {"id": "17"}}, trace_parent=host_parent(3))
        worker.invoke("Nightly", {}).raise_for_exception()
    assert order.value.status_code == 202
    assert [e.message for e in user_logs(order)] == ["audited order 17"]  # from a thread the function started
    by_name = {s.name: s for s in spans.get_finished_spans()}
    assert by_name["Orders"].attributes["team"] == "orders"
    assert by_name["Orders"].attributes["http.route"] == "/api/orders/{id}"
    assert by_name["Nightly"].kind.name == "INTERNAL"
