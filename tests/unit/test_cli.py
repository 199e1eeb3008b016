"""`funcscope doctor`, run as a user runs it (a fresh process each)."""

from __future__ import annotations

import json

import pytest

from ..local.clitools import DEMO_APP, ROOT
from ..local.clitools import funcscope as run_funcscope

EXAMPLES = ROOT / "examples"
SAMPLE_V2 = DEMO_APP.parent / "v2_app"


@pytest.mark.parametrize("args", [[str(EXAMPLES / "v1_app")], ["--app", str(EXAMPLES / "v2_app")], [str(DEMO_APP)]])
def test_the_bundled_apps_pass_in_a_clean_environment(args):
    done = run_funcscope("doctor", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no problems found" in done.stdout and "problem " not in done.stdout


def test_an_app_without_funcscope_fails_with_each_fix():
    done = run_funcscope("doctor", str(SAMPLE_V2), "--json")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["ok"] is False
    by_name = {c["name"]: c["findings"] for c in result["checks"]}
    assert [f["message"] for f in by_name["requirements"]] == [
        "requirements.txt does not list funcscope, so the deployed app cannot import it"
    ]
    assert by_name["configured"][0]["fix"].startswith("add `import funcscope` and `funcscope.configure()`")
    assert by_name["exporter"] == []  # nothing to export without funcscope: said once, by the check above
    assert all(f["fix"] for name in ("requirements", "configured") for f in by_name[name])


def test_funcscope_messages_while_loading_are_findings():
    done = run_funcscope("doctor", str(EXAMPLES / "v2_app"), env={"FUNCSCOPE_SAMPLE_RATIO": "lots"})
    assert done.returncode == 1
    assert "FUNCSCOPE_SAMPLE_RATIO='lots' is not a number from 0 to 1" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [(["/nonexistent"], "app folder not found: /nonexistent"), (["a", "--app", "b"], "give the app folder once")],
)
def test_bad_arguments(args, message):
    done = run_funcscope("doctor", *args)
    assert done.returncode == 2 and message in done.stderr


def test_version():
    import funcscope

    done = run_funcscope("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"funcscope {funcscope.__version__}"


def test_extensions_off_is_a_path_not_a_problem():
    done = run_funcscope("doctor", str(EXAMPLES / "v2_app"), env={"PYTHON_ENABLE_WORKER_EXTENSIONS": "0"})
    assert done.returncode == 0, done.stdout
    assert "funcscope wraps every function as the worker loads it" in done.stdout


def test_a_reader_that_stops_reading_ends_the_command_quietly():
    """`funcscope doctor --json | head`: the reader goes away before the output is written; no traceback."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "funcscope", "doctor", "--json", str(EXAMPLES / "v2_app")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    proc.stdout.close()  # before doctor has loaded the app and printed anything
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=180) == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
