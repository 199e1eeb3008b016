"""A local stand-in for the Azure Functions Python worker (4.x).

It loads v1 and v2 apps and reproduces what the worker does around an invocation: extension
hooks and their order, the sync thread pool and the async event loop, invocation marks on tasks,
the shared thread-local ``invocation_id``, log attribution, and several worker processes. It
depends only on the standard library and ``azure.functions``.
"""

from .bindings import Out
from .context import Context, RetryContext, RpcException, TraceContext
from .errors import EmulatorError, RemoteException, Unpicklable
from .extension_manager import ExtensionManager
from .logs import LogEntry
from .model import Call, FunctionInfo, InvocationResult, Timings
from .worker import Worker, new_trace_parent

__all__ = [
    "Call",
    "Context",
    "EmulatorError",
    "ExtensionManager",
    "FunctionInfo",
    "InvocationResult",
    "LogEntry",
    "Out",
    "RemoteException",
    "RetryContext",
    "RpcException",
    "Timings",
    "TraceContext",
    "Unpicklable",
    "Worker",
    "new_trace_parent",
]
