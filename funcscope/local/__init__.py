"""A function app run locally with its telemetry in view: `funcscope run`, `funcscope demo`, `funcscope doctor`
and the `funcscope_app` pytest fixture (`LocalApp`)."""
