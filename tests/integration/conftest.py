"""Integration tests run funcscope inside the worker emulator: real hooks, threads, loops and processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from funcscope.runtime import reset_runner
from funcscope.shared.settings import Settings

from . import capture
from .arrivals import HOST_TRACE
from .receivers import AppInsightsReceiver, Downstream, OTLPReceiver

APPS = Path(__file__).resolve().parent / "apps"
V1_APP = APPS / "traced_v1"
V2_APP = APPS / "traced_v2"


def host_parent(n: int, sampled: bool = True) -> str:
    """A distinct host traceparent per invocation: trace id shared, span id = n."""
    return f"00-{HOST_TRACE}-{n + 1:016x}-{'01' if sampled else '00'}"


@pytest.fixture(autouse=True)
def _full_funcscope():
    """funcscope as a function app gets it: every feature on (metrics go to a test's own provider if it asks)."""
    reset_runner(Settings(metrics=False))
    yield


@pytest.fixture(autouse=True)
def _clear_capture():
    capture.install()
    capture.clear()
    yield
    capture.clear()


@pytest.fixture
def otlp():
    """An OTLP/HTTP receiver on 127.0.0.1."""
    with OTLPReceiver() as receiver:
        yield receiver


@pytest.fixture
def app_insights():
    """An Application Insights ingestion receiver on 127.0.0.1."""
    with AppInsightsReceiver() as receiver:
        yield receiver


@pytest.fixture
def downstream():
    """A server on 127.0.0.1 that functions call out to; it records the traceparent of each call."""
    with Downstream() as server:
        yield server
