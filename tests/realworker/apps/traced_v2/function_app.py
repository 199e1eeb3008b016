"""A v2 app traced by funcscope's app-level extension, between two recording extensions."""

import logging

import azure.functions as func
import rwrecord
import rwwork

import funcscope

AppFirst = rwrecord.app_recorder("AppFirst", __name__)
funcscope.configure()
AppLast = rwrecord.app_recorder("AppLast", __name__)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
log = logging.getLogger("rwapp")


@app.route(route="hello")
def hello(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return rwwork.run_sync(req, context)


@app.route(route="ahello")
async def ahello(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return await rwwork.run_async(req, context)


def _retry_seen(context):
    inv = funcscope.current()
    rc = context.retry_context
    failure = getattr(rc, "rpc_exception", None)
    seen = {
        "count": inv.retry.count,
        "max_count": inv.retry.max_count,
        "is_final": inv.retry.is_final,
        "previous_failure": inv.retry.previous_failure,
        "worker_retry_type": type(rc).__name__,
        "worker_retry_count": rc.retry_count,
        "worker_max_retry_count": rc.max_retry_count,
        "worker_failure_message": getattr(failure, "message", None),
        "worker_has_exception_attr": hasattr(rc, "exception"),
    }
    rwrecord.record("function", context, retry_seen=seen)
    log.info("retry seen for %s", context.invocation_id)
    return seen


@app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:01")
@app.event_hub_message_trigger(arg_name="event", event_hub_name="readings", connection="EventHubConnection")
def retried(event: func.EventHubEvent, context: func.Context) -> None:
    seen = _retry_seen(context)
    if event.get_body() == b"fail":
        raise RuntimeError(f"attempt {seen['count']} failed for {context.invocation_id}")


@app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:01")
@app.event_hub_message_trigger(arg_name="event", event_hub_name="areadings", connection="EventHubConnection")
async def aretried(event: func.EventHubEvent, context: func.Context) -> None:
    seen = _retry_seen(context)
    if event.get_body() == b"fail":
        raise RuntimeError(f"attempt {seen['count']} failed for {context.invocation_id}")


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
def on_order(msg: func.QueueMessage, context: func.Context) -> None:
    rwrecord.record("function", context, message_id=msg.id, body=msg.get_body().decode())
    if msg.get_body() == b"poison":
        raise RuntimeError("cannot process this order")


@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")
def tick(timer: func.TimerRequest, context: func.Context) -> None:
    rwrecord.record("function", context, past_due=timer.past_due)
