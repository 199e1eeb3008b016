"""A v2 test app with message triggers (Service Bus, Event Hubs, Event Grid, Kafka), one at a time and in
batches, a Cosmos DB trigger, a blob trigger and an SDK-type one."""

import logging
import typing

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

import funcscope
from tests.integration import capture

capture.install()
funcscope.configure()

app = func.FunctionApp()
log = logging.getLogger("messages_v2")


@app.service_bus_queue_trigger(arg_name="msg", queue_name="orders", connection="ServiceBusConnection")
def orders(msg: func.ServiceBusMessage) -> None:
    log.info("order %s", msg.message_id)


@app.service_bus_topic_trigger(
    arg_name="msgs",
    topic_name="events",
    subscription_name="audit",
    connection="ServiceBusConnection",
    cardinality=func.Cardinality.MANY,
)
def audit(msgs: typing.List[func.ServiceBusMessage]) -> None:  # noqa: UP006 - the worker refuses list[...]
    log.info("audit batch of %d", len(msgs))


@app.event_hub_message_trigger(
    arg_name="event", event_hub_name="%TELEMETRY_HUB%", connection="EventHubConnection", consumer_group="cg"
)
async def telemetry(event: func.EventHubEvent) -> None:
    log.info("telemetry event %s", event.sequence_number)


@app.event_hub_message_trigger(
    arg_name="events", event_hub_name="telemetry", connection="EventHubConnection", cardinality=func.Cardinality.MANY
)
def telemetry_batch(events: typing.List[func.EventHubEvent]) -> None:  # noqa: UP006 - as above
    log.info("telemetry batch of %d", len(events))


@app.event_grid_trigger(arg_name="event")
def grid(event: func.EventGridEvent) -> None:
    log.info("grid event %s", event.id)


@app.blob_trigger(arg_name="client", path="uploads/{name}", connection="AzureWebJobsStorage")
def uploaded(client: blob.BlobClient) -> None:
    # An SDK type funcscope does not import: the binding metadata says it is a blob trigger on "uploads".
    log.info("uploaded %s/%s", client.container_name, client.blob_name)


@app.kafka_trigger(arg_name="record", topic="clicks", broker_list="BrokerList", consumer_group="web")
def clicks(record: func.KafkaEvent) -> None:
    log.info("click at offset %s", record.offset)


@app.kafka_trigger(arg_name="records", topic="clicks", broker_list="BrokerList", cardinality=func.Cardinality.MANY)
def clicks_batch(records: typing.List[func.KafkaEvent]) -> None:  # noqa: UP006 - as above
    log.info("clicks batch of %d", len(records))


@app.cosmos_db_trigger(
    arg_name="docs",
    database_name="shop",
    container_name="carts",
    connection="CosmosConnection",
    lease_container_name="leases",
)
def carts(docs: func.DocumentList) -> None:
    log.info("%d carts changed", len(docs))


@app.blob_trigger(arg_name="stream", path="imports/{name}", connection="AzureWebJobsStorage")
def imported(stream: func.InputStream) -> None:
    log.info("imported %s, %d bytes", stream.name, len(stream.read()))


@app.blob_trigger(arg_name="download", path="downloads/{name}", connection="BlobStore")
def downloaded(download: blob.StorageStreamDownloader) -> None:
    log.info("downloaded %s, %d bytes", download.name, len(download.readall()))
