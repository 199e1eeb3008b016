"""`funcscope doctor [APP_DIR]`: check a function app's set-up for funcscope, each finding with its fix.

Reads `requirements.txt`, `local.settings.json` (under the shell's environment, as Core Tools does), `host.json`
and the function folders, and loads the app in a child process to see what it configures. Exit status 0 when
no check finds a problem, 1 otherwise, 2 when the folder cannot be checked at all. The checks are in
`funcscope.local.checks`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checks import CHECKS, AppFacts, Check, Finding
from .tree import Style

__all__ = ["Result", "add_parser", "diagnose", "doctor_command"]


class Result:
    """The findings of every check, by check, in order."""

    def __init__(self, app_dir: Path, results: list[tuple[str, str, list[Finding]]]) -> None:
        self.app_dir = app_dir
        self.results = results

    @property
    def problems(self) -> list[Finding]:
        return [f for _, _, findings in self.results for f in findings if f.severity == "problem"]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "app": str(self.app_dir),
            "ok": self.ok,
            "checks": [
                {"name": name, "title": title, "findings": [vars(f) for f in findings]}
                for name, title, findings in self.results
            ],
        }

    def lines(self, style: Style) -> list[str]:
        out = [style.paint(f"funcscope doctor {self.app_dir}", "bold")]
        for _, title, findings in self.results:
            if not findings:
                out.append(f"  {style.paint('ok', 'green')}       {title}")
            for finding in findings:
                colour = "red" if finding.severity == "problem" else "yellow"
                label = style.paint(f"{finding.severity:<9}", colour)
                out.append(f"  {label}{finding.message}")
                if finding.fix:
                    out.append(style.paint(f"           fix: {finding.fix}", "dim"))
        count = len(self.problems)
        out.append("")
        out.append(
            style.paint("no problems found", "green")
            if count == 0
            else style.paint(f"{count} problem{'s' if count != 1 else ''} found", "red")
        )
        return out


def diagnose(app_dir: str | Path, checks: Sequence[tuple[str, str, Check]] = tuple(CHECKS)) -> Result:
    """Run `checks` on the app; a check that fails itself is reported as a problem of its own, not raised."""
    facts = AppFacts(Path(app_dir))
    results = []
    for name, title, check in checks:
        try:
            findings = list(check(facts))
        except Exception as exc:
            findings = [Finding(f"the check itself failed: {type(exc).__name__}: {exc}", "report this to funcscope")]
        results.append((name, title, findings))
    return Result(Path(app_dir), results)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "doctor",
        help="check a function app's set-up for funcscope",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("app", nargs="?", metavar="APP_DIR", help="the function app folder (default: .)")
    parser.add_argument("--app", dest="app_option", metavar="APP_DIR", help="the same as APP_DIR")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.set_defaults(run=doctor_command)


def doctor_command(args: argparse.Namespace) -> int:
    """The `doctor` subcommand."""
    if args.app and args.app_option and Path(args.app) != Path(args.app_option):
        print("funcscope doctor: give the app folder once (APP_DIR or --app)", file=sys.stderr)
        return 2
    app_dir = Path(args.app or args.app_option or ".")
    if not app_dir.is_dir():
        print(f"funcscope doctor: app folder not found: {app_dir}", file=sys.stderr)
        return 2
    result = diagnose(app_dir)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print("\n".join(result.lines(Style.for_stream(sys.stdout))))
    return 0 if result.ok else 1
