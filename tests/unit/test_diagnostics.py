"""funcscope's messages carry one prefix: the `funcscope` logger's name, or inside the Functions host (which shows
a record's message alone) `funcscope: ` at the start of the text."""

from __future__ import annotations

import logging

import pytest

from funcscope.shared.diagnostics import forget_reports, report_once


@pytest.fixture
def said(monkeypatch):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    logging.getLogger("funcscope").addHandler(handler)
    forget_reports()
    yield records
    logging.getLogger("funcscope").removeHandler(handler)
    forget_reports()


def test_the_logger_name_is_the_prefix_outside_the_host(said, monkeypatch):
    monkeypatch.delenv("FUNCTIONS_WORKER_RUNTIME", raising=False)
    report_once(("t", "1"), "no exporter is configured")
    report_once(("t", "2"), "funcscope: written in the older style")
    formatter = logging.Formatter(logging.BASIC_FORMAT)
    assert [formatter.format(r) for r in said] == [
        "WARNING:funcscope:no exporter is configured",
        "WARNING:funcscope:written in the older style",
    ]


def test_inside_the_host_the_message_says_who_speaks(said, monkeypatch):
    monkeypatch.setenv("FUNCTIONS_WORKER_RUNTIME", "python")
    report_once(("t", "1"), "no exporter is configured")
    report_once(("t", "2"), "funcscope: written in the older style")
    assert [r.getMessage() for r in said] == [
        "funcscope: no exporter is configured",
        "funcscope: written in the older style",
    ]
