"""The resource of the providers funcscope sets up: the Azure Functions site, region and instance, and a
per-process `service.instance.id`."""

from __future__ import annotations

import os
import uuid

from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.semconv._incubating.attributes.cloud_attributes import (
    CLOUD_PLATFORM,
    CLOUD_PROVIDER,
    CloudPlatformValues,
    CloudProviderValues,
)
from opentelemetry.semconv.attributes.service_attributes import SERVICE_NAME

__all__ = ["PROCESS_INSTANCE_ID", "build_resource", "renew_process_instance_id"]

SERVICE_INSTANCE_ID = "service.instance.id"
PROCESS_INSTANCE_ID = str(uuid.uuid4())  # one per worker process, so processes of one instance are told apart


def renew_process_instance_id() -> str:
    """A new `PROCESS_INSTANCE_ID`, for a forked child (a process of its own)."""
    global PROCESS_INSTANCE_ID
    PROCESS_INSTANCE_ID = str(uuid.uuid4())
    return PROCESS_INSTANCE_ID


def build_resource(service_name: str | None = None) -> Resource:
    """The Azure Functions resource (site name, region, instance) with a per-process `service.instance.id`.

    `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` override what is detected; `service_name` overrides all.
    """
    from opentelemetry.resource.detector.azure.functions import AzureFunctionsResourceDetector

    ours = Resource(
        {
            SERVICE_INSTANCE_ID: PROCESS_INSTANCE_ID,
            CLOUD_PROVIDER: CloudProviderValues.AZURE.value,
            CLOUD_PLATFORM: CloudPlatformValues.AZURE_FUNCTIONS.value,
        }
    )
    site = os.environ.get("WEBSITE_SITE_NAME")
    if site:
        ours = ours.merge(Resource({SERVICE_NAME: site}))
    # The detector knows the site, region and instance; its cloud.platform predates the current semantic
    # conventions ("azure_functions"), so funcscope's own values go on top, and the user's settings above all.
    resource = Resource.create().merge(AzureFunctionsResourceDetector().detect()).merge(ours)
    resource = resource.merge(OTELResourceDetector().detect())
    if service_name:
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    return resource
