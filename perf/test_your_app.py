"""How to benchmark your own function app with the `funcscope_worker` fixture (installed with funcscope).

This runs the packaged sample v2 app; point `APP` at your app's folder instead. `call()` runs one invocation
through the worker's hook path on the calling thread, so pytest-benchmark times the function plus what the
configuration adds to it, and nothing of the emulator's hand-off between threads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import funcscope

APP = Path(funcscope.__file__).parent / "emulator" / "sample_apps" / "v2_app"
CONFIGS = ["none", "funcscope-full", "funcscope-tracing", "opencensus"]
REQUEST = {"method": "GET", "url": "http://localhost:7071/api/hello?name=perf"}


@pytest.mark.parametrize("config", CONFIGS)
def test_hello(benchmark, funcscope_worker, perf_results, config):
    benchmark.group = "your app: hello (sync)"
    app = funcscope_worker(APP, config)
    response = benchmark(app.call, "hello", REQUEST)
    assert response.status_code == 200
    perf_results[("throughput", "your app: hello (sync), as calls/s", config)] = {
        "value": 1 / benchmark.stats.stats.median,
        "unit": "calls/s",
    }


@pytest.mark.parametrize("config", CONFIGS)
def test_hello_async(benchmark, funcscope_worker, config):
    benchmark.group = "your app: hello_async"
    app = funcscope_worker(APP, config)
    response = benchmark(app.call, "hello_async", {"method": "GET", "url": "http://localhost:7071/api/hello-async"})
    assert response.status_code == 200


def test_through_the_whole_worker(benchmark, funcscope_worker):
    """`invoke()` goes through the emulated worker's pool, hand-off between threads included (~250 µs)."""
    app = funcscope_worker(APP, "funcscope-full", thread_count=4)
    result = benchmark(app.invoke, "hello", REQUEST)
    assert result.ok
