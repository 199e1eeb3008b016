"""Running the `funcscope` command as a user runs it: a fresh process, a clean environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEMO_APP = ROOT / "funcscope" / "emulator" / "sample_apps" / "demo_app"
_STRIPPED = ("FUNCSCOPE_", "PYTHON_ENABLE_WORKER", "APPLICATIONINSIGHTS_", "OTEL_", "NO_COLOR")


def funcscope(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED)}
    base["PYTHONPATH"] = str(ROOT)
    base["APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"] = "true"
    base["APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "funcscope", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**base, **(env or {})},
        cwd=cwd,
    )


def run_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    done = funcscope("run", "--json", *args, env=env)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)
