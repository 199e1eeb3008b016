"""The app `funcscope demo` runs: funcscope's two lines, and functions whose telemetry shows what it does."""

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import azure.functions as func
from opentelemetry import trace

import funcscope

funcscope.configure()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
log = logging.getLogger("shop")
tracer = trace.get_tracer("shop")


def _price(item: str) -> int:
    # On a pool thread the function started: its span and log belong to the invocation only if someone carries
    # the invocation's context here.
    with tracer.start_as_current_span("price"):
        log.info("pricing %s", item)
        return len(item)


@app.route(route="quote", methods=["POST"])
def quote(req: func.HttpRequest) -> func.HttpResponse:
    items = req.get_json().get("items", []) if req.get_body() else []
    with ThreadPoolExecutor(max_workers=2) as pool:
        total = sum(pool.map(_price, items))
    log.info("quoted %d items", len(items))
    return func.HttpResponse(f"{total}")


@app.route(route="stock/{sku}")
async def stock(req: func.HttpRequest) -> func.HttpResponse:
    sku = req.route_params.get("sku")

    async def ask(warehouse: str) -> None:
        # Each in its own task.
        with tracer.start_as_current_span(f"ask {warehouse}"):
            await asyncio.sleep(0.001)
            log.info("%s has %s", warehouse, sku)

    await asyncio.gather(ask("north"), ask("south"))
    return func.HttpResponse("in stock")


@app.route(route="checkout", methods=["POST"])
def checkout(req: func.HttpRequest) -> func.HttpResponse:
    log.info("charging the card")
    raise RuntimeError("payment service unavailable")


@app.route(route="health")
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("degraded", status_code=503)


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
def ship(msg: func.QueueMessage) -> None:
    courier = threading.Thread(target=log.info, args=("courier booked for %s", msg.id))
    courier.start()
    courier.join()


@app.timer_trigger(schedule="0 0 2 * * *", arg_name="timer", run_on_startup=False)
def nightly(timer: func.TimerRequest) -> None:
    log.info("nightly clean-up (past due: %s)", timer.past_due)
