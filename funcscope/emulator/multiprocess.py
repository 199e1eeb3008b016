"""Several worker processes, as with ``FUNCTIONS_WORKER_PROCESS_COUNT`` > 1.

Each child (started with "spawn", safe alongside threads) runs an in-process Worker on the same
app with the same settings. Messages are ``(kind, request_id, body_bytes)``, the body pickled
separately so a body that cannot be read back still lets the right caller get a clear error.
A class the parent cannot import (say, an exception defined in the app) comes back as a
:class:`RemoteException` stand-in carrying its type name. Children are daemons and also exit as
soon as their pipe closes, so they never outlive the parent.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import io
import itertools
import multiprocessing
import os
import pickle
import threading
from dataclasses import replace
from multiprocessing.connection import Connection
from time import perf_counter
from typing import Any

from .errors import EmulatorError, RemoteException, Unpicklable
from .model import Call, FunctionInfo, InvocationResult, Timings

__all__ = ["ProcessPoolRuntime", "child_main"]

_STARTUP_TIMEOUT_S = 120.0
_JOIN_TIMEOUT_S = 10.0


def _type_name(obj: Any) -> str:
    return type(obj).__qualname__


def _portable_value(value: Any) -> Any:
    try:
        pickle.dumps(value)
        return value
    except Exception:
        try:
            text = repr(value)
        except Exception:
            text = "<repr failed>"
        return Unpicklable(_type_name(value), text)


def _portable_exception(exc: BaseException | None) -> BaseException | None:
    if exc is None:
        return None
    try:
        pickle.dumps(exc)
        return exc
    except Exception:
        try:
            text = str(exc)
        except Exception:
            text = "<str failed>"
        return RemoteException(_type_name(exc), text)


def _portable_result(result: InvocationResult) -> InvocationResult:
    return replace(
        result,
        value=_portable_value(result.value),
        exception=_portable_exception(result.exception),
        outputs={k: _portable_value(v) for k, v in result.outputs.items()},
    )


def _missing_class(module: str, name: str) -> type:
    """A stand-in for a class the receiving process cannot import."""

    def __init__(self: RemoteException, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        RemoteException.__init__(self, name, ", ".join(map(str, args)))

    def __setstate__(self: RemoteException, state: Any) -> None:  # noqa: N807
        if isinstance(state, dict):
            self.__dict__.update(state)

    return type(
        name,
        (RemoteException,),
        {"__init__": __init__, "__setstate__": __setstate__, "__module__": module, "type_name": name, "message": ""},
    )


class _TolerantUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return _missing_class(module, name)


def _loads(data: bytes) -> Any:
    return _TolerantUnpickler(io.BytesIO(data)).load()


def _encode(kind: str, rid: int, body: Any) -> bytes:
    return pickle.dumps((kind, rid, pickle.dumps(body)))


# -- child side ------------------------------------------------------------------------------


def child_main(conn: Connection, app_dir: str, options: dict[str, Any]) -> None:
    """Entry point of a worker process."""
    from .worker import Worker  # imported here: the child re-imports this module by name

    send_lock = threading.Lock()

    def send(kind: str, rid: int, body: Any) -> None:
        try:
            data = _encode(kind, rid, body)
        except Exception as exc:
            data = _encode("error", rid, RemoteException(_type_name(exc), f"cannot send {kind}: {exc}"))
        # A vanished parent makes sending fail; the receive loop then sees EOF and exits.
        with send_lock, contextlib.suppress(OSError, ValueError):
            conn.send_bytes(data)

    try:
        worker = Worker(app_dir, process_count=1, **options)
    except EmulatorError as exc:
        send("failed", 0, str(exc))
        conn.close()
        return
    except BaseException as exc:
        send("failed", 0, f"{type(exc).__name__}: {exc}")
        conn.close()
        return

    def reply(rid: int, future: concurrent.futures.Future[InvocationResult]) -> None:
        exc = future.exception()
        if exc is not None:
            send("error", rid, _portable_exception(exc))
        else:
            send("result", rid, _portable_result(future.result()))

    send("ready", 0, (os.getpid(), worker.functions))
    try:
        while True:
            try:
                kind, rid, body = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                break
            if kind == "close":
                break
            try:
                if kind == "invoke":
                    call = pickle.loads(body)
                    future = worker._dispatch(worker._prepare(call), perf_counter())
                    future.add_done_callback(functools.partial(reply, rid))
                elif kind == "run":
                    func, args = pickle.loads(body)
                    send("ok", rid, _portable_value(func(*args)))
                elif kind == "logs":
                    send("ok", rid, worker._logs(pickle.loads(body)))
                else:
                    send("error", rid, EmulatorError(f"unknown request {kind!r}"))
            except BaseException as exc:
                send("error", rid, _portable_exception(exc))
    finally:
        worker.close()
        conn.close()


# -- parent side -----------------------------------------------------------------------------


class _Child:
    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid: int = process.pid
        self.in_flight = 0
        self.alive = True
        self.send_lock = threading.Lock()
        self.reader: threading.Thread | None = None


class ProcessPoolRuntime:
    """Starts the children, spreads calls over them (least busy first) and collects replies."""

    def __init__(self, app_dir: str, options: dict[str, Any], count: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._children: list[_Child] = []
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[concurrent.futures.Future[Any], _Child, float]] = {}
        self._ids = itertools.count(1)
        self._rr = itertools.count()
        self._closed = False
        self.functions: dict[str, FunctionInfo] = {}
        try:
            for i in range(count):
                parent_conn, child_conn = ctx.Pipe(duplex=True)
                process = ctx.Process(
                    target=child_main, args=(child_conn, app_dir, options), name=f"worker-process-{i + 1}", daemon=True
                )
                process.start()
                child_conn.close()
                self._children.append(_Child(process, parent_conn))
            for child in self._children:
                pid, functions = self._await_ready(child)
                child.pid = pid
                self.functions = self.functions or functions
            for child in self._children:
                child.reader = threading.Thread(
                    target=self._read, args=(child,), daemon=True, name=f"worker-process-reader-{child.pid}"
                )
                child.reader.start()
        except BaseException:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        return [c.pid for c in self._children]

    @property
    def exit_codes(self) -> list[int | None]:
        return [c.process.exitcode for c in self._children]

    def _await_ready(self, child: _Child) -> tuple[int, dict[str, FunctionInfo]]:
        deadline = perf_counter() + _STARTUP_TIMEOUT_S
        while not child.conn.poll(0.05):
            if not child.process.is_alive():
                raise EmulatorError(f"worker process exited during startup (exit code {child.process.exitcode})")
            if perf_counter() > deadline:
                raise EmulatorError(f"worker process did not start within {_STARTUP_TIMEOUT_S:.0f} s")
        try:
            kind, _, body = pickle.loads(child.conn.recv_bytes())
            payload = _loads(body)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            child.process.join(_JOIN_TIMEOUT_S)
            raise EmulatorError(
                f"worker process exited during startup (exit code {child.process.exitcode}): {type(exc).__name__}"
            ) from None
        if kind == "failed":
            raise EmulatorError(payload)
        ready: tuple[int, dict[str, FunctionInfo]] = payload
        return ready

    def _read(self, child: _Child) -> None:
        while True:
            try:
                kind, rid, body = pickle.loads(child.conn.recv_bytes())
            except (EOFError, OSError, pickle.UnpicklingError):
                break
            with self._lock:
                entry = self._pending.pop(rid, None)
                if entry is not None:
                    child.in_flight -= 1
            if entry is None:
                continue
            future, _, dispatched = entry
            try:
                payload = _loads(body)
            except Exception as exc:
                future.set_exception(
                    EmulatorError(f"cannot read a reply from worker process {child.pid}: {type(exc).__name__}: {exc}")
                )
                continue
            if kind == "result":
                total = perf_counter() - dispatched
                run = payload.timings.run_s
                payload.timings = Timings(queued_s=max(0.0, total - run), run_s=run, total_s=total)
                future.set_result(payload)
            elif kind == "ok":
                future.set_result(payload)
            else:
                future.set_exception(payload if isinstance(payload, BaseException) else EmulatorError(str(payload)))
        self._child_gone(child)

    def _child_gone(self, child: _Child) -> None:
        with self._lock:
            child.alive = False
            lost = [(rid, e) for rid, e in self._pending.items() if e[1] is child]
            for rid, _ in lost:
                del self._pending[rid]
        if lost:
            code = child.process.exitcode
            for _, (future, _, _) in lost:
                if not future.done():
                    future.set_exception(
                        EmulatorError(f"worker process {child.pid} exited before replying (exit code {code})")
                    )

    def _send(self, child: _Child, kind: str, body: Any, dispatched: float) -> concurrent.futures.Future[Any]:
        try:
            body_bytes = pickle.dumps(body)
        except Exception as exc:
            raise EmulatorError(f"cannot send {kind} to a worker process: {type(exc).__name__}: {exc}") from None
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._closed or not child.alive:
                raise EmulatorError(f"worker process {child.pid} is not running")
            rid = next(self._ids)
            self._pending[rid] = (future, child, dispatched)
            child.in_flight += 1
        data = pickle.dumps((kind, rid, body_bytes))
        try:
            with child.send_lock:
                child.conn.send_bytes(data)
        except (OSError, ValueError) as exc:
            with self._lock:
                if self._pending.pop(rid, None) is not None:
                    child.in_flight -= 1
            raise EmulatorError(f"worker process {child.pid} is not reachable: {exc}") from None
        return future

    def _pick(self) -> _Child:
        with self._lock:
            alive = [c for c in self._children if c.alive]
            if not alive:
                raise EmulatorError("no worker process is running")
            start = next(self._rr) % len(alive)
            ordered = alive[start:] + alive[:start]
            return min(ordered, key=lambda c: c.in_flight)

    def submit(self, call: Call, dispatched: float) -> concurrent.futures.Future[InvocationResult]:
        return self._send(self._pick(), "invoke", call, dispatched)

    def run_in_each(self, kind: str, body: Any) -> list[Any]:
        futures = [self._send(child, kind, body, perf_counter()) for child in self._children]
        return [f.result() for f in futures]

    def close(self) -> None:
        if self._closed:
            return
        with self._lock:
            self._closed = True
        for child in self._children:
            try:
                with child.send_lock:
                    child.conn.send_bytes(_encode("close", 0, None))
            except (OSError, ValueError):
                pass
        for child in self._children:
            child.process.join(_JOIN_TIMEOUT_S)
            if child.process.is_alive():
                child.process.terminate()
                child.process.join(_JOIN_TIMEOUT_S)
            if child.process.is_alive():
                child.process.kill()
                child.process.join()
            # The child's exit closes its end, so the reader sees EOF before we close ours.
            if child.reader is not None:
                child.reader.join(_JOIN_TIMEOUT_S)
            child.conn.close()
            self._child_gone(child)
