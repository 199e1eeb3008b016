import logging

import azure.functions as func

from funcscope import FunctionScope

from .. import shared_setup  # noqa: F401

scope = FunctionScope(__file__, attributes={"team": "v1"})


def main(req: func.HttpRequest, context) -> func.HttpResponse:
    if req.params.get("fail"):
        raise ValueError("Hello failed as asked")
    logging.getLogger("traced_v1").info("hello %s", context.invocation_id)
    return func.HttpResponse("hi", status_code=int(req.params.get("status", "200")))
