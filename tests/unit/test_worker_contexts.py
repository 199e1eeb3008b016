"""The Contexts a worker builds for functions it passes none: kept for those expected, claimed once, bounded."""

from __future__ import annotations

import threading
import uuid

from funcscope.emulator.context import Context, RetryContext, TraceContext
from funcscope.instrumentation import worker_contexts


def build(function_name: str, invocation_id: str) -> Context:
    trace_context = TraceContext("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "", {})
    return Context(function_name, "", invocation_id, threading.local(), trace_context, RetryContext())


def test_a_context_of_an_expected_function_is_claimed_once_by_its_invocation_id():
    name = f"orchestrator-{uuid.uuid4().hex}"
    worker_contexts.expect(name)
    built = build(name, "inv-1")
    assert worker_contexts.claim("inv-2") is None
    assert worker_contexts.claim("inv-1") is built
    assert worker_contexts.claim("inv-1") is None  # once


def test_other_functions_contexts_are_not_kept():
    worker_contexts.expect(f"orchestrator-{uuid.uuid4().hex}")
    invocation_id = uuid.uuid4().hex
    build("http_function", invocation_id)
    assert worker_contexts.claim(invocation_id) is None
    assert worker_contexts.claim(None) is None and worker_contexts.claim("") is None


def test_contexts_never_claimed_are_dropped_oldest_first():
    name = f"orchestrator-{uuid.uuid4().hex}"
    worker_contexts.expect(name)
    ids = [f"{name}-{n}" for n in range(worker_contexts.LIMIT + 5)]
    for invocation_id in ids:
        build(name, invocation_id)
    assert [worker_contexts.claim(i) for i in ids[:5]] == [None] * 5
    assert worker_contexts.claim(ids[-1]).invocation_id == ids[-1]
    assert len(worker_contexts._waiting) <= worker_contexts.LIMIT
