"""Cold start: import + `configure()` in a fresh process, with and without the Azure Monitor distro, against a
baseline (`import azure.functions`) measured in the same run (see `funcscope.bench.coldstart`)."""

from __future__ import annotations

import pytest

from funcscope.bench.coldstart import COLDSTART_CONFIGS, measure_coldstart


@pytest.mark.timeout(600)
def test_coldstart(benchmark, perf_results):
    benchmark.group = "cold start"
    rows = benchmark.pedantic(measure_coldstart, args=(COLDSTART_CONFIGS,), kwargs={"rounds": 7}, rounds=1)
    benchmark.extra_info["coldstart"] = rows
    for row in rows:
        perf_results[("coldstart", "import + configure()", row["config"])] = {"value": row["total_ms"], "unit": "ms"}
