import asyncio
import logging

import azure.functions as func

from ..shared_code.greeting import greet


async def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    await asyncio.sleep(0)
    name = req.params.get("name") or "async world"
    logging.info("HttpHelloAsync invocation %s", context.invocation_id)
    return func.HttpResponse(greet(name), mimetype="text/plain")
