"""A v2 test app that leaves export to funcscope and calls out (see tests/integration/delivered.py)."""

import azure.functions as func

import funcscope

funcscope.configure()

from tests.integration import delivered  # noqa: E402 - imported after configure(), as an app imports its libraries

app = func.FunctionApp()


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(delivered.hello("hello"))


@app.route(route="ahello")
async def ahello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(await delivered.ahello("ahello"))


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
def on_order(msg: func.QueueMessage) -> None:
    delivered.quiet("on_order")


@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")
def tick(timer: func.TimerRequest) -> None:
    delivered.quiet("tick")


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    delivered.boom("boom")
    return func.HttpResponse("never")


@app.route(route="unavailable")
def unavailable(req: func.HttpRequest) -> func.HttpResponse:
    delivered.quiet("unavailable")
    return func.HttpResponse("try again later", status_code=503)
