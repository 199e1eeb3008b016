"""Where funcscope's telemetry goes: the OpenTelemetry providers and exporters, and bounded flushing."""
