import asyncio
import logging

import azure.functions as func

bp = func.Blueprint()


@bp.service_bus_queue_trigger(arg_name="msg", queue_name="payments", connection="ServiceBusConnection")
async def handle_payment(msg: func.ServiceBusMessage) -> None:
    await asyncio.sleep(0)
    logging.info("handle_payment got message %s (delivery %s)", msg.message_id, msg.delivery_count)


@bp.event_hub_message_trigger(arg_name="event", event_hub_name="telemetry", connection="EventHubConnection")
def ingest_telemetry(event: func.EventHubEvent) -> None:
    logging.info("ingest_telemetry got %d bytes", len(event.get_body()))


@bp.blob_trigger(arg_name="blob", path="uploads/{name}", connection="AzureWebJobsStorage")
def on_upload(blob: func.InputStream) -> None:
    logging.info("on_upload got %s (%s bytes)", blob.name, blob.length)
