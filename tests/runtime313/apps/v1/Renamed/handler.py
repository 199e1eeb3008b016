import azure.functions as func

import funcscope

from .. import shared_setup  # noqa: F401


@funcscope.function(attributes={"decorated": True})
def handle(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")
