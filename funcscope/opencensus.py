"""The OpenCensus drop-in, for apps written for `opencensus-extension-azure-functions`.

Change the import and keep the rest of the app::

    from funcscope.opencensus import OpenCensusExtension   # was: from opencensus.extension.azure.functions import ...

    OpenCensusExtension.configure()

Importing `OpenCensusExtension` registers the extension with the worker (as importing the original did). Needs
`funcscope[opencensus]`. See `funcscope.extensions.opencensus`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .extensions.opencensus.extension import OpenCensusExtension

__all__ = ["OpenCensusExtension"]

_MODULE = "funcscope.extensions.opencensus.extension"


def __getattr__(name: str) -> Any:
    # Read from the extension's module at each access rather than bound here once: a host that forgets the
    # registration between apps (the worker emulator) drops that module, and the next import registers afresh.
    if name != "OpenCensusExtension":
        raise AttributeError(f"module 'funcscope.opencensus' has no attribute {name!r}")
    return importlib.import_module(_MODULE).OpenCensusExtension
