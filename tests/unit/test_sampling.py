"""The sampler check: parent-based samplers (and the Application Insights ratio sampler, which hashes the trace id
as the host does) follow the host; any other gets one message naming it and the fix."""

from __future__ import annotations

import pytest
from azure.monitor.opentelemetry.exporter import ApplicationInsightsSampler, RateLimitedSampler
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased

from funcscope.telemetry.sampling import sampler_finding


@pytest.mark.parametrize(
    "sampler",
    [ParentBased(ALWAYS_ON), ParentBased(TraceIdRatioBased(0.1)), ApplicationInsightsSampler(0.5)],
    ids=["parentbased_always_on", "parentbased_ratio", "application_insights_ratio"],
)
def test_samplers_that_follow_the_host(sampler):
    assert sampler_finding(TracerProvider(sampler=sampler)) is None


@pytest.mark.parametrize(
    "sampler, name",
    [
        (RateLimitedSampler(5.0), "RateLimitedSampler"),
        (ALWAYS_ON, "StaticSampler"),
        (ALWAYS_OFF, "StaticSampler"),
        (TraceIdRatioBased(0.5), "TraceIdRatioBased"),
    ],
)
def test_samplers_that_do_not_name_the_sampler_and_the_fix(sampler, name):
    finding = sampler_finding(TracerProvider(sampler=sampler))
    assert finding is not None and finding.startswith("the tracer provider") and name in finding
    assert "OTEL_TRACES_SAMPLER=parentbased_always_on" in finding and "microsoft.fixed_percentage" in finding


def test_a_provider_whose_sampler_cannot_be_read_is_no_finding():
    assert sampler_finding(object()) is None


def test_reusing_a_provider_that_ignores_the_parent_warns_once(caplog):
    import logging

    import funcscope

    caplog.set_level(logging.WARNING, logger="funcscope")
    provider = TracerProvider(sampler=RateLimitedSampler(5.0))
    for _ in range(3):
        funcscope.configure(tracer_provider=provider)
    (warning,) = [r.getMessage() for r in caplog.records if "sampler" in r.getMessage()]
    assert "RateLimitedSampler" in warning and "parentbased_always_on" in warning
