"""Process-wide patches, each module with `instrument()` / `uninstrument()`: context propagation into threads
and pools, log enrichment, and the classic worker's on-error path."""
