"""`OpenCensusExtension`: `opencensus-extension-azure-functions`, on funcscope. Importing this module registers it.

An app written for the original changes one line, its import, and keeps the rest:
`OpenCensusExtension.configure(...)`, `with context.tracer.span(...)`, `config_integration.trace_integrations(...)`.
What it gets instead of the original's separate Azure exporter:

- the whole of funcscope: a span per invocation under the host's, failures recorded, metrics, outgoing calls,
  context carried into threads, export through funcscope's providers (Azure Monitor through the distro, OTLP);
- `context.tracer` (see `tracer`): OpenCensus spans made OpenTelemetry spans under the invocation's, sampled as the
  host decided, in the threads and tasks the function starts too, never outliving the invocation;
- `config_integration.trace_integrations(['requests'])` served by funcscope's own instrumentation (see
  `funcscope.instrumentation.opencensus`), so each call is traced once;
- `configure()` takes the original's exporter options that mean something here and funcscope's own settings; the
  rest give one warning (see `options`).
"""

from __future__ import annotations

import logging
from typing import Any

from azure.functions import AppExtensionBase, Context
from opentelemetry import trace

from ...instrumentation import opencensus as opencensus_integrations
from ...runtime.runner import get_runner
from ...shared.diagnostics import report_once
from ...shared.settings import Settings
from ...shared.trace_context import read_host_trace_context
from ..app_level.pipeline_hooks import PipelineHooks
from .options import funcscope_options
from .tracer import OpenCensusTracer

__all__ = ["OpenCensusExtension"]


class OpenCensusExtension(PipelineHooks, AppExtensionBase):
    """funcscope's pipeline around every invocation, with an OpenCensus tracer as `context.tracer`.

    In the function's module, as with `opencensus-extension-azure-functions`::

        from funcscope.opencensus import OpenCensusExtension

        OpenCensusExtension.configure()

    The worker calls its hooks only when the app setting `PYTHON_ENABLE_WORKER_EXTENSIONS=1` is set.
    """

    @classmethod
    def init(cls) -> None:
        """Called when the class is registered (this module's import): the classic worker's on-error patch,
        OpenCensus's integrations routed through funcscope, and `context.tracer` for every invocation, even if
        `configure()` is never called."""
        super().init()
        opencensus_integrations.instrument()
        get_runner().update(opencensus=True)

    @classmethod
    def configure(cls, **options: Any) -> Settings:
        """Apply the original's options (see `funcscope_options`) and funcscope's own ones on top of the app
        settings, and set funcscope up. Invalid values of funcscope's settings raise, as `funcscope.configure()`."""
        settings = get_runner().configure(**funcscope_options(options), opencensus=True)
        twice = opencensus_integrations.integrated_by_opencensus()
        if twice:
            report_once(
                ("opencensus", "integrated-twice"),
                f"OpenCensus's own integration of {', '.join(twice)} was switched on before "
                "funcscope.opencensus was imported, so those calls are traced twice (by OpenCensus and by funcscope). "
                "Import funcscope.opencensus before calling config_integration.trace_integrations().",
            )
        return settings

    @classmethod
    def pre_invocation_app_level(
        cls,
        logger: logging.Logger,
        context: Context,
        func_args: dict[str, object] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Called before each invocation; see `PipelineHooks`."""
        if not get_runner().configured:
            report_once(
                ("opencensus", "not-configured"),
                "OpenCensusExtension.configure() was never called (nor funcscope.configure()); invocations "
                "are traced with the app settings alone. Call OpenCensusExtension.configure() after the import, as "
                "the original extension required, to pass options.",
            )
        super().pre_invocation_app_level(logger, context, func_args, *args, **kwargs)
        if not hasattr(context, "tracer"):  # funcscope is off (FUNCSCOPE_ENABLED=false): a tracer recording nothing
            setattr(context, "tracer", OpenCensusTracer(trace.NoOpTracer(), read_host_trace_context(context)))  # noqa: B010
