import azure.functions as func

from ..shared_setup import delivered


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(await delivered.ahello("AsyncHello"))
