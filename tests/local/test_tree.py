"""How a run prints: colour only on a terminal and never with NO_COLOR; ASCII where the output cannot take more."""

from __future__ import annotations

import io

from funcscope.local.capture import SpanRecord
from funcscope.local.report import InvocationReport, LogLine, RunReport
from funcscope.local.tree import Style, render_report, use_colour


class Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self):
        return True


def test_colour_only_on_a_terminal_without_no_color():
    assert use_colour(Terminal(), {})
    assert not use_colour(io.StringIO(), {})
    assert not use_colour(Terminal(), {"NO_COLOR": "1"})
    assert use_colour(Terminal(), {"NO_COLOR": ""})  # no-color.org: present and not empty
    assert not use_colour(Terminal(), {"TERM": "dumb"})


def _report():
    span = SpanRecord("fn", "INTERNAL", "a" * 32, "b" * 16, "c" * 16, "ERROR", "boom", 0, 2_000_000)
    lines = [
        LogLine("INFO", "root", "MainThread", "inv-1", "inside", 0.001, span_id="b" * 16),
        LogLine("WARNING", "app", "Thread-1", None, "lost", 0.002),
    ]
    invocation = InvocationReport(
        "fn", "timerTrigger", False, "inv-1", "a" * 32, "c" * 16, "timerTrigger", "RuntimeError: boom", True, 3.0, 1
    )
    invocation.spans, invocation.logs = [span], lines
    report = RunReport(app="app", mode="sync", hooks=True, hooks_reason="--hooks on", export=None)
    report.invocations.append(invocation)
    return report


def test_tree_lines_and_colour():
    plain = render_report(_report(), Style(colour=False))
    text = "\n".join(plain)
    assert "\033[" not in text
    assert "  └─ host  timerTrigger  trace " + "a" * 32 in text
    assert "     ├─ fn  INTERNAL  ERROR (boom)  2.0 ms" in text
    assert "     │  └─ INFO    MainThread  invocation inv-1  inside" in text  # under the span it was logged in
    assert "     └─ WARNING Thread-1  no invocation id  app: lost" in text  # no span named: under the host
    assert "1 invocation, 1 failed" in text
    coloured = "\n".join(render_report(_report(), Style(colour=True)))
    assert "\033[31mno invocation id\033[0m" in coloured and "\033[31mERROR (boom)\033[0m" in coloured


def test_ascii_when_the_stream_cannot_encode_box_drawing():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    style = Style.for_stream(stream)
    assert not style.unicode
    text = "\n".join(render_report(_report(), style))
    text.encode("ascii")
    assert "`- host" in text
