import azure.functions as func

from funcscope import FunctionScope

from .. import children, shared_setup  # noqa: F401

scope = FunctionScope(__file__, attributes={"team": "v1"})


async def main(req: func.HttpRequest) -> func.HttpResponse:
    children.log.info("log from the function")
    return func.HttpResponse("ok")
