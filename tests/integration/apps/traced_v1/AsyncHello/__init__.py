import asyncio

import azure.functions as func
from opentelemetry import trace

from .. import shared_setup  # noqa: F401


async def main(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    if req.params.get("fail"):
        raise ValueError("AsyncHello failed as asked")
    span = trace.get_current_span().get_span_context()
    return func.HttpResponse(format(span.span_id, "016x"))
