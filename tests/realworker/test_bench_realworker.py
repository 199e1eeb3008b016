"""The real-worker benchmark's machinery, at a tiny size: what it measures and how it reports, never how fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from funcscope.bench.realworker.bench import (
    RealCell,
    format_realworker,
    measure_realworker,
    realworker_targets,
)

CELLS = (
    RealCell("sequential sync", "trivial_sync", 1, 1, 3),
    RealCell("sequential async", "trivial_async", 1, 1, 3),
    RealCell("1 process, 1 ms CPU", "cpu_sync", 2, 1, 4),
    RealCell("2 processes, 1 ms CPU", "cpu_sync", 2, 2, 4),
)


def test_every_configuration_and_cell_is_measured_and_compared_with_none(location):
    rows = measure_realworker(("none", "funcscope-full"), CELLS, rounds=2, location=location)

    assert [(r["config"], r["cell"]) for r in rows] == [
        (config, cell.name) for cell in CELLS for config in ("none", "funcscope-full")
    ]
    by = {(r["config"], r["cell"]): r for r in rows}
    cells = {cell.name: cell for cell in CELLS}
    for row in rows:
        assert row["rounds"] == 2
        assert row["invocations"] == 2 * max(2 * row["in_flight"], cells[row["cell"]].invocations)
        assert 0 < row["p50_us"] <= row["p99_us"]
        assert row["invocations_per_s"] > 0
        # One process unless the cell spreads over two; the host's round robin reaches both.
        assert row["worker_processes"] == row["processes"]
    assert by[("none", "sequential sync")]["p50_ratio_to_none"] is None
    full = by[("funcscope-full", "sequential sync")]
    assert full["p50_ratio_to_none"] > 0 and full["p99_ratio_to_none"] > 0
    assert by[("funcscope-full", "2 processes, 1 ms CPU")]["ratio_to_one_process"] > 0
    assert "ratio_to_one_process" not in by[("funcscope-full", "1 process, 1 ms CPU")]

    text = format_realworker(rows)
    assert "sequential sync" in text and "funcscope-full" in text and "× one process" in text
    markdown = format_realworker(rows, markdown=True).splitlines()
    assert markdown[2] == "| config | sequential sync | sequential async |"
    targets = [target for target, _, _ in realworker_targets(rows)]
    assert "real worker sequential sync: funcscope-full p50 <= 1.10x none" in targets
    assert "real worker: funcscope-full 2 processes >= 1.7x one" in targets


def test_funcscope_bench_runs_the_real_worker_section_alone(location, tmp_path):
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCSCOPE_")}
    command = [sys.executable, "-m", "funcscope.cli", "bench", "--only", "realworker", "--quick", "--rounds", "1"]
    command += ["--configs", "none,manual", "--markdown", "--no-progress", "--json", str(out)]
    command += ["--realworker", str(location.folder), "--realworker-python", str(location.python)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "**Real worker, sequential round trips: p50 / p99 µs (ratio to none)**" in run.stdout
    assert "| manual |" in run.stdout
    result = json.loads(out.read_text())
    assert result["overhead"] == result["throughput"] == result["coldstart"] == []
    assert {r["config"] for r in result["realworker"]} == {"none", "manual"}
    assert result["machine"]["run"]["realworker_rounds"] == 1
