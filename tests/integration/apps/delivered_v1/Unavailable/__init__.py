import azure.functions as func

from ..shared_setup import delivered


def main(req: func.HttpRequest) -> func.HttpResponse:
    delivered.quiet("Unavailable")
    return func.HttpResponse("try again later", status_code=503)
