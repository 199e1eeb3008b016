"""A v2 app that never calls funcscope.configure(): only its decorated function is traced."""

import azure.functions as func

import funcscope

app = func.FunctionApp()


@app.route(route="plain")
def plain(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("plain")


@app.route(route="decorated")
@funcscope.function
def decorated(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("decorated")
