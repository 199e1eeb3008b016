"""`funcscope run [APP_DIR] [FUNCTION...]`: invoke a function app's functions locally and print their telemetry.

The app is loaded as Core Tools loads it (`local.settings.json` into the environment, under what the shell set),
every function (or those named) is invoked through the worker emulator with a default payload for its trigger or
the one given, and each invocation is printed as a tree: the host's span, funcscope's invocation span, every
child span from the threads and tasks it started, and each log record under the span it was logged in, with the
invocation id the host files it under. Then a summary. The exit status is 1 when an invocation failed, 2 when
the app or the command line could not be used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..emulator import Call, EmulatorError
from ..emulator.extension_manager import ENABLE_EXTENSIONS_SETTING
from ..emulator.worker import PROCESS_COUNT_SETTING
from .app import LocalApp, hooks_by_default
from .app_settings import LocalSettings, read_local_settings
from .payloads import PayloadError, Payloads
from .report import LogLine, NotInvoked, RunReport, request_summary
from .tree import Style, render_report

__all__ = ["add_parser", "run_app", "run_command"]

MODES = ("sync", "async", "processes")
EXPORTS = ("console", "otlp", "azure-monitor")
_DEFAULT_PROCESSES = 2


class UsageError(Exception):
    """The command line or the app cannot be used; the message says why (exit status 2)."""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="invoke an app's functions locally and print each invocation's spans and logs as a tree",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("app", nargs="?", default=".", metavar="APP_DIR", help="the function app folder (default: .)")
    parser.add_argument("functions", nargs="*", metavar="FUNCTION", help="functions to invoke (default: all)")
    parser.add_argument(
        "--payload",
        action="append",
        default=[],
        metavar="[NAME=]JSON|@FILE",
        help="what to send: JSON or @file, for a function or trigger NAME (e.g. http=...) or, without NAME, for "
        "every function; repeatable",
    )
    parser.add_argument(
        "--export", choices=EXPORTS, help="also send the telemetry on, as funcscope would with this exporter"
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="sync",
        help="sync: one invocation at a time; async: all at once, overlapping on the worker's event loop and "
        f"thread pool; processes: one at a time over {PROCESS_COUNT_SETTING} worker processes "
        f"({_DEFAULT_PROCESSES} if it is not set higher)",
    )
    parser.add_argument(
        "--hooks",
        choices=("on", "off"),
        help="whether the worker runs extension hooks (default: as the settings say; never on Python 3.13+)",
    )
    parser.add_argument("--json", action="store_true", help="print the run as JSON instead of the tree")
    parser.set_defaults(run=run_command)


def _hooks(choice: str | None, local: LocalSettings) -> tuple[bool, str]:
    """Whether hooks run, and why, in words."""
    if choice is not None:
        return choice == "on", f"--hooks {choice}"
    if sys.version_info >= (3, 13):
        return False, "the Python 3.13+ worker runs none"
    effective = local.effective()
    value = effective.get(ENABLE_EXTENSIONS_SETTING)
    if value is None:
        return False, f"{ENABLE_EXTENSIONS_SETTING} is not set"
    where = "the environment" if ENABLE_EXTENSIONS_SETTING in os.environ else local.path.name
    return hooks_by_default(effective), f"{ENABLE_EXTENSIONS_SETTING}={value} in {where}"


def _process_count(effective: dict[str, str]) -> int:
    try:
        count = int(effective.get(PROCESS_COUNT_SETTING, "").strip())
    except ValueError:
        count = 0
    return count if count > 1 else _DEFAULT_PROCESSES


def run_app(
    app_dir: str | os.PathLike[str],
    functions: Sequence[str] = (),
    *,
    payloads: Payloads | None = None,
    mode: str = "sync",
    hooks: str | None = None,
    export: str | None = None,
) -> RunReport:
    """Run the app as `funcscope run` does and return what happened (raises UsageError for what cannot run)."""
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    payloads = payloads or Payloads()
    path = Path(app_dir)
    local = read_local_settings(path)
    effective = local.effective()
    hooks_on, hooks_reason = _hooks(hooks, local)
    if export is not None:
        _check_export(export)
    report = RunReport(app=str(path), mode=mode, hooks=hooks_on, hooks_reason=hooks_reason, export=export)
    if local.exists:
        report.settings_file = local.path.name
        report.settings_applied = sorted(local.to_apply())
        report.settings_overridden = local.overridden()
    report.notes.extend(local.problems)
    try:
        app = LocalApp(
            path,
            hooks=hooks_on,
            process_count=_process_count(effective) if mode == "processes" else 1,
            export=export,
        )
    except EmulatorError as exc:
        raise UsageError(str(exc)) from None
    try:
        report.notes.extend(app.notes)
        report.startup_logs = [LogLine.from_entry(e) for e in app.startup_logs]
        _invoke(app, report, functions, payloads, mode)
        report.metrics = app.collect_metrics()
        report.unmatched_spans = list(app.unmatched_spans)
        report.notes.extend(_funcscope_notes(app, report))
        if export is not None:
            report.exported = app.flush()
        report.background_logs = [LogLine.from_entry(e) for e in app.logs_outside_invocations()]
        return report
    finally:
        app.close()


def _check_export(export: str) -> None:
    """Set the exporter up once before the run, so a missing package or a bad setting stops it at once."""
    from .capture import exporter_names

    if export not in exporter_names(export):
        raise UsageError(f"--export {export}: the exporter could not be set up (the message above says why)")


def _invoke(app: LocalApp, report: RunReport, names: Sequence[str], payloads: Payloads, mode: str) -> None:
    functions = app.functions
    unknown = [n for n in names if n not in functions]
    if unknown:
        raise UsageError(f"no function called {', '.join(unknown)}; this app has: {', '.join(sorted(functions))}")
    try:
        payloads.resolve(functions)
    except PayloadError as exc:
        raise UsageError(str(exc)) from None
    calls: list[Call] = []
    requests: list[str] = []
    for name in names or list(functions):
        info = functions[name]
        given, _ = payloads.given_for(info)
        try:
            payload = payloads.for_function(info, app.route_prefix)
            app.worker.check(Call(name, payload))  # a payload the emulator cannot read fails here, alone
        except (PayloadError, EmulatorError) as exc:
            report.not_invoked.append(NotInvoked(name, info.trigger_type, str(exc), failed=given or bool(names)))
            continue
        calls.append(Call(name, payload))
        requests.append(request_summary(info.trigger_type, payload))
    if mode == "async":
        report.add_invocations(app, app.invoke_many(calls), requests)
        return
    for call, request in zip(calls, requests, strict=True):
        report.add_invocations(app, [app.invoke(call.function_name, call.payload)], [request])
    app.settle()


def _registered_extensions() -> list[str]:
    """The worker extensions registered in this process (run in each worker process)."""
    from azure.functions import ExtensionMeta

    return [name for names in json.loads(ExtensionMeta.get_registered_extensions_json()).values() for name in names]


def _funcscope_notes(app: LocalApp, report: RunReport) -> list[str]:
    """Why invocations have no funcscope span, when that can be told."""
    if not report.invocations or all(i.span is not None for i in report.invocations):
        return []
    from ..shared.settings import Settings

    settings = Settings.from_env(app.settings)
    if not settings.enabled:
        return ["funcscope is disabled (FUNCSCOPE_ENABLED), so no invocation has a funcscope span"]
    if not settings.tracing:
        return ["funcscope's tracing is off (FUNCSCOPE_TRACING), so no invocation has a funcscope span"]
    registered = app.worker.run_in_each_process(_registered_extensions)[0]
    untraced = ", ".join(i.function for i in report.invocations if i.span is None)
    if app.hooks and "FuncScopeExtension" not in registered:
        return [
            f"the app never configures funcscope, so {untraced} has no funcscope span: add `import funcscope` and "
            "`funcscope.configure()` to function_app.py (v2) or a module every function imports (v1)"
        ]
    if not app.hooks:
        return [
            f"the worker runs no extension hooks here: funcscope wraps each function as the worker loads it, once "
            f"funcscope.configure() has run; not traced: {untraced} (`funcscope doctor` says why)"
        ]
    return []


def run_command(args: argparse.Namespace) -> int:
    """The `run` subcommand."""
    os.environ.setdefault("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
    os.environ.setdefault("APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED", "true")
    app_dir, functions = args.app, list(args.functions)
    if not Path(app_dir).is_dir() and Path(".").joinpath("host.json").is_file():
        app_dir, functions = ".", [app_dir, *functions]  # `funcscope run hello` inside the app folder
    try:
        if args.json and args.export == "console":
            raise UsageError("--export console writes spans to standard output, which --json needs for itself")
        report = run_app(
            app_dir,
            functions,
            payloads=Payloads.parse(args.payload),
            mode=args.mode,
            hooks=args.hooks,
            export=args.export,
        )
    except (UsageError, PayloadError) as exc:
        print(f"funcscope run: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    else:
        style = Style.for_stream(sys.stdout)
        print("\n".join(render_report(report, style)))
    return report.exit_status
