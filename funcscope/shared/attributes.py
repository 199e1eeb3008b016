"""Attribute names funcscope sets beyond the semantic conventions (which are imported from the semconv package)."""

RETRY_COUNT = "azure.functions.retry.count"
RETRY_MAX_COUNT = "azure.functions.retry.max_count"
RETRY_IS_FINAL = "azure.functions.retry.is_final"
INVALID_TRACEPARENT = "azure.functions.invalid_traceparent"  # why the host's traceparent was not used
ABANDONED = "azure.functions.invocation.abandoned"  # why the invocation was ended without the worker saying so
STREAM_OUTCOME = "azure.functions.http.stream.outcome"  # how a streamed response ended: completed, failed, ...
TIME_TO_FIRST_BYTE = "azure.functions.http.stream.time_to_first_byte"  # seconds from the invocation's start
DURABLE_FUNCTION_TYPE = "azure.functions.durable.function_type"  # orchestrator, activity or entity
DURABLE_INSTANCE_ID = "azure.functions.durable.instance_id"  # the orchestration's (or entity's: @name@key)
DURABLE_PARENT_INSTANCE_ID = "azure.functions.durable.parent_instance_id"  # a sub-orchestration's parent
DURABLE_REPLAYED_STEPS = "azure.functions.durable.replayed_steps"  # orchestrator steps this invocation replayed
DURABLE_IS_REPLAYING = "azure.functions.durable.is_replaying"  # on the span of replayed steps (replays="mark")
DURABLE_OPERATION_COUNT = "azure.functions.durable.operation_count"  # operations in an entity's batch
