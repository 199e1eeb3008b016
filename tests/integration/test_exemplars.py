"""Exemplars on the providers funcscope sets up for Azure Monitor: Application Insights has no place for one, so
with the distro's exporter as the only metric reader none is sampled; another reader (OTLP), or the app's own
`OTEL_METRICS_EXEMPLAR_FILTER`, keeps them. Each case in a fresh child process, which sets its providers up once.
"""

from __future__ import annotations

import pytest

from .test_export import EXPORT_ONLY_AT_EXIT, FUNCTIONS_ENV, run_child

FILTER = """
import os
from opentelemetry import metrics

with Worker(APP, extensions_enabled=True) as worker:
    result = worker.invoke("hello", http("hello"), trace_parent=host_parent(1))
provider = metrics.get_meter_provider()
report(
    ok=result.ok,
    exporters=list(get_runner().telemetry.exporters),
    exemplar_filter=type(provider._sdk_config.exemplar_filter).__name__,
    setting=os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER"),
)
"""


@pytest.mark.parametrize(
    ("otlp_too", "setting", "expected"),
    [
        (False, None, "AlwaysOffExemplarFilter"),
        (True, None, "TraceBasedExemplarFilter"),
        (False, "always_on", "AlwaysOnExemplarFilter"),
    ],
    ids=["azure-monitor alone", "with otlp", "the app's setting"],
)
def test_exemplars_only_where_an_exporter_sends_them(otlp_too, setting, expected, app_insights, otlp, tmp_path):
    env = {
        **FUNCTIONS_ENV,
        **EXPORT_ONLY_AT_EXIT,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": app_insights.connection_string(),
    }
    if otlp_too:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
    if setting is not None:
        env["OTEL_METRICS_EXEMPLAR_FILTER"] = setting
    child = run_child(FILTER, tmp_path, env)
    assert child["ok"] and child["warnings"] == []
    assert child["exporters"] == (["azure-monitor", "otlp"] if otlp_too else ["azure-monitor"])
    assert child["exemplar_filter"] == expected
    assert child["setting"] == setting  # the setting is the app's again after the set-up
