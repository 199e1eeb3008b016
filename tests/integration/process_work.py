"""What the child processes of tests/integration/test_processes.py run: importable, so a spawned child finds it."""

from __future__ import annotations

import os

from opentelemetry import trace

tracer = trace.get_tracer("tests.processes")


def make_span(name: str) -> None:
    """A span in this process, under whatever context it runs in."""
    with tracer.start_as_current_span(name) as span:
        span.set_attribute("pid", os.getpid())


def pool_task(n: int) -> int:
    make_span(f"pool-task-{n}")
    return os.getpid()
