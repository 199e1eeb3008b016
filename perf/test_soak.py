"""Soak and fork runs (perf/soak.py), each in a fresh process: 100,000 invocations, sync and async, with and
without funcscope; 500 forks under load. The numbers are printed in the summary and kept in pytest-benchmark's
extra info; nothing is asserted about them here (see the README for what they were)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).with_name("soak.py")
REPO = SOAK.parents[1]


def _run(*args: str, timeout: float) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(SOAK), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("config", ["none", "funcscope-full"])
def test_soak(benchmark, perf_results, config, mode):
    benchmark.group = "soak"
    rows = benchmark.pedantic(
        _run, args=("soak", "--config", config, "--mode", mode), kwargs={"timeout": 1700}, rounds=1, iterations=1
    )
    benchmark.extra_info["checkpoints"] = rows
    first, last = rows[0], rows[-1]
    perf_results[("soak", f"{mode} rss at 100k", config)] = {"value": last["rss_mb"], "unit": "MB"}
    perf_results[("soak", f"{mode} rss growth 10k->100k", config)] = {
        "value": last["rss_mb"] - first["rss_mb"],
        "unit": "MB",
    }
    for row in rows:
        print(json.dumps(row))


@pytest.mark.timeout(1800)
def test_forks_under_load(benchmark):
    benchmark.group = "forks"
    (outcome,) = benchmark.pedantic(
        _run, args=("forks", "--forks", "500"), kwargs={"timeout": 1700}, rounds=1, iterations=1
    )
    benchmark.extra_info.update(outcome)
    print(json.dumps(outcome))
