import azure.functions as func

from funcscope import FunctionScope

from .. import shared_setup  # noqa: F401

scope = FunctionScope(__file__, attributes={"team": "v1"})


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")
