import azure.functions as func
import rwfacts

import funcscope

funcscope.configure()
rwfacts.record("hello")


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello")
