"""The resource funcscope gives the providers it configures."""

from __future__ import annotations

import pytest

from funcscope.telemetry.resource import PROCESS_INSTANCE_ID, build_resource


@pytest.fixture
def on_functions(monkeypatch):
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FUNCTIONS_WORKER_RUNTIME", "python")
    monkeypatch.setenv("WEBSITE_SITE_NAME", "orders-app")
    monkeypatch.setenv("REGION_NAME", "West Europe")
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "instance-7")
    return monkeypatch


def test_azure_functions_resource(on_functions):
    attrs = build_resource().attributes
    assert attrs["service.name"] == "orders-app"
    assert attrs["cloud.region"] == "West Europe" and attrs["faas.instance"] == "instance-7"
    assert attrs["cloud.provider"] == "azure" and attrs["cloud.platform"] == "azure.functions"
    assert attrs["service.instance.id"] == PROCESS_INSTANCE_ID


def test_user_settings_win(on_functions):
    on_functions.setenv("OTEL_SERVICE_NAME", "orders")
    on_functions.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,cloud.region=custom")
    attrs = build_resource().attributes
    assert attrs["service.name"] == "orders" and attrs["deployment.environment"] == "staging"
    assert attrs["cloud.region"] == "custom"
    assert build_resource(service_name="explicit").attributes["service.name"] == "explicit"


def test_outside_azure(monkeypatch):
    for name in ("FUNCTIONS_WORKER_RUNTIME", "WEBSITE_SITE_NAME", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    attrs = build_resource().attributes
    assert attrs["service.name"].startswith("unknown_service")
    assert attrs["cloud.platform"] == "azure.functions" and "service.instance.id" in attrs
