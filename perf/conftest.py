"""perf/: pytest-benchmark suites for funcscope's overhead and throughput, on the code `funcscope bench` uses.

Run with `make perf` (or `.venv/bin/python -m pytest perf`), on a quiet machine. Each number is only meaningful next
to its baseline from the same run: the summary at the end gives the ratios (overhead to the manual one-span pattern,
throughput to no extension).
"""

from __future__ import annotations

import os

os.environ["APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"] = "true"  # statsbeat would call public endpoints
os.environ["APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED"] = "true"  # and so would the exporters' control plane

from typing import Any  # noqa: E402

import pytest  # noqa: E402

# (section, group, name) -> {"value": float, "unit": str}: filled by the tests, summarised at the end.
RESULTS: dict[tuple[str, str, str], dict[str, Any]] = {}
BASELINES = {
    "overhead": "manual",
    "throughput": "none",
    "cpu": "none",
    "coldstart": "baseline",
    "realworker": "none",
    "redaction": "without",
}


def pytest_configure(config: pytest.Config) -> None:
    # The OpenCensus extension reads the worker's deprecated Traceparent/Tracestate on every invocation; pytest
    # would otherwise record every one of those warnings and skew the numbers.
    config.addinivalue_line("filterwarnings", "ignore:Traceparent is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:Tracestate is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:'locale.getdefaultlocale' is deprecated:DeprecationWarning")


@pytest.fixture(scope="session")
def perf_results() -> dict[tuple[str, str, str], dict[str, Any]]:
    """Where tests put their headline number, for the ratios in the terminal summary."""
    return RESULTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    write = terminalreporter.write_line
    for section, baseline in BASELINES.items():
        groups = sorted({g for s, g, _ in RESULTS if s == section})
        for group in groups:
            rows = {n: r for (s, g, n), r in RESULTS.items() if s == section and g == group}
            base = rows.get(baseline, {}).get("value")
            write("")
            write(f"{section} {group}: ratio to {baseline} measured in this run")
            for name, row in rows.items():
                ratio = f"{row['value'] / base:6.2f}x" if base else "      -"
                write(f"  {name:<24} {row['value']:10.1f} {row['unit']:<16} {ratio}")
