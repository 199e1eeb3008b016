import asyncio

import azure.functions as func
import rwfacts

import funcscope

funcscope.configure()
rwfacts.record("ahello")


async def main(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse("ahello")
