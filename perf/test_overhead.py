"""Per-invocation overhead through the worker's hook path, per configuration, in the sync pool and async modes.

Each round is a batch of invocations built beforehand (distinct invocation ids and host traceparents, an
`HttpRequest` each) and run through the emulator's `ExtensionManager` invocation wrapper: on a pool thread for
sync functions, each in its own task on an event loop for async ones. pytest-benchmark times the batch; the
summary gives µs per invocation and the ratio to the manual one-span pattern. The 2-process mode needs child
processes, so it is measured by `funcscope bench` (and `test_two_processes` below).
"""

from __future__ import annotations

import pytest

from funcscope.bench.configs import OVERHEAD_CONFIGS
from funcscope.bench.overhead import HookHarness, measure_overhead

BATCH = 250
ROUNDS = 40


@pytest.mark.parametrize("mode", ["sync-pool", "async"])
@pytest.mark.parametrize("config", OVERHEAD_CONFIGS)
def test_overhead(benchmark, perf_results, config, mode):
    benchmark.group = f"overhead {mode} ({BATCH} invocations per round)"
    with HookHarness(config) as harness:
        harness.run(mode, 500)  # warm-up: first-invocation work, caches

        def batch():
            return (mode, harness.invocations(BATCH)), {}

        benchmark.pedantic(harness.run_batch, setup=batch, rounds=ROUNDS, iterations=1, warmup_rounds=2)
    if benchmark.stats is not None:
        us = benchmark.stats.stats.median / BATCH * 1e6
        benchmark.extra_info["us_per_invocation"] = round(us, 2)
        perf_results[("overhead", mode, config)] = {"value": us, "unit": "µs/invocation"}


@pytest.mark.timeout(600)
def test_two_processes(benchmark, perf_results):
    """The sync-pool loop in two processes at once, every configuration (child processes, interleaved rounds)."""
    benchmark.group = "overhead 2-process"
    rows = benchmark.pedantic(
        measure_overhead,
        args=(OVERHEAD_CONFIGS, ["2-process"]),
        kwargs={"rounds": 5, "invocations": 2000},
        rounds=1,
        iterations=1,
    )
    benchmark.extra_info["overhead"] = rows
    for row in rows:
        perf_results[("overhead", "2-process", row["config"])] = {
            "value": row["us_per_invocation"],
            "unit": "µs/invocation",
        }
