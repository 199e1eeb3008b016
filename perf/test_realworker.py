"""Round trips and throughput through the real classic worker, per configuration (`funcscope.bench.realworker`).

One run of the paired rounds (every configuration measured cell by cell, one right after the other, the order
rotated each round): p50 and p99 round trips of sequential sync and async invocations, throughput with 16 sync
threads and 64 async invocations in flight waiting 5 ms on I/O, and 2 worker processes against one. The table and
the targets are printed at the end; each row is in the JSON the `FUNCSCOPE_PERF_REALWORKER_JSON` setting names.

Needs the worker and its venv (`make worker-venv`, which `make perf` builds when `REALWORKER` names the worker):
without them the test is skipped saying why, and fails under `CI=true`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from funcscope.bench.realworker.bench import format_realworker, measure_realworker, realworker_targets
from funcscope.bench.realworker.client import WorkerMissing, locate
from funcscope.bench.report import format_targets

ROUNDS = int(os.environ.get("FUNCSCOPE_PERF_REALWORKER_ROUNDS") or "6")


@pytest.fixture(scope="module")
def location():
    try:
        return locate()
    except WorkerMissing as exc:
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(f"the real-worker benchmark runs in CI only with the worker: {exc}", pytrace=False)
        pytest.skip(f"real worker missing: {exc}")


@pytest.mark.timeout(1200)
def test_realworker(location, perf_results, capsys):
    rows = measure_realworker(rounds=ROUNDS, location=location)
    for row in rows:
        if row["in_flight"] == 1:
            perf_results[("realworker", f"{row['cell']} p50", row["config"])] = {"value": row["p50_us"], "unit": "µs"}
            perf_results[("realworker", f"{row['cell']} p99", row["config"])] = {"value": row["p99_us"], "unit": "µs"}
        else:
            value = {"value": row["invocations_per_s"], "unit": "invocations/s"}
            perf_results[("realworker", row["cell"], row["config"])] = value
    target = os.environ.get("FUNCSCOPE_PERF_REALWORKER_JSON")
    if target:
        Path(target).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    with capsys.disabled():
        print("\n" + format_realworker(rows) + "\n\n" + format_targets(realworker_targets(rows)))
