"""The OpenCensus drop-in: `OpenCensusExtension`, in place of `opencensus-extension-azure-functions`.

Users import it as `from funcscope.opencensus import OpenCensusExtension` (that import registers it). `extension`
holds the worker extension and the mapping of the original's `configure()` options; `tracer` the OpenCensus tracer
and span API over OpenTelemetry that each invocation gets as `context.tracer`.
"""
