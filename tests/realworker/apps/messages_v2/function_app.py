"""A v2 app with message triggers (Service Bus, Event Hubs, Kafka, Event Grid), one message at a time and in batches,
a Cosmos DB trigger and blob triggers of SDK types (`azurefunctions-extensions-bindings-blob`)."""

import logging
import typing

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

import funcscope

funcscope.configure()

app = func.FunctionApp()
log = logging.getLogger("messages_v2")


@app.service_bus_queue_trigger(arg_name="msg", queue_name="orders", connection="ServiceBusConnection")
def orders(msg: func.ServiceBusMessage) -> None:
    pass


@app.service_bus_topic_trigger(
    arg_name="msgs",
    topic_name="events",
    subscription_name="audit",
    connection="ServiceBusConnection",
    cardinality=func.Cardinality.MANY,
)
def audit(msgs: typing.List[func.ServiceBusMessage]) -> None:  # noqa: UP006 - the worker refuses list[...]
    pass


@app.event_hub_message_trigger(
    arg_name="event", event_hub_name="telemetry", connection="EventHubConnection", consumer_group="cg"
)
async def telemetry(event: func.EventHubEvent) -> None:
    pass


@app.event_hub_message_trigger(
    arg_name="events", event_hub_name="telemetry", connection="EventHubConnection", cardinality=func.Cardinality.MANY
)
def telemetry_batch(events: typing.List[func.EventHubEvent]) -> None:  # noqa: UP006 - as above
    pass


@app.blob_trigger(arg_name="client", path="uploads/{name}", connection="AzureWebJobsStorage")
def uploaded(client: blob.BlobClient) -> None:
    log.info("uploaded %s/%s", client.container_name, client.blob_name)


@app.blob_trigger(arg_name="stream", path="imports/{name}", connection="AzureWebJobsStorage")
def imported(stream: func.InputStream) -> None:
    log.info("imported %s, %d bytes", stream.name, len(stream.read()))


@app.blob_trigger(arg_name="download", path="downloads/{name}", connection="BlobStore")
def downloaded(download: blob.StorageStreamDownloader) -> None:
    log.info("downloaded %s, %d bytes", download.name, len(download.readall()))


@app.blob_trigger(arg_name="container", path="archive/{name}", connection="AzureWebJobsStorage")
def archived(container: blob.ContainerClient) -> None:
    log.info("archived into %s", container.container_name)


@app.kafka_trigger(arg_name="record", topic="clicks", broker_list="BrokerList", consumer_group="web")
def clicks(record: func.KafkaEvent) -> None:
    log.info("click at offset %s", record.offset)


@app.kafka_trigger(arg_name="records", topic="clicks", broker_list="BrokerList", cardinality=func.Cardinality.MANY)
def clicks_batch(records: typing.List[func.KafkaEvent]) -> None:  # noqa: UP006 - as above
    log.info("clicks batch of %d", len(records))


@app.event_grid_trigger(arg_name="event")
def grid(event: func.EventGridEvent) -> None:
    log.info("grid event %s", event.id)


@app.cosmos_db_trigger(
    arg_name="docs",
    database_name="shop",
    container_name="carts",
    connection="CosmosConnection",
    lease_container_name="leases",
)
def carts(docs: func.DocumentList) -> None:
    log.info("%d carts changed", len(docs))
