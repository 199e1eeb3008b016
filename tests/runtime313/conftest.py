"""Tests against the real Python 3.13+ runtimes (`azure-functions-runtime`, `azure-functions-runtime-v1`).

They need Python 3.13 and those packages: `make test` runs them in the venv `make` builds for them. Elsewhere
(the main venv, Python 3.10-3.12) there is nothing to test here and they are not collected.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from funcscope.runtime import reset_runner
from funcscope.shared.settings import Settings

if importlib.util.find_spec("azure_functions_runtime") is None:
    collect_ignore_glob = ["test_*.py"]

# The apps are shared with the emulator's tests of the same paths.
APPS = Path(__file__).resolve().parents[1] / "apps"
V1_APP = APPS / "every_function_v1"
V2_APP = APPS / "every_function_v2"
HOST_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def host_parent(n: int, sampled: bool = True) -> str:
    """A distinct host traceparent per invocation: the trace id shared, the span id n + 1."""
    return f"00-{HOST_TRACE}-{n + 1:016x}-{'01' if sampled else '00'}"


@pytest.fixture(autouse=True)
def _full_funcscope() -> Iterator[None]:
    """funcscope as an app gets it (metrics aside: there is no meter provider in the test process)."""
    reset_runner(Settings(metrics=False))
    yield


@pytest.fixture
def proxy() -> Iterator[Callable[..., Any]]:
    """Load an app in the real runtime (`proxy(app_dir, path="grpc" | "native", env={...})`); closed after."""
    from .proxy import Proxy

    opened: list[Proxy] = []

    def start(app_dir: Path, **options: Any) -> Proxy:
        started = Proxy(app_dir, **options)
        opened.append(started)
        return started

    yield start
    for started in reversed(opened):
        started.close()
