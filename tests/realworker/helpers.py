"""Reading what an invocation left behind: its span, its children, its logs."""

from __future__ import annotations

from typing import Any


def invocation_spans(spans: list[dict[str, Any]], invocation_id: str) -> list[dict[str, Any]]:
    """The spans funcscope made for the invocation (there must be exactly one)."""
    return [s for s in spans if s["attributes"].get("faas.invocation_id") == invocation_id]


def the_span(spans: list[dict[str, Any]], invocation_id: str) -> dict[str, Any]:
    found = invocation_spans(spans, invocation_id)
    assert len(found) == 1, f"expected one span for {invocation_id}, got {found}"
    return found[0]


def children(spans: list[dict[str, Any]], parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in spans if s["parent_span_id"] == parent["span_id"] and s["trace_id"] == parent["trace_id"]]


def work_spans(spans: list[dict[str, Any]], invocation_id: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["attributes"].get("test.invocation_id") == invocation_id]


def work_logs(logs: list[Any], invocation_id: str) -> dict[str, Any]:
    """The host's log records of the app's work for `invocation_id` ("<kind> for <id>"), by kind."""
    suffix = f" for {invocation_id}"
    mine = [log for log in logs if log.category == "rwapp" and log.message.endswith(suffix)]
    return {log.message[: -len(suffix)]: log for log in mine}


def records_of(worker: Any, invocation_id: str) -> list[dict[str, Any]]:
    """What the app recorded (`rwrecord`) for the invocation in the worker's first process, taking it all."""
    return [r for r in worker.run_in_each_process("rwrecord:take")[0] if r.get("invocation_id") == invocation_id]
