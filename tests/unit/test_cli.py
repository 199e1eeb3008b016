"""`funcscope doctor`, run as a user runs it (a fresh process each)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_V2 = ROOT / "funcscope" / "emulator" / "sample_apps" / "v2_app"
TRACED_V2 = ROOT / "tests" / "integration" / "apps" / "traced_v2"


def funcscope(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FUNCSCOPE_", "PYTHON_ENABLE_WORKER"))}
    base.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
    base.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "funcscope.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        cwd=ROOT,
    )


def test_doctor_reports_problems():
    run = funcscope("doctor")
    assert run.returncode == 1
    assert "problem  No exporter is configured" in run.stdout
    if sys.version_info < (3, 13):  # extensions off is a path, not a problem
        assert "ok       Python 3.1" in run.stdout and "off: the classic worker runs no extension hooks" in run.stdout


def test_doctor_happy_with_a_configured_app():
    env = {
        "PYTHON_ENABLE_WORKER_EXTENSIONS": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
    }
    run = funcscope("doctor", "--app", str(TRACED_V2), env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ok       FuncScopeExtension is registered by the app." in run.stdout
    assert "ok       every function of the app is traced on this worker." in run.stdout


def test_doctor_spots_an_app_without_funcscope():
    run = funcscope("doctor", "--app", str(SAMPLE_V2), env={"PYTHON_ENABLE_WORKER_EXTENSIONS": "1"})
    assert "problem  The app does not register FuncScopeExtension" in run.stdout


def test_doctor_bad_setting_warns():
    run = funcscope("doctor", env={"FUNCSCOPE_SAMPLE_RATIO": "lots"})
    assert "FUNCSCOPE_SAMPLE_RATIO='lots'" in run.stderr
