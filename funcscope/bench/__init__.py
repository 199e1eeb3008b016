"""Measure what funcscope costs: per-invocation overhead through the worker's hook path and throughput through the
worker emulator, next to the alternatives (no extension, the worker's built-in OpenTelemetry, a hand-written span,
the OpenCensus extension), each as a ratio to a baseline measured in the same run.

Used by `funcscope bench`, by the pytest-benchmark suites in `perf/`, and by the `funcscope_worker` pytest fixture
(`funcscope.bench.app`).
Importing this package imports nothing heavy.
"""

from __future__ import annotations

from .configs import CONFIGS, OVERHEAD_CONFIGS, THROUGHPUT_CONFIGS, BenchConfig, install

__all__ = ["CONFIGS", "OVERHEAD_CONFIGS", "THROUGHPUT_CONFIGS", "BenchConfig", "install"]
