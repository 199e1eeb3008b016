"""`FuncScopeExtension`: the umbrella application-level extension. Importing this module registers it."""

from __future__ import annotations

from typing import Any

from azure.functions import AppExtensionBase

from ...runtime.runner import get_runner
from ...shared.settings import Settings
from .pipeline_hooks import PipelineHooks

__all__ = ["FuncScopeExtension"]


class FuncScopeExtension(PipelineHooks, AppExtensionBase):
    """Runs funcscope's pipeline around every invocation of every function in the app.

    Configure it once, in `function_app.py` (v2) or a module every function imports (v1)::

        from funcscope import FuncScopeExtension
        FuncScopeExtension.configure()

    The worker calls its hooks (see `PipelineHooks`) only when the app setting `PYTHON_ENABLE_WORKER_EXTENSIONS=1`
    is set.
    """

    @classmethod
    def configure(cls, **options: Any) -> Settings:
        """Apply options on top of the app settings; see `funcscope.Settings` for the names and defaults."""
        return get_runner().configure(**options)
