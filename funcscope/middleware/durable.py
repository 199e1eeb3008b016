"""The Durable Functions middleware: which kind of Durable function an invocation is, and for an activity, the
orchestration it runs for. (Orchestrators and entities learn theirs from the framework's own objects, see
`funcscope.instrumentation.durable`.)"""

from __future__ import annotations

from opentelemetry import trace

from ..instrumentation.durable import claim_activity_instance
from ..shared import attributes as attr
from ..shared.invocation import Invocation

__all__ = ["DurableMiddleware"]


class DurableMiddleware:
    """Sets `azure.functions.durable.function_type` (and an activity's `azure.functions.durable.instance_id`) on
    the invocation span, which the trace middleware, running first, made current."""

    def before(self, invocation: Invocation) -> None:
        role = invocation.trigger.durable
        if role is None:
            return
        span = trace.get_current_span()
        span.set_attribute(attr.DURABLE_FUNCTION_TYPE, role)
        argument = invocation.trigger.argument
        if role == "activity" and argument is not None:
            instance_id = claim_activity_instance(invocation.func_args.get(argument))
            if instance_id is not None:
                span.set_attribute(attr.DURABLE_INSTANCE_ID, instance_id)
