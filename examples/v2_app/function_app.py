"""A v2 app traced by funcscope: the two lines at the top are all it takes."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import azure.functions as func

import funcscope

funcscope.configure()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
log = logging.getLogger("orders")


def price(item: str) -> float:
    # Runs on a pool thread: funcscope carries the invocation here, so this log reaches the host attributed.
    log.info("pricing %s", item)
    return float(len(item))


@app.route(route="quote", methods=["POST"])
def quote(req: func.HttpRequest) -> func.HttpResponse:
    items = (req.get_json() or {}).get("items", []) if req.get_body() else []
    with ThreadPoolExecutor(max_workers=4) as pool:
        total = sum(pool.map(price, items))
    return func.HttpResponse(f"{total:.2f}")


@app.route(route="status")
@funcscope.function(sample_ratio=0.01, attributes={"endpoint.kind": "health"})
async def status(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.to_thread(log.info, "status checked")
    return func.HttpResponse("ok")


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
@app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:05")
def ship(msg: func.QueueMessage) -> None:
    attempt = funcscope.current()
    log.info("shipping %s (attempt %d, final: %s)", msg.id, attempt.retry.count, attempt.retry.is_final)
    if msg.get_body() == b"broken":
        raise RuntimeError("carrier rejected the order")
