"""The handle on the real classic worker, for the tests and the benchmarks.

`RealWorker(app_dir, ...)` starts the driver (`driver.py`) with the worker venv's Python; the driver plays the
Functions host and starts the worker processes, which load the app once. Invocations then go through gRPC
exactly as the host sends them, one at a time (`invoke`) or many at once (`invoke_many`), and what the worker
sent back comes as plain data: results, the logs the host received (with their invocation ids), the spans and
metric points each worker process recorded, and what a function of the worker process returns
(`run_in_each_process`). Its shape follows `funcscope.emulator.Worker`, so one test can drive either.

Where the worker and its venv are: `FUNCSCOPE_REALWORKER` (the worker folder) and `FUNCSCOPE_REALWORKER_PYTHON`
(the venv's interpreter), which `make test` sets; else, in a checkout, `../shared/realworker` beside it and its
`.venv-worker`, as the Makefile builds them.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The checkout this package sits in (when it is one): where the Makefile builds the worker venv.
REPO = Path(__file__).resolve().parents[3]
DRIVER = Path(__file__).resolve().parent / "driver.py"
FOLDER_ENV = "FUNCSCOPE_REALWORKER"
PYTHON_ENV = "FUNCSCOPE_REALWORKER_PYTHON"


class RealWorkerError(Exception):
    """The driver could not do what was asked (or died); the message says what, with the driver's output."""


class WorkerMissing(RealWorkerError):
    """The worker folder or its venv is not there; the message says how to get them."""


@dataclass(frozen=True)
class Location:
    folder: Path
    python: Path


def locate(folder: str | os.PathLike[str] | None = None, python: str | os.PathLike[str] | None = None) -> Location:
    """The worker folder and the venv interpreter to run it with (given, else from the environment, else the
    checkout's defaults), or `WorkerMissing` saying what is missing."""
    folder = Path(folder or os.environ.get(FOLDER_ENV) or REPO.parent / "shared" / "realworker").resolve()
    python = Path(python or os.environ.get(PYTHON_ENV) or REPO / ".venv-worker" / "bin" / "python")
    if not (folder / "azure_functions_worker").is_dir():
        raise WorkerMissing(
            f"the real classic worker is not at {folder}: point the REALWORKER make variable (or "
            f"{FOLDER_ENV}) at a folder holding azure_functions_worker 4.34 and its mock host"
        )
    if not python.exists():
        raise WorkerMissing(f"the worker venv is not built ({python} is missing): run `make worker-venv`")
    return Location(folder, python)


@dataclass(frozen=True)
class HostLog:
    """One log record as the host received it from the worker (an `RpcLog`)."""

    invocation_id: str | None
    category: str  # the logger's name
    level: str  # the RpcLog level: Information, Warning, Error, ...
    log_category: str  # User or System
    message: str
    worker: int
    seq: int

    @property
    def is_user(self) -> bool:
        return self.log_category == "User"

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> HostLog:
        return cls(
            data["invocation_id"],
            data["category"],
            data["level"],
            data["log_category"],
            data["message"],
            data["worker"],
            data["seq"],
        )


class FunctionFailed(Exception):
    """The function (or the worker around it) failed; what the host received as the invocation's exception."""

    def __init__(self, message: str, stack_trace: str) -> None:
        super().__init__(message)
        self.message = message
        self.stack_trace = stack_trace


@dataclass
class RealResult:
    """One invocation as the host saw it."""

    invocation_id: str
    function_name: str
    ok: bool
    value: Any
    exception: FunctionFailed | None
    #: What the host received with this invocation's id up to the invocation's response, in arrival order.
    logs: list[HostLog]
    worker: int
    pid: int
    trace_parent: str
    round_trip_s: float
    sent_ns: int
    received_ns: int
    outputs: dict[str, Any] = field(default_factory=dict)
    #: Under HTTP streaming, the response the host read from the worker's web server: status_code, headers,
    #: chunks (text) and chunk_times_s (seconds from sending the request to each chunk); else None.
    streamed: dict[str, Any] | None = None

    def raise_for_exception(self) -> None:
        if self.exception is not None:
            raise self.exception

    @property
    def user_logs(self) -> list[HostLog]:
        return [log for log in self.logs if log.is_user]

    def json_body(self) -> Any:
        """The JSON an HTTP function answered with (raises the function's failure first)."""
        self.raise_for_exception()
        body = self.value["body"] if isinstance(self.value, dict) else self.value
        return json.loads(body)


def _retry_wire(retry: Any) -> dict[str, Any] | None:
    """A retry context from a dict, or from an object shaped like the worker's (an emulator `RetryContext`)."""
    if retry is None:
        return None
    if isinstance(retry, Mapping):
        return dict(retry)
    failure = getattr(retry, "rpc_exception", None)
    return {
        "retry_count": getattr(retry, "retry_count", 0),
        "max_retry_count": getattr(retry, "max_retry_count", 0),
        "exception": {
            "message": getattr(failure, "message", ""),
            "stack_trace": getattr(failure, "stack_trace", ""),
            "source": getattr(failure, "source", ""),
        },
    }


def call_wire(
    function_name: str,
    payload: Any = None,
    *,
    trace_parent: str | None = None,
    trace_state: str = "",
    trace_attributes: Mapping[str, str] | None = None,
    retry_context: Any = None,
    invocation_id: str | None = None,
    worker: int | None = None,
) -> dict[str, Any]:
    return {
        "function": function_name,
        "payload": payload,
        "trace_parent": trace_parent,
        "trace_state": trace_state,
        "trace_attributes": dict(trace_attributes or {}),
        "retry": _retry_wire(retry_context),
        "invocation_id": invocation_id,
        "worker": worker,
    }


def _from_call(call: Any) -> dict[str, Any]:
    """An emulator `Call` (or anything with its fields) as the driver's call."""
    if isinstance(call, Mapping):
        return call_wire(**call)
    return call_wire(
        call.function_name,
        call.payload,
        trace_parent=call.trace_parent,
        trace_state=call.trace_state,
        trace_attributes=call.trace_attributes,
        retry_context=call.retry_context,
        invocation_id=call.invocation_id,
    )


class RealWorker:
    """The real classic worker running one app, in `processes` worker processes behind one host.

    `thread_count` sets `PYTHON_THREADPOOL_THREAD_COUNT`; `extensions_enabled` sets
    `PYTHON_ENABLE_WORKER_EXTENSIONS=1` or leaves it unset; `env` adds app settings; `python_path` adds folders
    the app imports from. `telemetry="memory"` gives each worker process global providers that keep spans and
    metrics in memory (funcscope reuses them); `"none"` sets none up. `timeout` bounds every request.
    """

    def __init__(
        self,
        app_dir: str | os.PathLike[str],
        *,
        processes: int = 1,
        thread_count: int | None = None,
        extensions_enabled: bool = True,
        env: Mapping[str, str] | None = None,
        python_path: Sequence[str | os.PathLike[str]] = (),
        telemetry: str = "memory",
        timeout: float = 60.0,
        location: Location | None = None,
    ) -> None:
        self.location = location or locate()
        self.app_dir = Path(app_dir).resolve()
        self.timeout = timeout
        self._answers: queue.Queue[str | None] = queue.Queue()
        # Append mode: the driver writes to it while this process reads it. Closed in close().
        self._stderr = tempfile.TemporaryFile(mode="a+b")  # noqa: SIM115
        self._closed = False
        settings = dict(env or {})
        unset = []
        if extensions_enabled:
            settings["PYTHON_ENABLE_WORKER_EXTENSIONS"] = "1"
        else:
            unset.append("PYTHON_ENABLE_WORKER_EXTENSIONS")
        if thread_count is not None:
            settings["PYTHON_THREADPOOL_THREAD_COUNT"] = str(thread_count)
        driver_env = {k: v for k, v in os.environ.items() if k != "CONTAINER_NAME"}
        driver_env["PYTHONDONTWRITEBYTECODE"] = "1"
        self._process = subprocess.Popen(
            [str(self.location.python), str(DRIVER), str(self.location.folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=driver_env,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read_answers, name="realworker-answers", daemon=True).start()
        try:
            started = self._request(
                {
                    "op": "start",
                    "app": str(self.app_dir),
                    "processes": processes,
                    "env": settings,
                    "unset": unset,
                    "python_path": [str(Path(p).resolve()) for p in python_path],
                    "telemetry": telemetry,
                    "timeout": timeout,
                },
                timeout=timeout * 2,
            )
        except BaseException:
            self.close()
            raise
        self.functions: dict[str, dict[str, Any]] = started["functions"]
        self.model: str = started["model"]
        self.workers: list[dict[str, Any]] = started["workers"]
        self.loads: list[dict[str, Any]] = started["loads"]
        failed = [load for load in self.loads if not load["ok"]]
        if failed:
            output = self.output()
            self.close()
            raise RealWorkerError(f"functions failed to load: {failed}\n{output[0][-3000:] if output else ''}")

    # -- the driver ---------------------------------------------------------------------------------------

    def _read_answers(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def _driver_output(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", errors="replace")[-4000:]

    def _request(self, command: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        if self._closed:
            raise RealWorkerError("the RealWorker is closed")
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(command) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise RealWorkerError(f"the driver is gone ({exc}): {self._driver_output()}") from None
        try:
            line = self._answers.get(timeout=timeout or self.timeout * 2)
        except queue.Empty:
            raise RealWorkerError(f"the driver did not answer {command['op']!r}: {self._driver_output()}") from None
        if line is None:
            raise RealWorkerError(f"the driver exited ({self._process.poll()}): {self._driver_output()}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RealWorkerError(f"{command['op']}: {answer['error']}\n{answer.get('traceback', '')}")
        return answer

    # -- invocations --------------------------------------------------------------------------------------

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
        worker: int | None = None,
    ) -> RealResult:
        """One invocation, waited for. `retry_context` is a dict (retry_count, max_retry_count, exception:
        {message, stack_trace, source}) or an object shaped like the worker's; `worker` picks the process."""
        call = call_wire(
            function_name,
            payload,
            trace_parent=trace_parent,
            trace_state=trace_state,
            trace_attributes=trace_attributes,
            retry_context=retry_context,
            invocation_id=invocation_id,
            worker=worker,
        )
        return self._invoke([call], None)[0]

    def invoke_many(self, calls: Iterable[Any], concurrency: int | None = None) -> list[RealResult]:
        """Send the calls (emulator `Call`s, or dicts of `invoke`'s arguments) with at most `concurrency` in
        flight (all at once by default), spread over the worker processes in turn; results in call order."""
        return self._invoke([_from_call(call) for call in calls], concurrency)

    def _invoke(self, calls: list[dict[str, Any]], concurrency: int | None) -> list[RealResult]:
        answer = self._request(
            {"op": "invoke", "calls": calls, "concurrency": concurrency, "timeout": self.timeout},
            timeout=self.timeout * 2 + len(calls) * 0.05,
        )
        results = []
        for raw in answer["results"]:
            if "host_error" in raw:
                raise RealWorkerError(f"invocation of {raw['function']} failed in the host: {raw['host_error']}")
            failure = raw["exception"]
            results.append(
                RealResult(
                    invocation_id=raw["invocation_id"],
                    function_name=raw["function"],
                    ok=raw["ok"],
                    value=raw["value"],
                    exception=None if failure is None else FunctionFailed(failure["message"], failure["stack_trace"]),
                    logs=[HostLog.from_wire(entry) for entry in raw["logs"]],
                    worker=raw["worker"],
                    pid=raw["pid"],
                    trace_parent=raw["trace_parent"],
                    round_trip_s=raw["round_trip_s"],
                    sent_ns=raw["sent_ns"],
                    received_ns=raw["received_ns"],
                    outputs=raw["outputs"],
                    streamed=raw.get("streamed"),
                )
            )
        return results

    # -- what was recorded --------------------------------------------------------------------------------

    def logs(self, clear: bool = True) -> list[HostLog]:
        """Every log the host received from every worker since the last clear, in arrival order."""
        return [HostLog.from_wire(entry) for entry in self._request({"op": "logs", "clear": clear})["logs"]]

    def spans(self, clear: bool = True) -> list[dict[str, Any]]:
        """The spans every worker process finished since the last clear (see `probe.span_dict` for the keys)."""
        spans: list[dict[str, Any]] = self._request({"op": "spans", "clear": clear})["spans"]
        return spans

    def metrics(self) -> list[list[dict[str, Any]]]:
        """Each worker process's metric points (name, attributes, value or count and sum)."""
        points: list[list[dict[str, Any]]] = self._request({"op": "metrics"})["metrics"]
        return points

    def run_in_each_process(self, target: str, *args: Any) -> list[Any]:
        """`module:function` called with `args` in every worker process (on a thread of the probe's, not the
        worker's); JSON-able arguments, picklable results, in process order."""
        results: list[Any] = self._request({"op": "call", "target": target, "args": list(args)})["results"]
        return results

    def output(self) -> list[str]:
        """What each worker process printed (its console logging before the gRPC channel, crashes)."""
        output: list[str] = self._request({"op": "output"})["output"]
        return output

    @property
    def pids(self) -> list[int]:
        return [w["pid"] for w in self.workers]

    # -- lifecycle ----------------------------------------------------------------------------------------

    def close(self) -> list[int]:
        """Stop the workers (SIGTERM, as the host does) and the driver; returns the workers' exit codes."""
        if self._closed:
            return []
        codes: list[int] = []
        try:
            if self._process.poll() is None:
                codes = self._request({"op": "stop"}, timeout=60).get("exit_codes", [])
        except RealWorkerError:
            pass
        finally:
            self._closed = True
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            for pipe in (self._process.stdin, self._process.stdout):
                if pipe is not None:
                    pipe.close()
            self._stderr.close()
        return codes

    def __enter__(self) -> RealWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
