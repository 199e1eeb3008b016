import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

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


def _report_part(part: int) -> int:
    logging.info("report part %d computed on a worker thread", part)
    return part * part


@app.route(route="report")
def report(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("report requested")
    # Work on threads the function starts: the worker cannot tell which invocation their logs belong to.
    with ThreadPoolExecutor(max_workers=2) as pool:
        total = sum(pool.map(_report_part, range(4)))
    return func.HttpResponse(f"report total {total}", mimetype="text/plain")


@app.route(route="checkout")
def checkout(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("checkout for cart %s", req.params.get("cart", "default"))
    if req.params.get("fail"):
        raise RuntimeError("payment service unavailable")
    return func.HttpResponse("checked out", mimetype="text/plain")
