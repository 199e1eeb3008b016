"""Process-wide patches, each module with `instrument()` / `uninstrument()`: context propagation into threads
and pools, log enrichment, the classic worker's on-error path, and the wrapping of every function where the
worker runs no extension hooks."""
