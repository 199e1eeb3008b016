"""Throughput through the worker emulator for a few cells of the matrix, per configuration.

pytest-benchmark's time is that of one round (a short warm-up, then the cell's calls); the invocations per second
and latencies measured inside it are in each benchmark's extra_info and, as ratios to "none", in the summary. So is
the process's CPU time per invocation for the cells whose worker runs in this process: what an invocation costs in
place, thread hand-offs and colder caches included, next to the overhead suite's warm loop.

The cells are the ones the targets are about (and a CPU-trivial sync and async cell, where the per-invocation cost
shows most). `funcscope bench` runs the whole matrix: sync pool of 1/4/16 threads, async concurrency 1/64/512,
1 and 2 worker processes, for CPU-trivial, 5 ms I/O and 1 ms CPU workloads.
"""

from __future__ import annotations

import statistics

import pytest

from funcscope.bench.configs import THROUGHPUT_CONFIGS, calibrate_cpu_loops, install
from funcscope.bench.throughput import Cell, ChildHandler, write_bench_app

CELLS = [
    Cell("sync-pool", 4, "cpu-trivial"),
    Cell("sync-pool", 16, "io-5ms"),
    Cell("async", 64, "cpu-trivial"),
    Cell("async", 512, "io-5ms"),
    Cell("processes", 1, "cpu-1ms"),
    Cell("processes", 2, "cpu-1ms"),
]
SECONDS = 1.0
ROUNDS = 3


@pytest.fixture(scope="module")
def bench_app(tmp_path_factory):
    return str(write_bench_app(tmp_path_factory.mktemp("benchapp"))), str(calibrate_cpu_loops())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("config", THROUGHPUT_CONFIGS)
@pytest.mark.parametrize("cell", CELLS, ids=lambda c: f"{c.mode}-{c.concurrency}-{c.workload}")
def test_throughput(benchmark, perf_results, bench_app, cell, config):
    benchmark.group = f"throughput {cell.mode}/{cell.concurrency} {cell.workload}"
    app_dir, cpu_loops = bench_app
    request = {
        "mode": cell.mode,
        "concurrency": cell.concurrency,
        "workload": cell.workload,
        "n": cell.invocations(SECONDS),
    }
    measured = []
    # The configuration is put in place here too: the app configures funcscope in this process, and removing the
    # configuration afterwards undoes its process-wide patches before the next test.
    with install(config):
        handler = ChildHandler(config, app_dir, cpu_loops)
        try:
            handler.handle({**request, "n": 2 * cell.in_flight})  # starts the worker outside the timed rounds
            benchmark.pedantic(lambda: measured.append(handler.handle(request)), rounds=ROUNDS, iterations=1)
        finally:
            handler.close()
    result = {key: statistics.median(m[key] for m in measured) for key in measured[0]}
    benchmark.extra_info.update({k: round(v, 3) for k, v in result.items()})
    group = f"{cell.mode}/{cell.concurrency} {cell.workload}"
    perf_results[("throughput", group, config)] = {"value": result["invocations_per_s"], "unit": "invocations/s"}
    if "cpu_us_per_invocation" in result:
        perf_results[("cpu", group, config)] = {"value": result["cpu_us_per_invocation"], "unit": "CPU µs/invocation"}
