"""The tracing path `funcscope doctor` reports for a Python version and app settings, and the functions it would
miss. The apps load in a fresh process, as doctor's do: the extension registry is process-wide."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from funcscope.runtime.tracing_path import TracingPath, tracing_path

APPS = Path(__file__).resolve().parents[1] / "apps"
PATHS = {
    "hooks": TracingPath((3, 11), "classic", "hooks"),
    "extensions-off": TracingPath((3, 11), "classic", "wrapping"),
    "3.13": TracingPath((3, 13), "3.13+", "wrapping"),
}


@pytest.mark.parametrize(
    "python, settings, expected",
    [
        ((3, 13), {}, ("3.13+", "wrapping")),
        ((3, 14), {"PYTHON_ENABLE_WORKER_EXTENSIONS": "1"}, ("3.13+", "wrapping")),
        ((3, 11), {"PYTHON_ENABLE_WORKER_EXTENSIONS": "1"}, ("classic", "hooks")),
        ((3, 12), {"PYTHON_ENABLE_WORKER_EXTENSIONS": " Yes "}, ("classic", "hooks")),  # the worker's own reading
        ((3, 10), {"PYTHON_ENABLE_WORKER_EXTENSIONS": "0"}, ("classic", "wrapping")),
        ((3, 10), {}, ("classic", "wrapping")),
    ],
)
def test_the_path_for_a_version_and_settings(python, settings, expected):
    path = tracing_path(python, settings)
    assert (path.worker, path.path) == expected
    assert f"Python {python[0]}.{python[1]}" in path.describe() and "funcscope" in path.describe()


SCRIPT = """
import json, sys
from funcscope.runtime.tracing_path import TracingPath, untraced_functions
out = []
for app, python, worker, path in json.loads(sys.argv[1]):
    finding = untraced_functions(app, TracingPath(tuple(python), worker, path))
    out.append(None if finding is None else [finding.problem, finding.fix])
print(json.dumps(out))
"""


def test_the_functions_each_path_would_miss():
    cases = [
        (app, name)
        for app in ("every_function_v2", "every_function_v1", "unconfigured_v2", "late_setup_v1")
        for name in PATHS
    ]
    args = [[str(APPS / app), *PATHS[name].python, PATHS[name].worker, PATHS[name].path] for app, name in cases]
    args = [[a[0], [a[1], a[2]], a[3], a[4]] for a in args]
    run = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(args)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    found = dict(zip(cases, json.loads(run.stdout.strip().splitlines()[-1]), strict=True))
    for name in PATHS:
        assert found["every_function_v2", name] is None and found["every_function_v1", name] is None
        # Never configured: only the decorated function is traced, whatever the worker.
        problem, fix = found["unconfigured_v2", name]
        assert problem == "funcscope would not trace plain on this worker." and "funcscope.configure()" in fix
    # Loaded before any import configured funcscope: the hooks still reach it, the wrapping does not.
    assert found["late_setup_v1", "hooks"] is None
    for name in ("extensions-off", "3.13"):
        problem, fix = found["late_setup_v1", name]
        assert problem == "funcscope would not trace A_Plain on this worker." and "every function's script" in fix
