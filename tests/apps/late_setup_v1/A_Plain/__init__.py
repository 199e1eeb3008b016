"""Does not import the app's funcscope set-up, and is loaded first."""

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("plain")
