"""HTTP streaming, as the worker runs it (`azure_functions_worker/http_v2.py`, and the same in the Python 3.13+
runtime's `http_v2.py`).

With `PYTHON_ENABLE_INIT_INDEXING` on and an HTTP extension imported by the app (`azurefunctions-extensions-
http-fastapi`: it registers its web module with `azurefunctions.extensions.base`), the worker starts that
extension's web server (uvicorn) on a free local port when it initialises, and tells the host its address. The host
then forwards each HTTP request there, with an `x-ms-invocation-id` header, as well as sending the invocation over
gRPC; the invocation waits for the server to receive the request, gives the function that request (a FastAPI
`Request`, route parameters synced from the gRPC request) in place of the `HttpRequest`, and hands what the
function returns back to the server, which sends it: a `StreamingResponse`'s body is produced while it is sent,
after the invocation has ended. The server is the extension's own `WebServer` and `WebApp`, with the worker's
catch-all route; the host's side is an HTTP client on 127.0.0.1 that reads the response as it streams.
"""

import asyncio
import importlib
import socket
import time
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from typing import Any
from urllib.parse import urlsplit

from .errors import EmulatorError

__all__ = ["HttpStreaming", "StreamedResponse", "http_streaming_enabled"]

INVOCATION_HEADER = "x-ms-invocation-id"
_READ_SIZE = 65536


def http_streaming_enabled() -> bool:
    """The worker's rule: an HTTP extension registered with the base extension (the app imported it)."""
    try:
        import azurefunctions.extensions.base as extension_base
    except ImportError:
        return False
    return bool(extension_base.HttpV2FeatureChecker.http_v2_enabled())


@dataclass
class StreamedResponse:
    """The response as the host read it from the worker's web server: status, headers, and the body as it came,
    chunk by chunk, with the seconds from sending the request to each chunk."""

    status_code: int
    headers: dict[str, str]
    chunks: list[bytes] = field(default_factory=list)
    chunk_times_s: list[float] = field(default_factory=list)
    error: str | None = None  # the connection failed before the body ended

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def get_body(self) -> bytes:
        return self.body


class HttpStreaming:
    """The extension's web server on the worker's loop, and the host's side of each streamed request."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        import azurefunctions.extensions.base as extension_base

        self._loop = loop
        self._requests: dict[str, asyncio.Future[Any]] = {}
        self._responses: dict[str, asyncio.Future[Any]] = {}
        self.synchronizer = extension_base.RequestTrackerMeta.get_synchronizer()
        module = importlib.import_module(extension_base.ModuleTrackerMeta.get_module())
        web_app = module.WebApp()

        async def catch_all(request: Any) -> Any:
            invocation_id = request.headers.get(INVOCATION_HEADER)
            if invocation_id is None:
                raise EmulatorError(f"header {INVOCATION_HEADER} not found")
            self._future(self._requests, invocation_id).set_result(request)
            response = await self._future(self._responses, invocation_id)
            self._responses.pop(invocation_id, None)
            if isinstance(response, Exception):
                raise response
            return response

        # FastAPI binds the parameter by its annotation: the request type the extension registered.
        catch_all.__annotations__["request"] = extension_base.RequestTrackerMeta.get_request_type()
        web_app.route(catch_all)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server_task = loop.create_task(module.WebServer("127.0.0.1", self.port, web_app).serve())

    def _future(self, table: dict[str, asyncio.Future[Any]], invocation_id: str) -> asyncio.Future[Any]:
        future = table.get(invocation_id)
        if future is None:
            future = table[invocation_id] = self._loop.create_future()
        return future

    async def request_for(self, invocation_id: str, timeout: float = 30.0) -> Any:
        """The web server's request for this invocation, once the host's HTTP request arrived."""
        try:
            return await asyncio.wait_for(self._future(self._requests, invocation_id), timeout)
        except asyncio.TimeoutError:
            raise EmulatorError(
                f"the HTTP request of invocation {invocation_id} never reached the web server"
            ) from None
        finally:
            self._requests.pop(invocation_id, None)

    def respond(self, invocation_id: str, response: Any) -> None:
        """What the function returned (or the exception it raised), for the server to send."""
        future = self._future(self._responses, invocation_id)
        if not future.done():
            future.set_result(response)

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                if self._server_task.done() or time.monotonic() > deadline:
                    raise EmulatorError("the HTTP streaming web server did not start") from None
                time.sleep(0.02)

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes, invocation_id: str) -> Any:
        """The host forwarding one request and reading its response as it streams (blocking; off the loop)."""
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection = HTTPConnection("127.0.0.1", self.port, timeout=60.0)
        started = time.perf_counter()
        try:
            connection.request(method, target or "/", body=body, headers={**headers, INVOCATION_HEADER: invocation_id})
            answer = connection.getresponse()
            streamed = StreamedResponse(answer.status, {k.lower(): v for k, v in answer.getheaders()})
            try:
                while True:
                    chunk = answer.read1(_READ_SIZE)
                    if not chunk:
                        break
                    streamed.chunks.append(chunk)
                    streamed.chunk_times_s.append(time.perf_counter() - started)
            except (OSError, HTTPException) as exc:  # the server broke the response off
                streamed.error = repr(exc)
            return streamed
        finally:
            connection.close()
