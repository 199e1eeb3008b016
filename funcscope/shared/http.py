"""The HTTP request and response of an HTTP-triggered invocation, whichever form the worker hands the function.

Without HTTP streaming the function gets an `azure.functions.HttpRequest` and returns an `HttpResponse`. With it
(`azurefunctions-extensions-http-fastapi` installed and `PYTHON_ENABLE_INIT_INDEXING` on), the worker runs a web
server the host forwards each request to, and the function gets that server's request, a FastAPI (Starlette)
`Request`, and returns a Starlette `Response` (`StreamingResponse`, `JSONResponse`, ...), which the server sends.
Starlette is only looked at when it was imported: a function cannot have a Starlette request otherwise.
"""

from __future__ import annotations

import sys

import azure.functions as func

from .attribute_reading import read_attribute

__all__ = ["request_line", "response_status"]

_STARLETTE_REQUESTS = "starlette.requests"
_STARLETTE_RESPONSES = "starlette.responses"


def _starlette_class(module_name: str, name: str) -> type | None:
    cls = getattr(sys.modules.get(module_name), name, None)
    return cls if isinstance(cls, type) else None


def request_line(value: object) -> tuple[object, object] | None:
    """(method, full URL) of an HTTP trigger's request argument, or None when `value` is not a request. Each is
    read on its own (None when it cannot be read), so a request whose method cannot be read still tells its URL."""
    if isinstance(value, func.HttpRequest):
        return read_attribute(value, "method"), read_attribute(value, "url")
    request = _starlette_class(_STARLETTE_REQUESTS, "Request")
    if request is not None and isinstance(value, request):
        try:
            return str(value.method), str(value.url)  # type: ignore[attr-defined]
        except Exception:  # a request whose scope lacks what a URL needs
            return None
    return None


def response_status(result: object) -> int | None:
    """The status code of a Starlette response a function returned under HTTP streaming, else None."""
    response = _starlette_class(_STARLETTE_RESPONSES, "Response")
    if response is None or not isinstance(result, response):
        return None
    status = getattr(result, "status_code", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None
