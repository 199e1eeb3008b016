"""A stand-in for the Python 3.13+ worker's proxy, driving the real runtimes from PyPI in this process.

On Python 3.13+ the Functions host starts a proxy worker (`azure-functions-python-worker`, `workers/proxy_worker`;
its newest form is the Rust-hosted R2P2 bridge, `workers/r2p2/bridge/bridge.py`) that calls into
`azure-functions-runtime` (v2 apps) or `azure-functions-runtime-v1` (v1 apps). The proxy is not on PyPI, so what it
does around each runtime call is reproduced here from its source, and nothing more:

- it runs the runtime's coroutines as tasks on one event loop, whose task factory is the proxy's
  `ContextEnabledTask` (a task created from a marked task inherits its invocation id); each request's task starts
  from the gRPC thread's empty context;
- `worker_init_request` gets `WorkerRequest(name, request=<StreamingMessage>, properties={"protos": ..., "host":
  ...})`, after `start_threadpool_executor()`; `functions_metadata_request`, `function_load_request` and
  `invocation_request` get the StreamingMessage with no properties;
- before `invocation_request` the proxy records the invocation id as the process's last one, marks the
  request's task with it, and registers it for the loop thread;
- its log handler names a record's invocation by a rule, reproduced in `dispatcher_invocation_id` (the gRPC
  proxy) and `bridge_invocation_id` (R2P2);
- with HTTP streaming (an HTTP extension the app imports) the runtime starts the extension's web server on the
  proxy's loop and names it in the init response's `HttpUri`: the host then sends each HTTP request there, with
  its invocation id in `x-ms-invocation-id`, beside the invocation request, and reads the response as it streams.

The protobuf messages are the runtime's own generated `FunctionRpc` module, shipped in the
`azure-functions-runtime-v1` wheel (under `tests/protos`, the same shape as the proxy's `proxy_worker.protos`);
it is loaded from its file under a private name, since its package name clashes with ours.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import sys
import threading
import urllib.parse
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funcscope.instrumentation import sigterm

PROTOS_PACKAGE = "_functions_rpc_protos"
RUNTIMES = {"v2": "azure_functions_runtime", "v1": "azure_functions_runtime_v1"}
SCRIPT_ROOT = "AzureWebJobsScriptRoot"
HTTP_EXTENSIONS = "azurefunctions.extensions.http"


def load_protos() -> Any:
    """The `FunctionRpc` protobuf messages the runtimes build their responses with."""
    loaded = sys.modules.get(PROTOS_PACKAGE)
    if loaded is not None:
        return loaded
    init = next(
        f for f in importlib.metadata.files("azure-functions-runtime-v1") or () if str(f) == "tests/protos/__init__.py"
    )
    path = Path(str(init.locate()))
    spec = importlib.util.spec_from_file_location(PROTOS_PACKAGE, path, submodule_search_locations=[str(path.parent)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[PROTOS_PACKAGE] = module
    spec.loader.exec_module(module)
    return module


protos = load_protos()


@dataclass
class WorkerRequest:
    """What the proxy hands each runtime entry point (its `dispatcher.WorkerRequest`)."""

    name: str
    request: Any
    properties: dict[str, Any] | None = None


class ContextEnabledTask(asyncio.Task):  # type: ignore[type-arg]
    """The proxy's task class: a task created from a marked task carries the same invocation id."""

    AZURE_INVOCATION_ID = "__azure_function_invocation_id__"

    def __init__(self, coro: Any, loop: asyncio.AbstractEventLoop, context: Any = None, **kwargs: Any) -> None:
        super().__init__(coro, loop=loop, context=context, **kwargs)
        current_task = asyncio.current_task(loop)
        if current_task is not None:
            invocation_id = getattr(current_task, self.AZURE_INVOCATION_ID, None)
            if invocation_id is not None:
                self.set_azure_invocation_id(invocation_id)

    def set_azure_invocation_id(self, invocation_id: str) -> None:
        setattr(self, self.AZURE_INVOCATION_ID, invocation_id)


@dataclass
class LogLine:
    message: str
    logger: str
    thread: str
    dispatcher_id: str | None  # the invocation the gRPC proxy files the record under
    bridge_id: str | None  # ... and the R2P2 bridge


@dataclass(frozen=True)
class Call:
    """One invocation of an HTTP-triggered function (trigger parameter `req`), as the host sends it; or, with
    `trigger`, of another trigger: (parameter name, the `TypedData` the host sends, its trigger metadata by name,
    each a `TypedData`), on the gRPC path."""

    function_name: str
    url: str = "http://localhost/api/f"
    route_params: dict[str, str] = field(default_factory=dict)
    trigger: tuple[str, Any, dict[str, Any]] | None = None
    trace_parent: str = ""
    trace_state: str = ""
    retry_count: int = 0
    max_retry_count: int = 0
    retry_message: str = ""
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def query(self) -> dict[str, str]:
        """The host sends the query parsed, beside the URL."""
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.url).query))


@dataclass
class Result:
    invocation_id: str
    ok: bool
    error: str  # the failure's message, as the host receives it
    body: str  # the HTTP response body
    logs: list[LogLine] = field(default_factory=list)
    streamed: list[str] | None = None  # with HTTP streaming: the response's chunks, as the web server sent them

    def user_logs(self) -> list[LogLine]:
        return [
            line for line in self.logs if not line.logger.startswith(("azure_functions_runtime", "azure.functions"))
        ]


class Proxy:
    """Loads one app in the real runtime the way the proxy does, and invokes its functions.

    `runtime` is "v2" (`function_app.py`) or "v1" (function folders). `env` is set for the proxy's lifetime. Use
    as a context manager: at the end the runtime's pool is stopped, and its registry, `sys.path`, the app's
    modules and the environment are restored, so the next test loads an app afresh.
    """

    def __init__(self, app_dir: Path, *, path: str = "grpc", env: Mapping[str, str] | None = None) -> None:
        assert path in ("grpc", "native")
        self.path = path
        self._closed = False
        self.app_dir = Path(app_dir).resolve()
        self.kind = "v2" if (self.app_dir / "function_app.py").is_file() else "v1"
        self.runtime: Any = importlib.import_module(RUNTIMES[self.kind])
        self._handle_event = importlib.import_module(f"{RUNTIMES[self.kind]}.handle_event")
        self._runtime_local = importlib.import_module(f"{RUNTIMES[self.kind]}.bindings.context")._invocation_id_local
        self._native = importlib.import_module(f"{RUNTIMES[self.kind]}.native_invocation")
        # The runtime decides once per process whether the app uses SDK-type bindings (it caches the base
        # extension's registry, or its absence, on first use): each app here starts as in a fresh process.
        binding_meta = importlib.import_module(f"{RUNTIMES[self.kind]}.bindings.meta")
        if hasattr(binding_meta, "_DEFERRED_BINDING_REGISTRY_LOADED"):
            binding_meta._DEFERRED_BINDING_REGISTRY_LOADED = False
            binding_meta.DEFERRED_BINDING_REGISTRY = None
        # ... and so whether it streams HTTP (the v2 runtime's `HttpV2Registry`).
        http_v2 = sys.modules.get(f"{RUNTIMES[self.kind]}.http_v2")
        registry = getattr(http_v2, "HttpV2Registry", None)
        if registry is not None:
            registry._http_v2_enabled_checked, registry._http_v2_enabled, registry._ext_base = False, False, None
        self._datum = importlib.import_module(f"{RUNTIMES[self.kind]}.bindings.datumdef").Datum
        self._native_threads = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="host-bridge")
        env = {**dict(env or {}), SCRIPT_ROOT: str(self.app_dir)}  # the host sets the app's folder
        self._saved_env = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        self._modules_before = set(sys.modules)
        sys.path.insert(0, str(self.app_dir))
        # The proxy's per-invocation bookkeeping its log handler reads.
        self.last_invocation_id: str | None = None
        self.thread_registry: dict[int, str] = {}
        self.loop = asyncio.new_event_loop()
        self.loop.set_task_factory(
            lambda loop, coro, context=None, **kw: ContextEnabledTask(coro, loop=loop, context=context, **kw)
        )
        self.loop_thread = threading.Thread(target=self._run_loop, name="proxy-event-loop", daemon=True)
        self.loop_thread.start()
        self._collect: dict[str, list[LogLine]] = {}
        self.unattributed: list[LogLine] = []
        self._handler = _ProxyLogHandler(self)
        root = logging.getLogger()
        self._saved_level = root.level
        root.addHandler(self._handler)
        root.setLevel(logging.INFO)
        self.function_ids: dict[str, str] = {}
        if threading.current_thread() is threading.main_thread():
            # The proxy runs its loop, and so loads the app, on the main thread, where funcscope installs its
            # SIGTERM handler; here the loop has a thread of its own, so the handler goes in from this thread.
            sigterm.instrument()
        try:
            self.init_response = self._load()
        except BaseException:
            self.close()
            raise
        self.http_uri: str | None = self.init_response.capabilities.get("HttpUri") or None

    # -- the proxy's calls ---------------------------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run `coro` as a task on the proxy's loop, from an empty context (as from its gRPC thread)."""
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def start() -> None:
            task = self.loop.create_task(coro)
            task.add_done_callback(
                lambda t: result.set_exception(t.exception()) if t.exception() else result.set_result(t.result())
            )

        self.loop.call_soon_threadsafe(start, context=contextvars.Context())
        return result

    def _load(self) -> Any:
        self.runtime.start_threadpool_executor()
        init = protos.StreamingMessage(
            worker_init_request=protos.WorkerInitRequest(
                host_version="4.1000.0",
                function_app_directory=str(self.app_dir),
                capabilities={},
            )
        )
        response = self.run(
            self.runtime.worker_init_request(
                WorkerRequest("WorkerInitRequest", init, {"protos": protos, "host": "127.0.0.1"})
            )
        ).result(timeout=60)
        if response.result.status != protos.StatusResult.Success:
            raise RuntimeError(f"worker init failed: {response.result.exception.message}")
        metadata_request = protos.StreamingMessage(
            functions_metadata_request=protos.FunctionsMetadataRequest(function_app_directory=str(self.app_dir))
        )
        metadata = self.run(
            self.runtime.functions_metadata_request(WorkerRequest("WorkerMetadataRequest", metadata_request))
        ).result(timeout=60)
        if metadata.use_default_metadata_indexing:  # v1: the host reads every function.json and sends it
            functions = [self._v1_metadata(folder) for folder in sorted(self.app_dir.iterdir())]
            functions = [f for f in functions if f is not None]
        else:
            functions = list(metadata.function_metadata_results)
        for fn in functions:
            load = protos.StreamingMessage(
                function_load_request=protos.FunctionLoadRequest(function_id=fn.function_id, metadata=fn)
            )
            loaded = self.run(self.runtime.function_load_request(WorkerRequest("FunctionLoadRequest", load))).result(
                timeout=60
            )
            if loaded.result.status != protos.StatusResult.Success:
                raise RuntimeError(f"loading {fn.name} failed: {loaded.result.exception.message}")
            self.function_ids[fn.name] = fn.function_id
        return response

    def _v1_metadata(self, folder: Path) -> Any:
        config = folder / "function.json"
        if not config.is_file():
            return None
        spec = json.loads(config.read_text())
        bindings = {}
        for binding in spec["bindings"]:
            direction = getattr(protos.BindingInfo, binding.get("direction", "in"))  # enum values in, out, inout
            bindings[binding["name"]] = protos.BindingInfo(type=binding["type"], direction=direction)
        return protos.RpcFunctionMetadata(
            name=folder.name,
            function_id=str(uuid.uuid4()),
            directory=str(folder),
            script_file=str(folder / spec.get("scriptFile", "__init__.py")),
            entry_point=spec.get("entryPoint", ""),
            bindings=bindings,
        )

    def invoke(self, function_name: str, **call: Any) -> Result:
        return self.invoke_many([Call(function_name, **call)])[0]

    def invoke_many(self, calls: list[Call]) -> list[Result]:
        """Send all calls at once, as the host may, and wait for every result."""
        for call in calls:
            self._collect[call.invocation_id] = []
        send = self._send_native if self.path == "native" else self._send_grpc
        futures = [send(call) for call in calls]
        results = [f.result(timeout=60) for f in futures]
        for result in results:
            result.logs = self._collect.pop(result.invocation_id)
        return results

    # The gRPC proxy (workers/proxy_worker/dispatcher.py): every request in its own task on the loop.

    def _send_grpc(self, call: Call) -> concurrent.futures.Future[Result]:
        rpc = protos.FunctionRpc_pb2
        request = protos.StreamingMessage(
            invocation_request=protos.InvocationRequest(
                invocation_id=call.invocation_id,
                function_id=self.function_ids[call.function_name],
                input_data=[
                    protos.ParameterBinding(
                        name="req",
                        data=protos.TypedData(
                            http=protos.RpcHttp(
                                method="GET",
                                url=call.url,
                                query=call.query,
                                params=call.route_params,
                                body=protos.TypedData(string=""),
                            )
                        ),
                    )
                    if call.trigger is None
                    else protos.ParameterBinding(name=call.trigger[0], data=call.trigger[1])
                ],
                trigger_metadata=call.trigger[2] if call.trigger is not None else {},
                trace_context=rpc.RpcTraceContext(trace_parent=call.trace_parent, trace_state=call.trace_state),
                retry_context=rpc.RetryContext(
                    retry_count=call.retry_count,
                    max_retry_count=call.max_retry_count,
                    exception=protos.RpcException(message=call.retry_message),
                ),
            )
        )
        answered = self.run(self._invocation_grpc(call.invocation_id, request))
        if self.http_uri is None or call.trigger is not None:
            return answered
        forwarded = self._native_threads.submit(self._forward_http, call)

        def both() -> Result:
            result = answered.result(timeout=60)
            result.streamed = forwarded.result(timeout=60)
            return result

        return self._native_threads.submit(both)

    def _forward_http(self, call: Call) -> list[str]:
        """The host's side of a streamed request: sent to the runtime's web server, the response read as it comes."""
        from http.client import HTTPConnection, HTTPException

        assert self.http_uri is not None
        address, target = urllib.parse.urlsplit(self.http_uri), urllib.parse.urlsplit(call.url)
        connection = HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=30)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            connection.request("GET", path, headers={"x-ms-invocation-id": call.invocation_id})
            answer = connection.getresponse()
            chunks = []
            try:
                while chunk := answer.read1(65536):
                    chunks.append(chunk.decode("utf-8", errors="replace"))
            except (OSError, HTTPException):  # the server broke the response off: what came before it
                pass
            return chunks
        finally:
            connection.close()

    async def _invocation_grpc(self, invocation_id: str, request: Any) -> Result:
        # The proxy's _handle__invocation_request, then the runtime's entry point.
        self.last_invocation_id = invocation_id
        task = asyncio.current_task()
        if isinstance(task, ContextEnabledTask):
            task.set_azure_invocation_id(invocation_id)
        self.thread_registry[threading.get_ident()] = invocation_id
        response = await self.runtime.invocation_request(WorkerRequest("FunctionInvocationRequest", request))
        ok = response.result.status == protos.StatusResult.Success
        if response.return_value.WhichOneof("data") != "http":  # another trigger's return value, as it came
            value = response.return_value
            kind = value.WhichOneof("data")
            return Result(
                invocation_id, ok, "" if ok else response.result.exception.message, str(getattr(value, kind or "", ""))
            )
        http = response.return_value.http
        body = http.body.string if http.body.WhichOneof("data") == "string" else http.body.bytes.decode()
        return Result(invocation_id, ok, "" if ok else response.result.exception.message, body)

    # R2P2 (workers/r2p2/bridge/bridge.py invoke_native): the runtime's protobuf-free entry points, called from
    # the host-facing thread: `run_invocation_sync` runs a sync function on the runtime's pool and answers
    # `handled=False` for an async one, which then runs as `invocation_request_native` on the bridge's loop.

    def _send_native(self, call: Call) -> concurrent.futures.Future[Result]:
        return self._native_threads.submit(contextvars.Context().run, self._invocation_native, call)

    def _invocation_native(self, call: Call) -> Result:
        native = self._native
        datum = self._datum
        request = datum(
            {
                "method": datum("GET", "string"),
                "url": datum(call.url, "string"),
                "headers": {},
                "params": {},
                "query": {k: datum(v, "string") for k, v in call.query.items()},
                "body": datum(b"", "bytes"),
            },
            "http",
        )
        args = (call.invocation_id, self.function_ids[call.function_name], [("req", request)], {})
        retry = (call.retry_count, call.max_retry_count, protos.RpcException(message=call.retry_message))
        handled, ok, value, _outputs, error, _trace = native.run_invocation_sync(
            *args, call.trace_parent, call.trace_state, *retry
        )
        if not handled:
            coro = native.invocation_request_native(*args, call.trace_parent, call.trace_state, *retry)
            ok, value, _outputs, error, _trace = asyncio.run_coroutine_threadsafe(coro, self.loop).result()
        body = value.value["body"].value if ok and value is not None else b""
        return Result(call.invocation_id, bool(ok), error or "", body.decode() if isinstance(body, bytes) else body)

    # -- the proxy's log attribution (at emit time, on the emitting thread) ----------------------------------

    def dispatcher_invocation_id(self) -> str | None:
        """`workers/proxy_worker/dispatcher.py` `get_current_invocation_id()`: the last invocation when the runtime
        has no `invocation_id_cv` (both runtimes have it), else the current task's mark, the runtime's
        `invocation_id_cv`, the loop thread's registered invocation, the proxy's own thread-local (which nothing
        sets)."""
        if not hasattr(self.runtime, "invocation_id_cv") and self.last_invocation_id is not None:
            return self.last_invocation_id
        loop = asyncio._get_running_loop()
        if loop is not None:
            task = asyncio.current_task(loop)
            mark = getattr(task, ContextEnabledTask.AZURE_INVOCATION_ID, None) if task is not None else None
            if mark is not None:
                return str(mark)
        value = self.runtime.invocation_id_cv.get()
        if value is not None:
            return str(value)
        return self.thread_registry.get(threading.get_ident())

    def bridge_invocation_id(self) -> str | None:
        """`workers/r2p2/bridge/bridge.py` `_current_invocation_id()`: the runtime's `invocation_id_cv`, then its
        `bindings.context._invocation_id_local` (the object `context.thread_local_storage` returns)."""
        value = self.runtime.invocation_id_cv.get()
        if value is not None:
            return str(value)
        return getattr(self._runtime_local, "invocation_id", None)

    def _record(self, record: logging.LogRecord) -> None:
        line = LogLine(
            record.getMessage(),
            record.name,
            threading.current_thread().name,
            self.dispatcher_invocation_id(),
            self.bridge_invocation_id(),
        )
        target = self._collect.get(line.dispatcher_id or "") or self._collect.get(line.bridge_id or "")
        (target if target is not None else self.unattributed).append(line)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._native_threads.shutdown()
            self.runtime.stop_threadpool_executor()
            if getattr(self, "http_uri", None) is not None:  # the web server's tasks end with the process
                self.run(_cancel_other_tasks()).result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.loop_thread.join(timeout=30)
            self.loop.close()
            logging.getLogger().removeHandler(self._handler)
            logging.getLogger().setLevel(self._saved_level)
            # The runtime's process-wide state, as a fresh process has it.
            self._handle_event._functions._functions.clear()
            self._handle_event.otel_manager.set_otel_libs_available(False)
            self._handle_event.otel_manager.set_azure_monitor_available(False)
            with_path = str(self.app_dir)
            while with_path in sys.path:
                sys.path.remove(with_path)
            for name in set(sys.modules) - self._modules_before:
                module = sys.modules[name]
                if name == "__app__" or name.startswith("__app__.") or _lives_in(module, self.app_dir):
                    del sys.modules[name]
                elif name.startswith(HTTP_EXTENSIONS):  # registered with the base extension as it was imported
                    del sys.modules[name]
                    _forget_http_extension()
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _cancel_other_tasks() -> None:
    # The web server first, as at a signal (uvicorn's `should_exit`; the runtime keeps no handle on it), then
    # whatever else still runs on the loop.
    import gc

    import uvicorn

    for server in [o for o in gc.get_objects() if isinstance(o, uvicorn.Server)]:
        server.should_exit = True
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    _, pending = await asyncio.wait(others, timeout=5) if others else (set(), set())
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _forget_http_extension() -> None:
    """The base extension's record of the HTTP extension an app imported, as a fresh process has it: so the next
    app streams only if it imports one itself (and its import registers it again)."""
    web = sys.modules.get("azurefunctions.extensions.base.web")
    if web is not None:
        web.ModuleTrackerMeta._module = None
        web.RequestTrackerMeta._request_type = None
        web.RequestTrackerMeta._synchronizer = None
        web.ResponseTrackerMeta._response_types.clear()


def _lives_in(module: Any, folder: Path) -> bool:
    path = getattr(module, "__file__", None)
    return bool(path) and Path(path).resolve().is_relative_to(folder)


class _ProxyLogHandler(logging.Handler):
    def __init__(self, proxy: Proxy) -> None:
        super().__init__()
        self._proxy = proxy

    def emit(self, record: logging.LogRecord) -> None:
        self._proxy._record(record)
