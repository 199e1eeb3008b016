"""`funcscope run | demo | bench | doctor`: see an app's telemetry locally, see funcscope work on a sample app,
measure what it costs, and check a function app's set-up."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _run_doctor(args: argparse.Namespace) -> int:
    problems: list[str] = []
    notes: list[str] = []

    def check(ok: bool, good: str, bad: str) -> None:
        (notes if ok else problems).append(good if ok else bad)

    from .runtime.tracing_path import tracing_path, untraced_functions

    path = tracing_path((sys.version_info.major, sys.version_info.minor), os.environ)
    notes.append(path.describe())
    try:
        sdk = importlib.metadata.version("azure-functions")
        import azure.functions as func

        check(
            hasattr(func, "ExtensionMeta"),
            f"azure-functions {sdk} supports worker extensions.",
            f"azure-functions {sdk} has no extension support; upgrade it.",
        )
    except importlib.metadata.PackageNotFoundError:
        problems.append("azure-functions is not installed.")
    exporters = []
    if os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        exporters.append(("azure-monitor", "azure.monitor.opentelemetry.exporter"))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        exporters.append(("otlp", "opentelemetry.exporter.otlp.proto.http.trace_exporter"))
    for name, module in exporters:
        try:
            importlib.import_module(module)
            notes.append(f"{name} export is configured and its exporter is installed.")
        except ImportError:
            problems.append(f"{name} export is configured but its exporter is missing: install 'funcscope[{name}]'.")
    if not exporters:
        problems.append(
            "No exporter is configured: set APPLICATIONINSIGHTS_CONNECTION_STRING or OTEL_EXPORTER_OTLP_ENDPOINT "
            "(unless the app configures OpenTelemetry providers itself)."
        )
    from .shared.settings import Settings

    settings = Settings.from_env()  # a bad FUNCSCOPE_* value logs its warning here
    notes.append(
        f"funcscope settings: enabled={settings.enabled} tracing={settings.tracing} metrics={settings.metrics} "
        f"propagation={settings.propagation} log_enrichment={settings.log_enrichment} "
        f"sample_ratio={settings.sample_ratio} exporter={settings.exporter}"
    )
    if args.app:
        from .emulator import EmulatorError, Worker

        try:
            with Worker(args.app, extensions_enabled=True, thread_count=1) as worker:
                import azure.functions as func

                registered = func.ExtensionMeta.get_registered_extensions_json()
                notes.append(f"app loads: {', '.join(sorted(worker.functions))}; extensions: {registered}")
                check(
                    "FuncScopeExtension" in registered,
                    "FuncScopeExtension is registered by the app.",
                    "The app does not register FuncScopeExtension: add `import funcscope; funcscope.configure()`.",
                )
            untraced = untraced_functions(args.app, path)
            if untraced is not None:
                problems.append(f"{untraced.problem} Fix: {untraced.fix}.")
            else:
                notes.append("every function of the app is traced on this worker.")
        except EmulatorError as exc:
            problems.append(f"the app does not load: {exc}")
    for line in notes:
        print(f"ok       {line}")
    for line in problems:
        print(f"problem  {line}")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="funcscope", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    from .bench.command import add_parser as add_bench_parser
    from .local.demo import add_parser as add_demo_parser
    from .local.run import add_parser as add_run_parser

    add_run_parser(commands)
    add_demo_parser(commands)
    add_bench_parser(commands)
    doctor = commands.add_parser("doctor", help="check this environment (and optionally an app) for funcscope")
    doctor.add_argument("--app", help="a function app folder to load and check")
    doctor.set_defaults(run=_run_doctor)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
