"""Run in a fresh process by test_runtime_opentelemetry: the v2 app on the real runtime with the runtime's Azure
Monitor setting on (the environment says where to export), two invocations, then a flush of the providers the
runtime set up. Prints one JSON line."""

from __future__ import annotations

import json
import logging

from opentelemetry import trace

from funcscope.runtime import get_runner

from .conftest import V2_APP, host_parent
from .proxy import Call, Proxy


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main() -> None:
    warnings = _Warnings()
    logging.getLogger("funcscope").addHandler(warnings)
    with Proxy(V2_APP) as app:
        results = app.invoke_many(
            [Call("hello", trace_parent=host_parent(0)), Call("ahello", trace_parent=host_parent(1))]
        )
        get_runner().telemetry.flush()
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    print(
        json.dumps(
            {
                "ok": [r.ok for r in results],
                "invocation_ids": [r.invocation_id for r in results],
                "funcscope_warnings": warnings.messages,
            }
        )
    )


if __name__ == "__main__":
    main()
