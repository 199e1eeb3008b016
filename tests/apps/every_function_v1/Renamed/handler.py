import azure.functions as func

import funcscope

from .. import children, shared_setup  # noqa: F401


@funcscope.function(attributes={"decorated": True})
def handle(req: func.HttpRequest) -> func.HttpResponse:
    children.log.info("log from the function")
    return func.HttpResponse("ok")
