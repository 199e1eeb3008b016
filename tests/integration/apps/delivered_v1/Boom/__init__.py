import azure.functions as func

from ..shared_setup import delivered


def main(req: func.HttpRequest) -> func.HttpResponse:
    delivered.boom("Boom")
    return func.HttpResponse("never")
