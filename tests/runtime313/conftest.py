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

# The host's trace, and funcscope as an app gets it, as in the emulator's integration tests.
from ..integration.conftest import HOST_TRACE, _full_funcscope, app_insights, host_parent  # noqa: F401

if importlib.util.find_spec("azure_functions_runtime") is None:
    collect_ignore_glob = ["test_*.py"]

# The apps are shared with the emulator's tests of the same paths.
APPS = Path(__file__).resolve().parents[1] / "apps"
V1_APP = APPS / "every_function_v1"
V2_APP = APPS / "every_function_v2"


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
