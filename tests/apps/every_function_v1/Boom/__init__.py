import azure.functions as func

from .. import shared_setup  # noqa: F401


def main(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("Boom failed as it always does")
