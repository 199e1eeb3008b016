"""The azure_monitor_storage setting: the exporter's own directory by default, a directory of the user's, or none."""

from __future__ import annotations

import os

from funcscope.telemetry.azure_monitor import storage_directory, storage_options

KEY = "00000000-0000-0000-0000-000000000000"


def test_options_per_setting(tmp_path):
    assert storage_options(None) == {}
    assert storage_options("None") == {"disable_offline_storage": True}
    assert storage_options(str(tmp_path)) == {"storage_directory": str(tmp_path)}


def test_where_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", f"InstrumentationKey={KEY}")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    default = storage_directory(None)
    assert default is not None and default.startswith(str(tmp_path) + os.sep)
    assert default.endswith(f"opentelemetry-python-{KEY}") and "Microsoft-AzureMonitor-" in default
    assert storage_directory("none") is None
    assert storage_directory(str(tmp_path / "retry")) == str(tmp_path / "retry")
