"""A v2 Durable Functions app: an orchestrator that calls three activities in turn (logging and tracing in its
own code, which every episode replays), the activity and an entity from a blueprint, and an HTTP starter."""

import logging

import azure.durable_functions as df
import azure.functions as func
from opentelemetry import trace

import funcscope
from tests.integration import capture

capture.install()
funcscope.configure()

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
bp = df.Blueprint()
log = logging.getLogger("durable_v2")
tracer = trace.get_tracer("durable_v2")


def _greet_all(context: df.DurableOrchestrationContext):
    greetings = []
    for city in context.get_input():
        log.info("asking for %s", city)
        with tracer.start_as_current_span(f"ask {city}"):
            pass
        greetings.append((yield context.call_activity("say_hello", city)))
    log.info("all %d greeted", len(greetings))
    return greetings


@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    return (yield from _greet_all(context))


@bp.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    log.info("hello %s", city)
    return f"Hello {city}"


@bp.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += 1
    context.set_state(value)


@app.route(route="start/{name}")
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], client_input=["Tokyo"])
    return func.HttpResponse(instance_id)


app.register_functions(bp)
