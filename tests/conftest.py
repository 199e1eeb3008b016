"""Shared test setup: one in-memory OpenTelemetry pipeline for the whole test process, and a fresh funcscope
runner per test.

OpenTelemetry lets a process set its global providers once, so they are set here, at import; tests read the
spans through the `spans` fixture (cleared per test). Tests of funcscope's own provider set-up run in child
processes, where no provider is set yet.

What a test registers or patches process-wide outside a Worker (the extension `configure()` registers, the classic
worker patch a test takes off) is put back after it, so no test depends on the ones that ran before it.
"""

from __future__ import annotations

import os

os.environ["APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"] = "true"  # statsbeat would call public endpoints
os.environ["APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED"] = "true"  # and so would the exporters' control plane

import pytest  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from funcscope.emulator.extension_manager import ExtensionManager  # noqa: E402
from funcscope.emulator.isolation import ExtensionRegistrySnapshot  # noqa: E402
from funcscope.instrumentation import classic_worker  # noqa: E402
from funcscope.runtime import reset_runner  # noqa: E402
from funcscope.shared.settings import Settings  # noqa: E402

SPAN_EXPORTER = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(SPAN_EXPORTER))
trace.set_tracer_provider(_provider)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """The in-memory exporter behind the global tracer provider, emptied for this test."""
    SPAN_EXPORTER.clear()
    return SPAN_EXPORTER


# Unit tests start from a runner with no process-wide patches; tests that want them switch them on.
PLAIN = Settings(metrics=False, propagation=False, log_enrichment=False, instrument=())


@pytest.fixture(autouse=True)
def _fresh_funcscope():
    """Each test starts with a new runner (reports forgotten, no process-wide patches) and ends with one."""
    reset_runner(PLAIN)
    yield
    reset_runner(PLAIN)


@pytest.fixture(autouse=True)
def _process_wide_patches_restored():
    """The extension registry and the classic worker patch of the emulator's ExtensionManager, as before the test.

    A Worker puts back the registry itself; `funcscope.configure()` called outside one registers the extension for
    the rest of the process, and every later Worker would run its hooks whatever its app does."""
    registry = ExtensionRegistrySnapshot()
    patched = classic_worker.is_instrumented(ExtensionManager)
    yield
    if registry.new_hook_metas():
        registry.restore()
    if patched:
        classic_worker.instrument(ExtensionManager)
    else:
        classic_worker.uninstrument(ExtensionManager)
