import azure.functions as func

from ..shared_setup import delivered


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(delivered.hello("Hello"))
