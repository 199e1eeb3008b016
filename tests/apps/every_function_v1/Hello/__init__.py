import azure.functions as func

from .. import children, shared_setup  # noqa: F401


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    children.sync_children()
    children.log.info("log from the function")
    return func.HttpResponse(context.invocation_id)
