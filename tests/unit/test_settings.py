"""Settings: app settings with one warning for a bad value, configure() options with a clear error."""

from __future__ import annotations

import logging

import pytest

from funcscope import FunctionOptions, Settings
from funcscope.shared.diagnostics import forget_reports
from funcscope.shared.settings import (
    DEFAULT_INSTRUMENTED,
    otlp_protocol,
    otlp_signal_configured,
    worker_exports_telemetry,
)


@pytest.fixture(autouse=True)
def _fresh_reports():
    forget_reports()
    yield
    forget_reports()


def test_defaults():
    assert Settings.from_env({}) == Settings(enabled=True, sample_ratio=1.0, middleware=())


def test_from_env():
    s = Settings.from_env({"FUNCSCOPE_ENABLED": "false", "FUNCSCOPE_SAMPLE_RATIO": "0.25"})
    assert (s.enabled, s.sample_ratio) == (False, 0.25)


@pytest.mark.parametrize(
    "env, field, default",
    [
        ({"FUNCSCOPE_ENABLED": "maybe"}, "enabled", True),
        ({"FUNCSCOPE_SAMPLE_RATIO": "lots"}, "sample_ratio", 1.0),
        ({"FUNCSCOPE_SAMPLE_RATIO": "1.5"}, "sample_ratio", 1.0),
        ({"FUNCSCOPE_SAMPLE_RATIO": "-0.1"}, "sample_ratio", 1.0),
        ({"FUNCSCOPE_SPAN_KIND": "server"}, "span_kind", "internal"),
        ({"FUNCSCOPE_LOGS": "both"}, "logs", "auto"),
        ({"FUNCSCOPE_INSTRUMENT": "requests,curl"}, "instrument", DEFAULT_INSTRUMENTED),
    ],
)
def test_bad_env_value_gives_default_and_one_warning(env, field, default, caplog):
    caplog.set_level(logging.WARNING, logger="funcscope")
    for _ in range(3):
        assert getattr(Settings.from_env(env), field) == default
    warnings = [r.getMessage() for r in caplog.records if r.name == "funcscope"]
    assert len(warnings) == 1 and next(iter(env)) in warnings[0]


def test_with_options():
    class Mw:
        def before(self, invocation): ...

    mw = Mw()
    s = Settings().with_options(sample_ratio=0, middleware=[mw])
    assert s.sample_ratio == 0.0 and s.middleware == (mw,)


@pytest.mark.parametrize(
    "options, error, text",
    [
        ({"sampel_ratio": 0.5}, TypeError, "sampel_ratio"),
        ({"sample_ratio": 2}, ValueError, "sample_ratio"),
        ({"sample_ratio": "0.5"}, ValueError, "sample_ratio"),
        ({"enabled": "yes"}, TypeError, "enabled"),
        ({"middleware": "trace"}, TypeError, "middleware"),
        ({"middleware": [object()]}, TypeError, "before()"),
        ({"span_kind": "server"}, ValueError, "span_kind"),
        ({"logs": "both"}, ValueError, "logs"),
        ({"instrument": "requests"}, TypeError, "instrument"),
        ({"instrument": ["requests", "curl"]}, ValueError, "'curl'"),
        ({"azure_monitor_storage": 3}, TypeError, "azure_monitor_storage"),
        ({"connection_string": {"key": "k"}}, TypeError, "connection_string"),
        ({"credential": "secret"}, TypeError, "token credential"),
        ({"opencensus": "yes"}, TypeError, "opencensus"),
    ],
)
def test_bad_options_raise_clearly(options, error, text):
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        Settings().with_options(**options)


def test_azure_monitor_options_in_code():
    class Credential:
        def get_token(self, *scopes, **kwargs): ...

    credential = Credential()
    s = Settings().with_options(connection_string="InstrumentationKey=k", credential=credential, opencensus=True)
    assert (s.connection_string, s.credential, s.opencensus) == ("InstrumentationKey=k", credential, True)


def test_function_options_validation():
    assert FunctionOptions(sample_ratio=0.5, attributes={"team": "a"}).attributes == {"team": "a"}
    with pytest.raises(ValueError):
        FunctionOptions(sample_ratio=3)
    with pytest.raises(TypeError):
        FunctionOptions(attributes={1: "x"})
    with pytest.raises(TypeError):
        FunctionOptions(tracing="off")


def test_telemetry_settings_from_env():
    s = Settings.from_env(
        {
            "FUNCSCOPE_SPAN_KIND": "Trigger",
            "FUNCSCOPE_LOGS": "export",
            "FUNCSCOPE_INSTRUMENT": "httpx, requests,httpx",
            "FUNCSCOPE_AZURE_MONITOR_STORAGE": "none",
        }
    )
    assert (s.span_kind, s.logs, s.instrument, s.azure_monitor_storage) == (
        "trigger",
        "export",
        ("httpx", "requests"),
        "none",
    )
    assert Settings.from_env({"FUNCSCOPE_INSTRUMENT": "none"}).instrument == ()
    # the contrib instrumentations' own switch takes libraries out of the default
    disabled = Settings.from_env({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests, azure_sdk"}).instrument
    assert disabled == tuple(n for n in DEFAULT_INSTRUMENTED if n not in ("requests", "azure_sdk"))


def test_worker_opentelemetry_mode():
    assert worker_exports_telemetry({"PYTHON_ENABLE_OPENTELEMETRY": "True"})
    assert not worker_exports_telemetry({"PYTHON_ENABLE_OPENTELEMETRY": "false"})
    assert not worker_exports_telemetry({})


def test_otlp_protocol_per_signal_then_shared_then_default(caplog):
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/protobuf"}
    assert [otlp_protocol(s, env) for s in ("traces", "metrics", "logs")] == ["grpc", "grpc", "http/protobuf"]
    assert otlp_protocol("traces", {}) == "http/protobuf"
    caplog.set_level(logging.WARNING, logger="funcscope")
    for _ in range(3):
        assert otlp_protocol("traces", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}) == "http/protobuf"
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "funcscope"]
    assert "http/json" in warning and "grpc" in warning


def test_otlp_signal_configured_by_shared_or_own_endpoint():
    assert otlp_signal_configured("logs", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    own = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}
    assert otlp_signal_configured("traces", own) and not otlp_signal_configured("metrics", own)


DISABLED_CHILD = """
import json, logging

said = []


class Collect(logging.Handler):
    def emit(self, record):
        said.append(record.getMessage())


logging.getLogger("funcscope").addHandler(Collect())
import funcscope

funcscope.configure()
from opentelemetry import metrics, trace

print(json.dumps({
    "tracer_provider": type(trace.get_tracer_provider()).__name__,
    "meter_provider": type(metrics.get_meter_provider()).__name__,
    "said": said,
}))
"""


def test_disabled_funcscope_sets_nothing_up_and_says_nothing(tmp_path):
    """FUNCSCOPE_ENABLED=false: no provider, exporter or the Azure Monitor distro set up, no warning about one."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNCSCOPE_", "OTEL_", "APPLICATIONINSIGHTS_"))}
    env.update(
        FUNCSCOPE_ENABLED="false",
        APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",
        APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED="true",
        TMPDIR=str(tmp_path),
    )
    done = subprocess.run(
        [sys.executable, "-c", DISABLED_CHILD], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"tracer_provider": "ProxyTracerProvider", "meter_provider": "_ProxyMeterProvider", "said": []}
