"""Small units: context objects, the extension manager, log capture."""

import json
import logging
import threading
import warnings
from collections.abc import Mapping

import pytest
from azure.functions import ExtensionMeta

from funcscope.emulator import Context, ExtensionManager, LogEntry, RetryContext, RpcException, TraceContext
from funcscope.emulator.context import invocation_local
from funcscope.emulator.extension_manager import extensions_enabled
from funcscope.emulator.logs import InvocationLogHandler, LogRouter, to_entry


def test_context_is_read_only_and_shares_one_thread_local():
    tc = TraceContext("00-" + "1" * 32 + "-" + "2" * 16 + "-01", "s=1", {"k": "v"})
    ctx = Context("f", "/d", "id-1", invocation_local, tc, RetryContext())
    other = Context("g", "/d", "id-2", invocation_local, tc, RetryContext())
    assert (ctx.function_name, ctx.function_directory, ctx.invocation_id) == ("f", "/d", "id-1")
    assert ctx.thread_local_storage is other.thread_local_storage is invocation_local
    assert isinstance(ctx.thread_local_storage, threading.local)
    for attr in ("function_name", "invocation_id", "trace_context", "retry_context", "thread_local_storage"):
        with pytest.raises(AttributeError):
            setattr(ctx, attr, None)
    ctx.anything = 1  # like the worker's context, ad-hoc attributes are allowed


def test_trace_context_and_deprecated_names():
    tc = TraceContext("tp", "ts", {"a": "b"})
    assert (tc.trace_parent, tc.trace_state, tc.attributes) == ("tp", "ts", {"a": "b"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the worker's deprecated spellings warn of nothing
        assert (tc.Traceparent, tc.Tracestate, tc.Attributes) == ("tp", "ts", {"a": "b"})
    # A protobuf map in the worker: a mapping, but no dict.
    assert isinstance(tc.attributes, Mapping) and not isinstance(tc.attributes, dict)
    assert dict(tc.attributes) == {"a": "b"}
    with pytest.raises(TypeError):
        json.dumps(tc.attributes)


def test_retry_context_has_rpc_exception_but_no_exception():
    rc = RetryContext()
    assert (rc.retry_count, rc.max_retry_count) == (0, 0)
    assert (rc.rpc_exception.source, rc.rpc_exception.stack_trace, rc.rpc_exception.message) == ("", "", "")
    with pytest.raises(AttributeError):
        rc.exception  # noqa: B018
    rc2 = RetryContext(1, 3, RpcException("s", "st", "m"))
    assert rc2.rpc_exception.message == "m"


def test_rpc_exception_is_shaped_like_the_protobuf_message():
    failure = RpcException(source="Host", message='said "no"\nthen stopped')
    assert (failure.is_user_exception, failure.type) == (False, "")
    assert str(failure) == repr(failure) == 'source: "Host"\nmessage: "said \\"no\\"\\nthen stopped"\n'
    assert str(RpcException()) == ""
    assert failure == RpcException(source="Host", message='said "no"\nthen stopped') != RpcException()
    with pytest.raises(TypeError):
        hash(failure)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("", False),
        ("0", False),
        ("false", False),
        ("yes", False),
        ("1", True),
        ("true", True),
        ("True", True),
    ],
)
def test_extension_setting_parsing(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("PYTHON_ENABLE_WORKER_EXTENSIONS", raising=False)
    else:
        monkeypatch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", value)
    assert extensions_enabled() is expected


def test_extension_manager_keeps_the_worker_method_names():
    for name in (
        "function_load_extension",
        "_invocation_extension",
        "get_sync_invocation_wrapper",
        "get_async_invocation_wrapper",
        "_raw_invocation_wrapper",
        "_safe_execute_invocation_hooks",
        "_safe_execute_function_load_hooks",
    ):
        assert hasattr(ExtensionManager, name)
    wrapper = ExtensionManager.get_sync_invocation_wrapper(None, lambda x: x * 2)
    assert wrapper.func == ExtensionManager._raw_invocation_wrapper
    assert ExtensionMeta is not None


def test_sync_wrapper_without_hooks_just_calls(monkeypatch):
    monkeypatch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", "0")
    ctx = Context("unregistered", "/", "i", invocation_local, TraceContext("", "", {}), RetryContext())
    assert ExtensionManager.get_sync_invocation_wrapper(ctx, lambda x: x + 1)({"x": 1}) == 2


def test_to_entry_captures_extra_and_filter_attributes():
    logger = logging.getLogger("emulator.unit")
    router = LogRouter()
    handler = InvocationLogHandler(router)

    class AddField(logging.Filter):
        def filter(self, record):
            record.added_by_filter = ["x"]
            return True

    handler.addFilter(AddField())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # only our handler: others would complain about the bad record below
    try:
        logger.info("hello %s", "world", extra={"n": 1})
        logger.info("bad %d", "args")  # a formatting error never escapes the handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    first, second = router.unattributed
    assert isinstance(first, LogEntry)
    assert (first.message, first.logger_name, first.levelname, first.invocation_id) == (
        "hello world",
        "emulator.unit",
        "INFO",
        None,
    )
    assert first.fields == {"n": 1, "added_by_filter": ["x"]}
    assert not first.is_system
    assert second.message == "bad %d"
    record = logging.LogRecord("azure_functions_worker.x", logging.ERROR, __file__, 1, "m", (), None)
    assert to_entry(record, "i").is_system


def test_router_windows():
    router = LogRouter()
    a = router.begin("a")
    b = router.begin("b")
    entry = LogEntry(None, "n", 20, "INFO", "m", "t", 0.0)
    router.route(entry)
    router.route(LogEntry("a", "n", 20, "INFO", "for a", "t", 0.0))
    router.end("a")
    router.route(LogEntry("a", "n", 20, "INFO", "late", "t", 0.0))
    router.end("b")
    assert a.unattributed == b.unattributed == [entry]
    assert [e.message for e in a.logs] == ["for a"]
    assert [e.message for e in router.late] == ["late"]
