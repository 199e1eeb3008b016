"""Printing a run: per invocation, a tree from the host's span down (the invocation span, every child span, each
log record under the span it was logged in), then a summary. Colour only on a terminal, and never with NO_COLOR.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from .capture import MetricPoint, SpanRecord
from .report import InvocationReport, LogLine, RunReport

__all__ = ["Style", "count", "render_invocation", "render_report", "render_summary", "use_colour"]

_ATTRIBUTE_WIDTH = 80
_HIDDEN_ATTRIBUTES = frozenset({"faas.invocation_id"})  # on the host line already


def use_colour(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour when `stream` is a terminal, unless `NO_COLOR` is set to anything (no-color.org) or TERM=dumb."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _encodes(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


@dataclass(frozen=True)
class Style:
    """How to draw: ANSI colours or none, box-drawing characters or ASCII."""

    colour: bool = False
    unicode: bool = True

    @classmethod
    def for_stream(cls, stream: TextIO, environ: Mapping[str, str] | None = None) -> Style:
        return cls(colour=use_colour(stream, environ), unicode=_encodes(stream, "├└│─…·"))

    def paint(self, text: str, *codes: str) -> str:
        if not self.colour or not codes:
            return text
        table = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36"}
        return f"\033[{';'.join(table[c] for c in codes)}m{text}\033[0m"

    @property
    def branches(self) -> tuple[str, str, str, str]:
        """(middle child, last child, continuing line, no line)."""
        return ("├─ ", "└─ ", "│  ", "   ") if self.unicode else ("|- ", "`- ", "|  ", "   ")

    @property
    def ellipsis(self) -> str:
        return "…" if self.unicode else "..."

    @property
    def dot(self) -> str:
        return "·" if self.unicode else "-"


def count(number: int, noun: str) -> str:
    """`1 span`, `2 spans`."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _attributes(attributes: Mapping[str, Any], style: Style) -> str:
    parts = []
    for key, value in attributes.items():
        if key in _HIDDEN_ATTRIBUTES:
            continue
        text = str(value)
        if len(text) > _ATTRIBUTE_WIDTH:
            text = text[: _ATTRIBUTE_WIDTH - 1] + style.ellipsis
        parts.append(f"{key}={text}")
    return "  ".join(parts)


def _status(status: str, description: str | None, style: Style) -> str:
    text = status if not description else f"{status} ({description})"
    return style.paint(text, "red") if status == "ERROR" else style.paint(text, "green" if status == "OK" else "dim")


def _log_text(line: LogLine, style: Style) -> str:
    level_colour = {"WARNING": ("yellow",), "ERROR": ("red",), "CRITICAL": ("red", "bold")}.get(line.level, ())
    if line.invocation_id is None:
        attributed = style.paint("no invocation id", "red")
    else:
        attributed = style.paint(f"invocation {line.invocation_id[:8]}", "dim")
    # The logger's name, unless the message names its speaker already (funcscope's inside the Functions host).
    logger = "" if line.logger in ("root", "") or line.message.startswith(f"{line.logger}: ") else f"{line.logger}: "
    text = (
        f"{style.paint(f'{line.level:<7}', *level_colour)} {style.paint(line.thread, 'cyan')}  {attributed}  "
        f"{logger}{line.message}"
    )
    if line.exception:
        text += style.paint(f"  [{line.exception}]", "red")
    return text


class _Node:
    """A line of the tree, its detail lines, and its children (sorted by time)."""

    def __init__(self, text: str, at: float, details: Iterable[str] = ()) -> None:
        self.text = text
        self.at = at
        self.details = [d for d in details if d]
        self.children: list[_Node] = []

    def lines(self, style: Style, prefix: str = "", last: bool = True, root: bool = False) -> list[str]:
        middle, end, through, blank = style.branches
        out = [self.text if root else prefix + (end if last else middle) + self.text]
        inner = prefix if root else prefix + (blank if last else through)
        children = sorted(self.children, key=lambda n: n.at)
        for detail in self.details:
            out.append(inner + (through if children else blank) + style.paint(detail, "dim"))
        for index, child in enumerate(children):
            out.extend(child.lines(style, inner, index == len(children) - 1))
        return out


def _span_node(span: SpanRecord, style: Style, label: str = "") -> _Node:
    head = (
        f"{style.paint(span.name, 'bold')}  {span.kind}  {_status(span.status, span.status_description, style)}  "
        f"{_ms(span.duration_ms)}{label}"
    )
    # A link (to a message's producer) is given when the span starts: a detail line under its attributes.
    links = [
        f"link {style.dot} trace {link.trace_id} {style.dot} span {link.span_id}  {_attributes(link.attributes, style)}"
        for link in span.links
    ]
    node = _Node(head, span.start_ns / 1e9, [_attributes(span.attributes, style), *links])
    for event in span.events:
        if event.name == "exception":
            what = f"{event.attributes.get('exception.type', '')}: {event.attributes.get('exception.message', '')}"
            node.children.append(_Node(style.paint(f"exception {what}", "red"), event.time_ns / 1e9))
        else:
            detail = _attributes(event.attributes, style)
            node.children.append(_Node(f"event {event.name}" + (f"  {detail}" if detail else ""), event.time_ns / 1e9))
    return node


def _tree(invocation: InvocationReport, style: Style) -> _Node:
    dot = style.dot
    host = _Node(
        f"{style.paint('host', 'blue', 'bold')}  {invocation.request}  "
        + style.paint(
            f"trace {invocation.trace_id} {dot} span {invocation.host_span_id} {dot} "
            f"invocation {invocation.invocation_id}",
            "dim",
        ),
        0.0,
    )
    nodes: dict[str, _Node] = {}
    for span in invocation.spans:
        nodes[span.span_id] = _span_node(span, style)
    for span in invocation.spans:
        parent = nodes.get(span.parent_id or "")
        (parent if parent is not None else host).children.append(nodes[span.span_id])
    for span in invocation.outside_trace:
        host.children.append(_span_node(span, style, style.paint("  (not in the host's trace)", "yellow")))
    own = invocation.span
    fallback = nodes.get(own.span_id) if own is not None else None
    for line in invocation.logs:
        owner = nodes.get(line.span_id or "")
        if owner is None:
            owner = fallback if fallback is not None and line.invocation_id == invocation.invocation_id else host
        owner.children.append(_Node(_log_text(line, style), line.created))
    return host


def _outcome(invocation: InvocationReport, style: Style) -> str:
    return style.paint(invocation.outcome, "red" if invocation.failed else "green")


def render_invocation(invocation: InvocationReport, style: Style) -> list[str]:
    """The title line and the tree of one invocation."""
    kind = "async" if invocation.is_async else "sync"
    title = (
        f"{style.paint(invocation.function, 'bold')}  {invocation.trigger} {style.dot} {kind} {style.dot} "
        f"pid {invocation.pid}  ->  {_outcome(invocation, style)}  {_ms(invocation.duration_ms)}"
    )
    lines = [title, *_tree(invocation, style).lines(style, "  ", root=False)]
    for name, value in invocation.outputs.items():
        lines.append(style.paint(f"  output {name} = {value}", "dim"))
    return lines


def _metrics_line(points: Iterable[MetricPoint]) -> str:
    totals: dict[str, tuple[float, int | None]] = {}
    for point in points:
        if point.name == "faas.active_invocations":
            continue
        value, count = totals.get(point.name, (0.0, None))
        totals[point.name] = (
            value + point.value,
            None if point.count is None else (count or 0) + point.count,
        )
    parts = []
    for name, (value, count) in sorted(totals.items()):
        parts.append(f"{name} {count} recorded" if count is not None else f"{name} {value:g}")
    return ", ".join(parts)


def render_summary(report: RunReport, style: Style) -> list[str]:
    """The table of invocations, what was not invoked and why, and the run's totals."""
    lines = [style.paint("Summary", "bold")]
    header = f"  {'function':<22} {'trigger':<18} {'outcome':<34} {'time':>9}  spans  logs  no invocation id"
    lines.append(style.paint(header, "dim"))
    for inv in report.invocations:
        outcome = inv.outcome if len(inv.outcome) <= 34 else inv.outcome[:33] + style.ellipsis
        unattributed = len(inv.unattributed)
        lines.append(
            f"  {inv.function:<22} {inv.trigger:<18} "
            f"{style.paint(f'{outcome:<34}', 'red' if inv.failed else 'green')} {_ms(inv.duration_ms):>9}  "
            f"{len(inv.spans):>5}  {len(inv.logs):>4}  "
            + (style.paint(f"{unattributed:>16}", "red") if unattributed else f"{unattributed:>16}")
        )
    for skipped in report.not_invoked:
        lines.append(
            f"  {skipped.function:<22} {skipped.trigger:<18} "
            + style.paint(f"not invoked: {skipped.reason}", "red" if skipped.failed else "yellow")
        )
    failed = report.failed
    total = len(report.invocations)
    counts = [count(total, "invocation"), f"{failed} failed"]
    if report.not_invoked:
        counts.append(f"{count(len(report.not_invoked), 'function')} not invoked")
    lines.append("  " + style.paint(", ".join(counts), "red" if failed else "green"))
    spans = sum(len(i.spans) for i in report.invocations)
    in_trace = sum(1 for i in report.invocations if i.span is not None)
    logs = sum(len(i.logs) for i in report.invocations) + len(report.unattributed_logs)
    unattributed = sum(len(i.unattributed) for i in report.invocations) + len(report.unattributed_logs)
    lines.append(
        f"  {in_trace} of {count(total, 'invocation')} with a funcscope span in the host's trace; "
        f"{count(spans, 'span')} in all; {count(logs, 'log record')}, {unattributed} of them with no invocation id"
    )
    outside = sum(len(i.outside_trace) for i in report.invocations) + len(report.unmatched_spans)
    if outside:
        lines.append(style.paint(f"  {count(outside, 'span')} not in any host's trace", "yellow"))
    all_metrics = [p for i in report.invocations for p in i.metrics] + report.metrics
    if all_metrics:
        lines.append(f"  metrics: {_metrics_line(all_metrics)}")
    if report.export is None:
        lines.append(style.paint("  export: none (--export console|otlp|azure-monitor sends it on)", "dim"))
    else:
        text = f"  export: {count(spans, 'span')} and funcscope's metrics handed to {report.export}"
        if report.exported is False:
            text += "; they did not all leave within the flush timeout"
        if report.export_problems:
            text += f"; the exporter reported {count(len(report.export_problems), 'problem')} (above)"
        lines.append(style.paint(text, "green" if report.export_ok else "red"))
    return lines


def render_report(report: RunReport, style: Style) -> list[str]:
    """The whole run: the set-up, each invocation's tree, records that belong to no invocation, the summary."""
    hooks = "on" if report.hooks else "off"
    lines = [
        style.paint(f"funcscope run {report.app}", "bold"),
        style.paint(
            f"  mode {report.mode} {style.dot} extension hooks {hooks} ({report.hooks_reason}) {style.dot} "
            f"Python {report.python}",
            "dim",
        ),
    ]
    if report.settings_file:
        applied = ", ".join(report.settings_applied) or "nothing"
        lines.append(style.paint(f"  {report.settings_file}: set {applied}", "dim"))
        if report.settings_overridden:
            lines.append(
                style.paint(
                    f"  the shell's values win over {report.settings_file} for: "
                    + ", ".join(report.settings_overridden),
                    "yellow",
                )
            )
    for note in report.notes:
        lines.append(style.paint(f"  note: {note}", "yellow"))
    if report.startup_logs:
        lines.append("")
        lines.append(style.paint("while the app loaded", "bold"))
        lines.extend("  " + _log_text(line, style) for line in report.startup_logs)
    for invocation in report.invocations:
        lines.append("")
        lines.extend(render_invocation(invocation, style))
    if report.unattributed_logs:
        lines.append("")
        lines.append(style.paint("records with no invocation id, logged while several invocations ran", "bold"))
        lines.extend("  " + _log_text(line, style) for line in report.unattributed_logs)
    if report.background_logs:
        lines.append("")
        lines.append(style.paint("logged outside any invocation (exporters, background threads)", "bold"))
        lines.extend("  " + _log_text(line, style) for line in report.background_logs)
    if report.unmatched_spans:
        lines.append("")
        lines.append(style.paint("spans in no invocation's trace", "bold"))
        for span in report.unmatched_spans:
            lines.extend(_span_node(span, style).lines(style, "  "))
    lines.append("")
    lines.extend(render_summary(report, style))
    return lines
