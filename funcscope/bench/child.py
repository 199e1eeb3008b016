"""Benchmark child processes: one configuration each, so nothing one installs can touch another's numbers.

OpenTelemetry's global providers can be set once per process, extensions register on import, and funcscope patches
threads and the log record factory process-wide: a fresh process per configuration is the clean way to compare.
The parent talks to a child with one JSON object per line over its stdin/stdout (the child moves anything else
written to stdout, its own or its subprocesses', to stderr); the child's stderr goes to a file that is shown
when the child fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["BenchError", "Child", "child_env", "start_all"]

_READY_TIMEOUT_S = 180.0
# Settings that could send telemetry somewhere or change what is measured; children start without them.
_DROPPED_PREFIXES = (
    "FUNCSCOPE_",
    "OTEL_",
    "APPLICATIONINSIGHTS_",
    "PYTHON_ENABLE_WORKER_EXTENSIONS",
    "PYTHON_THREADPOOL_THREAD_COUNT",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
)


class BenchError(RuntimeError):
    """A benchmark child failed; the message carries its error and the end of its stderr."""


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A benchmark child's environment: this one minus telemetry settings, statsbeat and the Azure exporters'
    control plane off, funcscope importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env["APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"] = "true"
    env["APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED"] = "true"
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


class Child:
    """A started benchmark child process of one `kind` ("overhead" or "throughput") and configuration."""

    def __init__(self, kind: str, config_name: str, args: Sequence[str] = ()) -> None:
        self.name = f"{kind}:{config_name}"
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "funcscope.bench.child", kind, config_name, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
            env=child_env(),
        )
        self._ready = False

    def wait_ready(self) -> None:
        if not self._ready:
            self._read()
            self._ready = True

    def send(self, request: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._fail("the child exited")

    def receive(self) -> Any:
        return self._read()

    def request(self, request: dict[str, Any]) -> Any:
        self.send(request)
        return self.receive()

    def _read(self) -> Any:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=30)
            self._fail(f"the child exited (code {self._proc.returncode})")
        reply = json.loads(line)
        if "error" in reply:
            self._fail(reply["error"])
        return reply["ok"]

    def stderr_tail(self, lines: int = 40) -> str:
        self._stderr.seek(0)
        return "".join(self._stderr.readlines()[-lines:])

    def _fail(self, what: str) -> None:
        raise BenchError(f"benchmark child {self.name}: {what}\n--- its stderr ---\n{self.stderr_tail()}")

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self.send({"op": "quit"})
                self._proc.wait(timeout=60)
            except (BenchError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()


def start_all(children: Iterable[Child]) -> None:
    """Wait until every (already started) child is set up; they start in parallel."""
    for child in children:
        child.wait_ready()


# -- the child side -------------------------------------------------------------------------------------------------


def _handler(kind: str, config_name: str, args: list[str]) -> Any:
    if kind == "overhead":
        from .overhead import ChildHandler

        return ChildHandler(config_name)
    if kind == "throughput":
        from .throughput import ChildHandler as ThroughputHandler

        return ThroughputHandler(config_name, *args)
    raise ValueError(f"unknown benchmark child kind {kind!r}")


def main(argv: list[str]) -> int:
    # The protocol owns the real stdout; everything else printed (here or by subprocesses) goes to stderr.
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(**message: Any) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    kind, config_name, *args = argv
    try:
        handler = _handler(kind, config_name, args)
    except BaseException:
        reply(error=traceback.format_exc())
        return 1
    reply(ok={"pid": os.getpid()})
    try:
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("op") == "quit":
                break
            try:
                reply(ok=handler.handle(request))
            except Exception:
                reply(error=traceback.format_exc())
    finally:
        handler.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
