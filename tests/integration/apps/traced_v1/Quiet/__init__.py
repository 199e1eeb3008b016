import azure.functions as func
from opentelemetry import trace

from funcscope import FunctionScope

from .. import shared_setup  # noqa: F401

scope = FunctionScope(__file__, tracing=False)


def main(timer: func.TimerRequest) -> str:
    return format(trace.get_current_span().get_span_context().span_id, "016x")
