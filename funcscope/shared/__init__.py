"""Pure helpers shared by every entry point: settings, the invocation snapshot, trigger classification,
the host's trace context and the middleware pipeline. Nothing here registers an extension."""
