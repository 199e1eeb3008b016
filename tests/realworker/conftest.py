"""Real-worker tests: the classic worker 4.34 run by `driver.py` in its own venv, one worker start per app.

Where the worker is not available (no worker folder, no venv), these tests are skipped and the run ends with a
banner saying so; under CI (`CI=true`) they fail instead, because there they must run.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest

from funcscope.bench.realworker.client import Location, WorkerMissing, locate

APPS = Path(__file__).resolve().parent / "apps"
LIB = APPS / "lib"

# The emulator runs the same apps in this process: their helper modules come from the same folder.
if str(LIB) not in sys.path:
    sys.path.insert(0, str(LIB))

_missing: list[str] = []


@pytest.fixture(scope="session")
def location() -> Location:
    try:
        return locate()
    except WorkerMissing as exc:
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(f"the real-worker tests must run in CI, but {exc}", pytrace=False)
        if not _missing:
            _missing.append(str(exc))
        pytest.skip(f"real worker missing: {exc}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _missing:
        terminalreporter.write_sep("!", "THE REAL-WORKER TESTS DID NOT RUN", red=True, bold=True)
        terminalreporter.write_line(f"  {_missing[0]}", red=True)


def new_trace(sampled: bool = True) -> tuple[str, str, str]:
    """A fresh host trace: (trace id, the host's span id, its traceparent)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"
