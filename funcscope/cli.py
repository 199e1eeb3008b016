"""`funcscope run | demo | bench | doctor`: see an app's telemetry locally, see funcscope work on a sample app,
measure what it costs, and check a function app's set-up."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

SAMPLE_APPS = Path(__file__).resolve().parent / "emulator" / "sample_apps"

# What the demo sends each sample function, by name: (payload, how many times, description).
_DEMO_CALLS: dict[str, tuple[dict[str, Any], str]] = {
    "hello": ({"method": "GET", "url": "http://localhost:7071/api/hello?name=Ada&code=SECRET-KEY"}, "sync HTTP"),
    "hello_async": ({"method": "GET", "url": "http://localhost:7071/api/hello-async"}, "async HTTP"),
    "report": ({"method": "GET", "url": "http://localhost:7071/api/report"}, "sync HTTP, logs from 2 threads"),
    "checkout": ({"method": "POST", "url": "http://localhost:7071/api/checkout?fail=1"}, "sync HTTP that raises"),
    "process_order": ({"body": "order-42", "id": "msg-42"}, "storage queue"),
    "handle_payment": ({"body": "pay-7", "message_id": "sb-7"}, "async Service Bus"),
    "ingest_telemetry": ({"body": "reading"}, "Event Hubs"),
    "on_upload": ({"data": b"hello", "name": "uploads/a.txt"}, "blob"),
    "cleanup": ({}, "timer"),
}


def _short(value: str | None, width: int = 16) -> str:
    return "-" if not value else value[:width]


def _run_demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from .emulator import EmulatorError, Worker
    from .emulator.worker import new_trace_parent

    app_dir = Path(args.app) if args.app else SAMPLE_APPS / "v2_app"
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    def run(title: str) -> list[tuple[str, str, Any]]:
        print(f"\n== {title}")
        rows = []
        with Worker(app_dir, extensions_enabled=True, thread_count=args.threads) as worker:
            names = [n for n in _DEMO_CALLS if n in worker.functions] or sorted(worker.functions)
            for name in names:
                payload, what = _DEMO_CALLS.get(name, ({}, worker.functions[name].trigger_type))
                trace_parent = new_trace_parent()
                result = worker.invoke(name, payload, trace_parent=trace_parent)
                rows.append((name, trace_parent, result))
                user_logs = [e for e in result.logs if not e.is_system]
                outcome = "ok" if result.ok else f"raised {type(result.exception).__name__}"
                print(
                    f"  {name:<17} {what:<32} {outcome:<22} logs attributed {len(user_logs)}, "
                    f"lost {len([e for e in result.unattributed_logs if not e.is_system])}"
                )
        return rows

    try:
        run(f"{app_dir.name} without funcscope: logs from threads the function starts reach the host unattributed")
        import funcscope

        funcscope.configure(metrics=False, tracer_provider=provider)
        exporter.clear()
        rows = run(f"{app_dir.name} with funcscope.configure(): every log attributed, a span per invocation")
    except EmulatorError as exc:
        print(f"funcscope demo: {exc}", file=sys.stderr)
        return 2
    spans = {(s.attributes or {}).get("faas.invocation_id"): s for s in exporter.get_finished_spans()}
    header = f"{'function':<17} {'span kind':<9} {'status':<7} {'trace id = host':<16} {'parent = host span':<19}"
    print(f"\n  {header} attributes")
    for name, trace_parent, result in rows:
        span = spans.get(result.invocation_id)
        if span is None:
            print(f"  {name:<17} (no span)")
            continue
        _, host_trace, host_span, _ = trace_parent.split("-")
        same_trace = format(span.context.trace_id, "032x") == host_trace
        same_parent = span.parent is not None and format(span.parent.span_id, "016x") == host_span
        shown = {
            k: v for k, v in (span.attributes or {}).items() if k in ("faas.trigger", "url.full", "messaging.system")
        }
        print(
            f"  {name:<17} {span.kind.name:<9} {span.status.status_code.name:<7} {str(same_trace):<16} "
            f"{str(same_parent):<19} {shown}"
        )
    print("\nFunction keys in URLs are redacted; the failing invocation's span is ERROR with the exception recorded.")
    return 0


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
    demo = commands.add_parser(
        "demo", help="run a sample function app through the worker emulator, with and without funcscope"
    )
    demo.add_argument("--app", help="app folder to run instead of the packaged v2 sample app")
    demo.add_argument("--threads", type=int, default=4, help="sync thread pool size (PYTHON_THREADPOOL_THREAD_COUNT)")
    demo.set_defaults(run=_run_demo)
    from .bench.command import add_parser as add_bench_parser
    from .local.run import add_parser as add_run_parser

    add_run_parser(commands)
    add_bench_parser(commands)
    doctor = commands.add_parser("doctor", help="check this environment (and optionally an app) for funcscope")
    doctor.add_argument("--app", help="a function app folder to load and check")
    doctor.set_defaults(run=_run_doctor)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
