"""`funcscope demo` and `funcscope doctor`, run as a user runs them (a fresh process each)."""

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


def test_demo_shows_attribution_and_spans():
    run = funcscope("demo")
    assert run.returncode == 0, run.stderr
    without, with_funcscope = run.stdout.split("with funcscope.configure()")
    report_without = next(line for line in without.splitlines() if line.strip().startswith("report"))
    report_with = next(line for line in with_funcscope.splitlines() if line.strip().startswith("report "))
    assert "lost 4" in report_without and "attributed 5, lost 0" in report_with
    table = with_funcscope.split("attributes", 1)[1]
    checkout = next(line for line in table.splitlines() if line.strip().startswith("checkout"))
    assert checkout.split()[1:5] == ["INTERNAL", "ERROR", "True", "True"]
    assert "code=REDACTED" in table and "SECRET-KEY" not in run.stdout
    for name in ("process_order", "handle_payment", "ingest_telemetry", "on_upload"):
        row = next(line for line in table.splitlines() if line.strip().startswith(name))
        assert row.split()[1:5] == ["INTERNAL", "UNSET", "True", "True"], row
    assert "(no span)" not in table


def test_demo_bad_app_is_one_clear_error(tmp_path):
    run = funcscope("demo", "--app", str(tmp_path / "missing"))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "missing" in run.stderr


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
