"""Load a function app in a child process and report what `funcscope doctor` needs to know about it.

`python -m funcscope.local.probe APP_DIR` loads the app with the worker emulator (so its imports run as in the
worker, with the environment the doctor hands it) and prints one line, `MARKER` followed by JSON: the functions
(name, trigger, whether a funcscope wrapper already wraps them), the worker extensions registered, funcscope's
own messages while loading, the tracer provider funcscope would emit through and its sampler's finding, the
functions funcscope would not trace on the worker these settings give (`runtime.tracing_path`), or the error
that kept the app from loading. It then leaves with `os._exit`, so nothing the app started (exporters, threads, exit
handlers) runs on: a check must never send telemetry anywhere.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MARKER", "AppProbe", "probe_app"]

MARKER = "funcscope-probe:"
_TIMEOUT_S = 120.0


@dataclass
class AppProbe:
    """What loading the app showed (`error` set when it did not load, or the probe itself failed)."""

    functions: list[dict[str, Any]] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    tracer_provider: dict[str, Any] = field(default_factory=dict)
    #: (problem, fix) when funcscope would not trace some functions on the worker the settings give.
    untraced: tuple[str, str] | None = None
    error: str | None = None

    @property
    def loaded(self) -> bool:
        return self.error is None


def probe_app(app_dir: Path, environ: Mapping[str, str], timeout_s: float = _TIMEOUT_S) -> AppProbe:
    """Run the probe in a fresh interpreter with `environ` as its whole environment."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "funcscope.local.probe", str(app_dir)],
            capture_output=True,
            text=True,
            env=dict(environ),
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return AppProbe(error=f"the app did not finish loading within {timeout_s:.0f} s (is an import waiting?)")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            if data.get("untraced") is not None:
                data["untraced"] = tuple(data["untraced"])
            return AppProbe(**data)
    detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return AppProbe(error=f"loading the app stopped the interpreter: {detail}")


def _sampler(provider: Any) -> dict[str, Any]:
    from opentelemetry.sdk.trace import TracerProvider

    from ..telemetry import setup
    from ..telemetry.sampling import sampler_finding

    if not isinstance(provider, TracerProvider):
        return {"type": type(provider).__name__, "sdk": False}
    return {
        "type": type(provider).__name__,
        "sdk": True,
        "by_funcscope": setup._configured is not None and provider is setup._configured.tracer_provider,
        "sampler": type(provider.sampler).__name__,
        "sampler_finding": sampler_finding(provider),
    }


def _probe(app_dir: str) -> AppProbe:
    from azure.functions import ExtensionMeta

    from ..emulator import EmulatorError, Worker
    from ..runtime.tracing_path import tracing_path, untraced_functions
    from ..runtime.wrapper import is_traced

    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    logging.getLogger("funcscope").addHandler(_Collect())
    try:
        worker = Worker(app_dir, process_count=1, thread_count=1)
    except EmulatorError as exc:
        return AppProbe(messages=messages, error=str(exc))
    with worker:
        assert worker._local is not None  # one process
        functions = [
            {"name": name, "trigger": fn.info.trigger_type, "decorated": is_traced(fn.func)}
            for name, fn in worker._local.functions.items()
        ]
        registered = json.loads(ExtensionMeta.get_registered_extensions_json())
        extensions = [name for names in registered.values() for name in names]
        provider: dict[str, Any] = {}
        if "FuncScopeExtension" in extensions or any(f["decorated"] for f in functions):
            from opentelemetry import trace

            from ..runtime.runner import get_runner

            runner = get_runner()
            runner.telemetry  # noqa: B018 - sets the providers up as the first invocation would
            provider = _sampler(runner.settings.tracer_provider or trace.get_tracer_provider())
    path = tracing_path((sys.version_info.major, sys.version_info.minor), os.environ)
    missed = untraced_functions(app_dir, path)  # loads the app afresh, as that worker would
    untraced = (missed.problem, missed.fix) if missed is not None else None
    return AppProbe(functions, extensions, messages, provider, untraced)


def main(argv: list[str]) -> None:
    try:
        result = _probe(argv[0])
    except BaseException as exc:  # the app's imports may raise anything, SystemExit included
        result = AppProbe(error=f"{type(exc).__name__}: {exc}")
    sys.stdout.write("\n" + MARKER + json.dumps(vars(result), default=str) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
