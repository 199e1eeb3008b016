"""Does a tracer provider's sampler follow the host? A plain check, for set-up and for `funcscope doctor`.

funcscope samples an invocation exactly when the host's `traceparent` says so, and starts no span for an
invocation the host did not sample. The provider's sampler decides again for every span, funcscope's and the
app's: one that is not parent-based drops sampled invocations (the Azure Monitor distro's default, rate-limited,
ignores a remote parent above about 5 spans per second) or keeps spans of traces the host dropped. The
Application Insights ratio sampler is accepted: it decides by a hash of the trace id, the same algorithm the
host's Application Insights sampling uses, so both keep the same traces at the same ratio.
"""

from __future__ import annotations

from opentelemetry.sdk.trace.sampling import ParentBased

__all__ = ["sampler_finding"]


def _describe(sampler: object) -> str:
    try:
        return f"{type(sampler).__name__} ({sampler.get_description()})"  # type: ignore[attr-defined]
    except Exception:
        return type(sampler).__name__


def sampler_finding(tracer_provider: object) -> str | None:
    """None when `tracer_provider`'s sampler follows the host's sampled flag (or is not an SDK sampler funcscope
    can read); else one message that names the sampler and the fix."""
    sampler = getattr(tracer_provider, "sampler", None)
    if sampler is None:
        return None
    # By name: the Azure Monitor exporter need not be imported to recognise its sampler.
    if isinstance(sampler, ParentBased) or type(sampler).__name__ == "ApplicationInsightsSampler":
        return None
    return (
        f"the tracer provider's sampler {_describe(sampler)} is not parent-based, so it does not follow "
        "the host's sampled flag: invocation spans of sampled requests may be dropped, and spans of requests the "
        "host did not sample kept. Set OTEL_TRACES_SAMPLER=parentbased_always_on (for the Azure Monitor distro's "
        "ratio: OTEL_TRACES_SAMPLER=microsoft.fixed_percentage with OTEL_TRACES_SAMPLER_ARG=<ratio>) before the "
        "provider is created."
    )
