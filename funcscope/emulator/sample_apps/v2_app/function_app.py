import asyncio
import logging

import azure.functions as func
from jobs_blueprint import bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(bp)


@app.route(route="hello", methods=["GET", "POST"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name") or "world"
    logging.info("hello greeting %s", name)
    return func.HttpResponse(f"Hello, {name}!", mimetype="text/plain")


@app.route(route="hello-async")
async def hello_async(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    await asyncio.sleep(0)
    logging.info("hello_async invocation %s", context.invocation_id)
    return func.HttpResponse("Hello from async!", mimetype="text/plain")


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="shipped", queue_name="shipped", connection="AzureWebJobsStorage")
def process_order(msg: func.QueueMessage, shipped: func.Out[str]) -> None:
    body = msg.get_body().decode("utf-8")
    logging.info("process_order got message %s", msg.id)
    shipped.set(f"shipped:{body}")


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
def cleanup(timer: func.TimerRequest) -> None:
    logging.info("cleanup ran (past due: %s)", timer.past_due)
