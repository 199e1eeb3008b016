"""Small stand-ins for the worker's context objects, for unit tests of pure helpers.
(Behaviour through the worker is tested with funcscope.emulator.)"""

from __future__ import annotations

import threading
import uuid
from types import SimpleNamespace

_LOCAL = threading.local()


class FakeContext:
    def __init__(
        self,
        function_name: str = "fn",
        invocation_id: str | None = None,
        trace_parent: str | None = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        trace_state: str = "",
        retry_context: object = None,
        function_directory: str = "/app/fn",
    ) -> None:
        self.function_name = function_name
        self.function_directory = function_directory
        self.invocation_id = invocation_id or str(uuid.uuid4())
        self.thread_local_storage = _LOCAL
        self.trace_context = SimpleNamespace(trace_parent=trace_parent, trace_state=trace_state, attributes={})
        self.retry_context = retry_context
