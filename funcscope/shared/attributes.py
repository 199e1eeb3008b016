"""Attribute names funcscope sets beyond the semantic conventions (which are imported from the semconv package)."""

RETRY_COUNT = "azure.functions.retry.count"
RETRY_MAX_COUNT = "azure.functions.retry.max_count"
RETRY_IS_FINAL = "azure.functions.retry.is_final"
INVALID_TRACEPARENT = "azure.functions.invalid_traceparent"  # why the host's traceparent was not used
ABANDONED = "azure.functions.invocation.abandoned"  # why the invocation was ended without the worker saying so
