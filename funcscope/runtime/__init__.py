"""How the worker's hooks reach the pipeline: one `InvocationRunner` per process, and thin adapters onto it."""

from .runner import InvocationAbandoned, InvocationRunner, get_runner, reset_runner

__all__ = ["InvocationAbandoned", "InvocationRunner", "get_runner", "reset_runner"]
