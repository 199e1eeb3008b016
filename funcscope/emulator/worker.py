"""``Worker``: a local stand-in for the Azure Functions Python worker (4.x) running one app."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from time import perf_counter
from types import TracebackType
from typing import Any, Literal

from .bindings import build_arguments
from .errors import EmulatorError
from .extension_manager import ENABLE_EXTENSIONS_SETTING, SYSTEM_LOG_PREFIX, extensions_enabled
from .inprocess import InProcessRuntime
from .loader import resolve_app_dir
from .logs import LogEntry
from .model import Call, FunctionInfo, InvocationResult
from .multiprocess import ProcessPoolRuntime

__all__ = ["Worker", "new_trace_parent"]

THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
PROCESS_COUNT_SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
_log = logging.getLogger(SYSTEM_LOG_PREFIX)


def new_trace_parent() -> str:
    """A random sampled ``traceparent``, as the host sends when no caller trace exists."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise EmulatorError(f"{what} must be an integer >= 1, got {value!r}")
    return value


def _from_setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        _log.warning("%s must be an integer >= 1, got %r; using %d", name, raw, default)
        return default
    return value


def _default_thread_count() -> int:
    # The worker passes max_workers=None on 3.9+, so the pool takes ThreadPoolExecutor's default.
    return min(32, (os.cpu_count() or 1) + 4)


class _EnvScope:
    """Environment changes for the Worker's lifetime, undone exactly at close."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, key: str, value: str) -> None:
        if key not in self._saved:
            self._saved[key] = os.environ.get(key)
        os.environ[key] = value

    def restore(self) -> None:
        for key, old in reversed(list(self._saved.items())):
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        self._saved.clear()


#: A validated call with its ids resolved, its arguments and its output holders.
_Prepared = tuple[Call, dict[str, Any], dict[str, Any]]


class Worker:
    """Loads an app folder and invokes its functions the way the Python worker does.

    ``thread_count`` defaults to ``PYTHON_THREADPOOL_THREAD_COUNT``, else the worker's default;
    ``process_count`` to ``FUNCTIONS_WORKER_PROCESS_COUNT``, else 1. ``extensions_enabled=None``
    leaves ``PYTHON_ENABLE_WORKER_EXTENSIONS`` as found, otherwise sets it for the Worker's life.
    ``hooks="none"`` models the Python 3.13+ worker, which runs no extension hook at all. ``env``
    is set for the Worker's lifetime, in this process and in worker processes. ``initializer(*initargs)``
    is called in every worker process once that environment is in place and before the app loads (with
    several processes it must be picklable by reference, as for :meth:`run_in_each_process`).

    Only one in-process Worker may run per process at a time (as only one dispatcher may); use it
    as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        app_dir: str | os.PathLike[str],
        *,
        thread_count: int | None = None,
        process_count: int | None = None,
        extensions_enabled: bool | None = None,
        hooks: Literal["classic", "none"] = "classic",
        env: Mapping[str, str] | None = None,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if hooks not in ("classic", "none"):
            raise EmulatorError(f"hooks must be 'classic' or 'none', got {hooks!r}")
        env = dict(env or {})
        bad = [k for k, v in env.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise EmulatorError(f"env must map str to str (bad keys: {bad})")
        self.app_dir = resolve_app_dir(app_dir)
        self.hooks = hooks
        self._closed = False
        self._env = _EnvScope()
        self._local: InProcessRuntime | None = None
        self._remote: ProcessPoolRuntime | None = None
        try:
            for key, value in env.items():
                self._env.set(key, value)
            if extensions_enabled is not None:
                self._env.set(ENABLE_EXTENSIONS_SETTING, "1" if extensions_enabled else "0")
            self.thread_count = (
                _positive_int(thread_count, "thread_count")
                if thread_count is not None
                else _from_setting(THREAD_COUNT_SETTING, _default_thread_count())
            )
            self.process_count = (
                _positive_int(process_count, "process_count")
                if process_count is not None
                else _from_setting(PROCESS_COUNT_SETTING, 1)
            )
            self.functions: dict[str, FunctionInfo]
            if self.process_count == 1:
                if initializer is not None:
                    initializer(*initargs)
                self._local = InProcessRuntime(
                    self.app_dir,
                    thread_count=self.thread_count,
                    classic_hooks=hooks == "classic",
                    set_env=self._env.set,
                )
                self.functions = {name: fn.info for name, fn in self._local.functions.items()}
            else:
                options = {
                    "thread_count": self.thread_count,
                    "extensions_enabled": extensions_enabled,
                    "hooks": hooks,
                    "env": env,
                    "initializer": initializer,
                    "initargs": initargs,
                }
                self._remote = ProcessPoolRuntime(str(self.app_dir), options, self.process_count)
                self.functions = dict(self._remote.functions)
        except BaseException:
            self._env.restore()
            raise

    # -- properties ---------------------------------------------------------------------------

    @property
    def extensions_enabled(self) -> bool:
        """Whether extension hooks run now (the setting is read at each hook call, as the worker does)."""
        return self.hooks == "classic" and extensions_enabled()

    @property
    def pids(self) -> list[int]:
        """Process ids of the worker processes (this process when ``process_count`` is 1)."""
        return self._remote.pids if self._remote is not None else [os.getpid()]

    @property
    def exit_codes(self) -> list[int | None]:
        """Exit codes of the worker processes, in ``pids`` order: None while one runs (always None in process).
        A process stopped by a signal has minus its number, as the host sees after a SIGTERM on scale-in."""
        return self._remote.exit_codes if self._remote is not None else [None]

    @property
    def unattributed_logs(self) -> list[LogEntry]:
        """Every record captured with no invocation id, in every worker process."""
        return self._logs("unattributed")

    @property
    def late_logs(self) -> list[LogEntry]:
        """Records attributed to an invocation that had already finished (e.g. from a leftover thread)."""
        return self._logs("late")

    def _logs(self, which: str) -> list[LogEntry]:
        self._check_open()
        if self._local is not None:
            return list(getattr(self._local.router, which))
        assert self._remote is not None
        return [entry for part in self._remote.run_in_each("logs", which) for entry in part]

    # -- invoking -----------------------------------------------------------------------------

    def invoke(
        self,
        function_name: str,
        payload: Any = None,
        *,
        trace_parent: str | None = None,
        trace_state: str = "",
        trace_attributes: Mapping[str, str] | None = None,
        retry_context: Any = None,
        invocation_id: str | None = None,
    ) -> InvocationResult:
        """Run one invocation and wait for it; the function's exception lands in the result."""
        call = Call(
            function_name,
            payload,
            trace_parent,
            trace_state,
            dict(trace_attributes) if trace_attributes is not None else None,
            retry_context,
            invocation_id,
        )
        return self._dispatch(self._prepare(call), perf_counter()).result()

    def invoke_many(self, calls: Iterable[Call], concurrency: int | None = None) -> list[InvocationResult]:
        """Run calls concurrently (all at once, or at most ``concurrency`` in flight); results in order.

        Every call is validated before any runs, so a bad payload raises without side effects.
        """
        if self._local is not None:
            # One hand-off for the whole batch: the loop starts each next call as a slot frees, building its
            # arguments then, as the worker does for each request it receives.
            batch = self._validated(calls)
            limit = len(batch) if concurrency is None else _positive_int(concurrency, "concurrency")
            if not batch:
                return []
            return self._local.submit_many(batch, self._prepare, limit, perf_counter()).result()
        prepared = [self._prepare(call) for call in calls]
        limit = len(prepared) if concurrency is None else _positive_int(concurrency, "concurrency")
        if not prepared:
            return []
        results: list[InvocationResult | None] = [None] * len(prepared)
        in_flight: dict[concurrent.futures.Future[InvocationResult], int] = {}
        next_index = 0
        while next_index < len(prepared) or in_flight:
            while next_index < len(prepared) and len(in_flight) < limit:
                in_flight[self._dispatch(prepared[next_index], perf_counter())] = next_index
                next_index += 1
            done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                results[in_flight.pop(future)] = future.result()
        return [r for r in results if r is not None]

    def check(self, call: Call) -> None:
        """Raise EmulatorError if ``call`` could not run (unknown function, bad payload); nothing runs."""
        self._prepare(call)

    def run_in_each_process(self, func: Callable[..., Any], *args: Any) -> list[Any]:
        """Call ``func(*args)`` once in every worker process and return the results in process order.

        With several processes ``func`` must be picklable by reference (a module-level function of
        a module importable there) and its result picklable; an exception is re-raised here.
        """
        self._check_open()
        if self._local is not None:
            return [func(*args)]
        assert self._remote is not None
        return self._remote.run_in_each("run", (func, args))

    def _check_open(self) -> None:
        if self._closed:
            raise EmulatorError("the Worker is closed")

    def _validated(self, calls: Iterable[Call]) -> list[Call]:
        # Arguments are built from the function and the payload alone: calls that share a payload object (a
        # benchmark's thousands) are checked once.
        batch = list(calls)
        checked: set[tuple[str, int]] = set()
        for call in batch:
            key = (call.function_name, id(call.payload)) if isinstance(call, Call) else None
            if key is None or key not in checked:
                self._prepare(call)
                if key is not None:
                    checked.add(key)
        return batch

    def _prepare(self, call: Call) -> _Prepared:
        if not isinstance(call, Call):
            raise EmulatorError(f"expected a Call, got {type(call).__name__}")
        self._check_open()
        info = self.functions.get(call.function_name)
        if info is None:
            raise EmulatorError(
                f"unknown function {call.function_name!r}; this app has: {', '.join(sorted(self.functions))}"
            )
        resolved = replace(
            call,
            invocation_id=call.invocation_id or str(uuid.uuid4()),
            trace_parent=call.trace_parent if call.trace_parent is not None else new_trace_parent(),
        )
        args, outs = build_arguments(info.name, info.bindings, info.trigger_binding_name, call.payload, info.sdk_types)
        return resolved, args, outs

    def _dispatch(self, prepared: _Prepared, submitted: float) -> concurrent.futures.Future[InvocationResult]:
        if self._local is not None:
            return self._local.submit(*prepared, submitted)
        assert self._remote is not None
        return self._remote.submit(prepared[0], submitted)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker, restore the environment, registry and modules; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._local is not None:
                self._local.close()
            if self._remote is not None:
                self._remote.close()
        finally:
            self._env.restore()

    def __enter__(self) -> Worker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
