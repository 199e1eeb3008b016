"""funcscope's pytest fixtures, registered by the package (entry point `pytest11`) wherever it is installed:

- `funcscope_app`: run your app's functions through the worker emulator and assert on their telemetry (spans,
  log records as the host receives them, funcscope's metrics)::

      def test_orders(funcscope_app):
          app = funcscope_app("path/to/app")  # the folder with function_app.py (v2) or function folders (v1)
          run = app.invoke("orders", {"method": "POST", "body": {"id": 7}})
          assert not run.failed
          assert run.span.attributes["http.route"] == "/api/orders"
          assert [s.name for s in run.children(run.span)] == ["charge card"]
          assert all(log.invocation_id == run.invocation_id for log in run.logs)
          assert run.metric("faas.invocations", {"faas.name": "orders"})[0].value == 1

- `funcscope_worker`: benchmark your app in each configuration (`none`, `app`, `funcscope-full`,
  `funcscope-tracing`, `opencensus`). The `benchmark` fixture it is used with comes from pytest-benchmark, which
  `funcscope[bench]` installs; `opencensus` needs `funcscope[opencensus]`::

      @pytest.mark.parametrize("config", ["none", "funcscope-full", "opencensus"])
      def test_hello(benchmark, funcscope_worker, config):
          app = funcscope_worker("path/to/app", config)
          benchmark(app.call, "hello", {"method": "GET", "url": "http://localhost/api/hello"})

Loaded by every pytest run where funcscope is installed, so importing this module imports nothing but pytest:
each fixture loads what it needs when a test asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .bench.app import BenchApp
    from .local.app import LocalApp

__all__ = ["funcscope_app", "funcscope_worker"]


@pytest.fixture
def funcscope_app() -> Iterator[Callable[..., LocalApp]]:
    """A factory: `funcscope_app(app_dir=".", **options)` loads the app as Azure Functions Core Tools would
    (`local.settings.json` into the environment) with its telemetry captured, and returns a
    `funcscope.local.app.LocalApp`: `invoke(name, payload)` returns an `InvocationTelemetry` with the invocation's
    `spans`, `span`, `logs`, `unattributed_logs` and `metrics`. Options: `hooks` (run extension hooks; default as
    `PYTHON_ENABLE_WORKER_EXTENSIONS` says), `env`, `thread_count`, `process_count`, `local_settings=False`.

    Everything is undone after the test. One app at a time (the emulator runs one worker per process). When no
    global tracer provider is set, the first use sets an OpenTelemetry SDK one (OpenTelemetry allows that once
    per process); a provider you set earlier (in a conftest, say) is kept and read from.
    """
    from .local.app import LocalApp

    made: list[LocalApp] = []

    def load(app_dir: str | Path = ".", **options: Any) -> LocalApp:
        while made:
            made.pop().close()
        app = LocalApp(app_dir, **options)
        made.append(app)
        return app

    yield load
    while made:
        made.pop().close()


@pytest.fixture
def funcscope_worker() -> Iterator[Callable[..., BenchApp]]:
    """A factory: `funcscope_worker(app_dir, config="funcscope-full", thread_count=None, env=None)` loads the app
    in the worker emulator with that benchmark configuration and returns a `funcscope.bench.app.BenchApp`
    (`call()` times one invocation on the calling thread; `invoke()`/`invoke_many()` go through the whole
    emulated worker). Time it with pytest-benchmark's `benchmark` fixture (`pip install 'funcscope[bench]'`).
    Everything is undone after the test; one app at a time."""
    from .bench.app import BenchApp

    made: list[BenchApp] = []

    def make(app_dir: str | Path, config: str = "funcscope-full", **options: Any) -> BenchApp:
        while made:  # one worker per process: the previous app goes first
            made.pop().close()
        app = BenchApp(app_dir, config, **options)
        made.append(app)
        return app

    yield make
    while made:
        made.pop().close()
