"""`funcscope demo`: the bundled sample app run twice with `funcscope run`, once with funcscope disabled
(`FUNCSCOPE_ENABLED=false`, so the app's own `funcscope.configure()` does nothing) and once as the app configures
it; the second run's trees, then what differs between the two. Every number and sentence comes from the runs.

Each run is a fresh process, as a user runs it: nothing of one can reach the other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .report import InvocationReport, RunReport
from .tree import Style, count, render_report

__all__ = ["DEMO_APP", "DEMO_PAYLOADS", "add_parser", "compare", "demo_command"]

DEMO_APP = Path(__file__).resolve().parent.parent / "emulator" / "sample_apps" / "demo_app"
#: What the demo sends the sample app's functions that need more than their trigger's default.
DEMO_PAYLOADS = (
    'quote={"url": "http://localhost:7071/api/quote?code=my-function-key", "body": {"items": ["tea", "coffee"]}}',
)
_RUN_TIMEOUT_S = 300


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="run the sample app with funcscope disabled and enabled, and show what differs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--app", help="an app folder to run instead of the bundled sample app")
    parser.set_defaults(run=demo_command)


def _run(app: Path, payloads: Sequence[str], env: dict[str, str]) -> RunReport:
    command = [sys.executable, "-m", "funcscope", "run", "--json", str(app)]
    for payload in payloads:
        command += ["--payload", payload]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **env}, timeout=_RUN_TIMEOUT_S, check=False
    )
    if done.returncode not in (0, 1):  # 1: an invocation failed, which the sample app does on purpose
        raise RuntimeError(done.stderr.strip() or f"funcscope run exited with {done.returncode}")
    return RunReport.from_json(json.loads(done.stdout))


def _count(invocations: Sequence[InvocationReport]) -> dict[str, int]:
    return {
        "invocations": len(invocations),
        "in_trace": sum(1 for i in invocations if i.span is not None),
        "spans": sum(len(i.spans) for i in invocations),
        "outside": sum(len(i.outside_trace) for i in invocations),
        "logs": sum(len(i.logs) for i in invocations),
        "unattributed": sum(len(i.unattributed) for i in invocations),
        "failed": sum(1 for i in invocations if i.failed),
        "failed_error": sum(1 for i in invocations if i.failed and i.span is not None and i.span.status == "ERROR"),
        "redacted": sum(1 for i in invocations for s in i.spans if "REDACTED" in str(s.attributes.get("url.full"))),
    }


def compare(without: RunReport, with_funcscope: RunReport, style: Style) -> list[str]:
    """A table per function and the sentences its numbers support, nothing else."""
    lines = [style.paint("Without funcscope -> with funcscope", "bold")]
    header = (
        f"  {'function':<16} {'spans in the host trace':>24} {'spans outside it':>17} {'logs w/o invocation id':>23}"
    )
    lines.append(style.paint(header, "dim"))
    before = {i.function: i for i in without.invocations}
    for after in with_funcscope.invocations:
        old = before.get(after.function)
        if old is None:
            continue
        cells = [
            f"{len(old.spans)} -> {len(after.spans)}",
            f"{len(old.outside_trace)} -> {len(after.outside_trace)}",
            f"{len(old.unattributed)} of {len(old.logs)} -> {len(after.unattributed)} of {len(after.logs)}",
        ]
        lines.append(f"  {after.function:<16} {cells[0]:>24} {cells[1]:>17} {cells[2]:>23}")
    a, b = _count(without.invocations), _count(with_funcscope.invocations)
    lines.append("")
    if a["unattributed"] != b["unattributed"]:
        lines.append(
            f"Log records that reached the host with no invocation id: {a['unattributed']} of {a['logs']} without "
            f"funcscope, {b['unattributed']} of {b['logs']} with it."
        )
    if a["in_trace"] != b["in_trace"]:
        lines.append(
            f"Invocations with a span in the host's trace: {a['in_trace']} of {a['invocations']} without funcscope, "
            f"{b['in_trace']} of {b['invocations']} with it."
        )
    if a["outside"] != b["outside"]:
        lines.append(
            f"Spans the app's code made outside the host's trace: {a['outside']} without funcscope, "
            f"{b['outside']} with it."
        )
    if b["failed"]:
        lines.append(
            f"{count(b['failed'], 'invocation')} failed; {b['failed_error']} of them "
            f"{'has' if b['failed_error'] == 1 else 'have'} an ERROR span with funcscope."
        )
    if b["redacted"]:
        lines.append(f"{count(b['redacted'], 'span URL')} carried a secret, recorded as REDACTED.")
    if a == b:
        lines.append("Both runs recorded the same: does the app configure funcscope (`funcscope doctor` checks)?")
    return lines


def demo_command(args: argparse.Namespace) -> int:
    """The `demo` subcommand."""
    app = Path(args.app) if args.app else DEMO_APP
    if not app.is_dir():
        print(f"funcscope demo: app folder not found: {app}", file=sys.stderr)
        return 2
    payloads = DEMO_PAYLOADS if app.resolve() == DEMO_APP else ()
    try:
        without = _run(app, payloads, {"FUNCSCOPE_ENABLED": "false"})
        with_funcscope = _run(app, payloads, {"FUNCSCOPE_ENABLED": "true"})
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        print(f"funcscope demo: {exc}", file=sys.stderr)
        return 2
    style = Style.for_stream(sys.stdout)
    out = [
        style.paint(f"funcscope demo: {app.name}, run twice through the worker emulator", "bold"),
        "  first with FUNCSCOPE_ENABLED=false (the app's funcscope.configure() then does nothing), then as the app "
        "configures it. The second run:",
        "",
        *render_report(with_funcscope, style),
        "",
        *compare(without, with_funcscope, style),
    ]
    print("\n".join(out))
    return 0
