import azure.functions as func

from .. import children, shared_setup  # noqa: F401


async def main(req: func.HttpRequest) -> func.HttpResponse:
    await children.async_children()
    children.log.info("log from the function")
    return func.HttpResponse("ok")
