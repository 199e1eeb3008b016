"""A v2 Durable Functions app: an orchestrator calling activities in turn, logging and tracing in its own code
(which every episode replays), the activity and an entity from a blueprint."""

import logging

import azure.durable_functions as df
from opentelemetry import trace

import funcscope

funcscope.configure()

app = df.DFApp()
bp = df.Blueprint()
log = logging.getLogger("rwapp")
tracer = trace.get_tracer("rwapp")


@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    greetings = []
    for city in context.get_input():
        log.info("asking for %s", city)
        with tracer.start_as_current_span(f"ask {city}"):
            pass
        greetings.append((yield context.call_activity("say_hello", city)))
    return greetings


@bp.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}"


@bp.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext):
    context.set_state(context.get_state(lambda: 0) + 1)


app.register_functions(bp)
