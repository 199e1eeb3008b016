"""`funcscope demo` (what `make demo` runs): the sample app's trees, and its comparison with a run where funcscope
is really disabled; every sentence from the runs' numbers."""

from __future__ import annotations

from funcscope.local.demo import compare
from funcscope.local.report import InvocationReport, LogLine, RunReport
from funcscope.local.tree import Style

from .clitools import DEMO_APP, funcscope


def test_demo_compares_a_run_with_funcscope_disabled():
    done = funcscope("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    trees, comparison = out.split("Without funcscope -> with funcscope")
    assert "quote  httpTrigger" in trees and "price  INTERNAL" in trees and "code=REDACTED" in trees
    assert "my-function-key" not in out
    rows = {line.split()[0]: line.split()[1:] for line in comparison.splitlines()[2:8]}
    assert rows["quote"] == ["0", "->", "3", "2", "->", "0", "2", "of", "3", "->", "0", "of", "3"]
    assert rows["ship"][-7:] == ["1", "of", "1", "->", "0", "of", "1"]
    # The disabled run: no funcscope span, the app's own spans outside the host's trace, thread logs unattributed.
    assert "Invocations with a span in the host's trace: 0 of 6 without funcscope, 6 of 6 with it." in comparison
    assert "Log records that reached the host with no invocation id: 3 of 8 without funcscope, 0 of 8" in comparison
    assert "Spans the app's code made outside the host's trace: 4 without funcscope, 0 with it." in comparison
    assert "2 invocations failed; 2 of them have an ERROR span with funcscope." in comparison
    assert "1 span URL carried a secret, recorded as REDACTED." in comparison


def test_demo_of_an_app_that_never_configures_funcscope():
    done = funcscope("demo", "--app", str(DEMO_APP.parent / "v2_app"), env={"PYTHON_ENABLE_WORKER_EXTENSIONS": "1"})
    assert done.returncode == 0, done.stderr
    assert "Both runs recorded the same" in done.stdout
    assert "with it." not in done.stdout  # no sentence the numbers do not support


def test_demo_bad_app_is_one_clear_error(tmp_path):
    done = funcscope("demo", "--app", str(tmp_path / "missing"))
    assert done.returncode == 2 and "Traceback" not in done.stderr and "missing" in done.stderr


def _invocation(name, logs, failed=False):
    report = InvocationReport(name, "httpTrigger", False, "i", "t", "h", "GET", "HTTP 200", failed, 1.0, 1)
    report.logs = logs
    return report


def test_sentences_only_for_what_differs():
    line = LogLine("INFO", "root", "T", None, "m", 0.0)
    without = RunReport(app="a", mode="sync", hooks=True, hooks_reason="", export=None)
    with_funcscope = RunReport(app="a", mode="sync", hooks=True, hooks_reason="", export=None)
    without.invocations = [_invocation("f", [line])]
    with_funcscope.invocations = [_invocation("f", [line])]
    text = "\n".join(compare(without, with_funcscope, Style()))
    assert "Both runs recorded the same" in text and "Log records" not in text and "failed" not in text
