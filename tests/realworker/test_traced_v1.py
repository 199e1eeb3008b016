"""funcscope in the real classic worker, v1 app (`apps/traced_v1`): function-level extensions and options.

The same app is compared with the emulator in `test_fidelity.py`; here its results are checked against what
funcscope promises.
"""

from __future__ import annotations

import pytest

from funcscope.bench.realworker.client import RealWorker

from .conftest import APPS, LIB, new_trace
from .helpers import records_of, the_span

MODES = {"sync": "Sync", "async": "Async"}
HOOKS = [
    "pre_invocation_app_level:AppFirst",
    "pre_invocation_app_level:AppLast",
    "pre_invocation:FuncFirst",
    "pre_invocation:FuncLast",
    "function",
    "post_invocation:FuncFirst",
    "post_invocation:FuncLast",
    "post_invocation_app_level:AppFirst",
    "post_invocation_app_level:AppLast",
]


@pytest.fixture(scope="module")
def worker(location):
    with RealWorker(APPS / "traced_v1", python_path=[LIB], location=location) as w:
        yield w


@pytest.mark.parametrize("mode", MODES)
def test_function_level_hooks_run_inside_the_invocation_span(worker, mode):
    trace_id, host_span, traceparent = new_trace()
    result = worker.invoke(MODES[mode], trace_parent=traceparent)
    result.raise_for_exception()
    span = the_span(worker.spans(), result.invocation_id)
    assert (span["name"], span["trace_id"], span["parent_span_id"]) == (MODES[mode], trace_id, host_span)
    assert span["attributes"]["team"] == "v1"  # FunctionScope's options
    records = records_of(worker, result.invocation_id)
    assert [r["where"] for r in records] == HOOKS
    # App-level hooks first, then function-level ones, in registration order, post hooks not reversed; funcscope's
    # span (opened by FuncScopeExtension, registered between AppFirst and AppLast) covers all but the outer two.
    inside = [r["span_id"] == span["span_id"] for r in records]
    assert inside == [False] + [True] * 7 + [False]


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_v1_function_skips_every_post_hook_and_its_span_is_an_error(worker, mode):
    result = worker.invoke(MODES[mode], {"params": {"action": "raise"}}, trace_parent=new_trace()[2])
    assert not result.ok
    assert [r["where"] for r in records_of(worker, result.invocation_id)] == HOOKS[:5]
    span = the_span(worker.spans(), result.invocation_id)
    assert span["status"] == "ERROR" and span["attributes"]["team"] == "v1"
