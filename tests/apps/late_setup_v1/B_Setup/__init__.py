import azure.functions as func

import funcscope

funcscope.configure()


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("set up")
