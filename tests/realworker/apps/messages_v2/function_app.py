"""A v2 app with Service Bus and Event Hubs triggers, one message at a time and in batches."""

import typing

import azure.functions as func

import funcscope

funcscope.configure()

app = func.FunctionApp()


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
