"""`LocalApp` through the `funcscope_app` fixture, as a user's test uses it: every span from threads and tasks,
each log record with the invocation the host files it under, funcscope's metrics per invocation."""

from __future__ import annotations

import os
import textwrap

import pytest
from opentelemetry import trace

from funcscope.runtime.runner import get_runner

from .clitools import DEMO_APP

QUOTE = {"method": "POST", "body": {"items": ["tea", "coffee"]}}


def write_app(tmp_path, source, settings=None):
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    (tmp_path / "function_app.py").write_text(textwrap.dedent(source))
    if settings is not None:
        import json

        (tmp_path / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": settings}))
    return tmp_path


def test_spans_from_threads_are_children_of_the_invocation_span(funcscope_app):
    app = funcscope_app(DEMO_APP, hooks=True)
    run = app.invoke("quote", QUOTE)
    assert not run.failed and run.http_status == 200
    assert run.span is not None and run.span.name == "quote" and run.span.parent_id == run.host_span_id
    assert run.children(None) == [run.span]
    prices = run.children(run.span)
    assert [s.name for s in prices] == ["price", "price"]
    assert {s.trace_id for s in run.spans} == {run.trace_id}
    # Each log record: attributed to the invocation by the host, and logged inside the span it names.
    by_message = {e.message: e for e in run.logs}
    assert set(by_message) == {"pricing tea", "pricing coffee", "quoted 2 items"}
    assert {e.invocation_id for e in run.logs} == {run.invocation_id}
    assert by_message["quoted 2 items"].fields["span_id"] == run.span.span_id
    assert {by_message["pricing tea"].fields["span_id"], by_message["pricing coffee"].fields["span_id"]} == {
        s.span_id for s in prices
    }
    assert run.unattributed_logs == [] and run.outside_trace == []


def test_spans_from_tasks(funcscope_app):
    run = funcscope_app(DEMO_APP, hooks=True).invoke("stock", None)
    assert run.function.is_async
    assert sorted(s.name for s in run.children(run.span)) == ["ask north", "ask south"]
    assert sorted(e.message for e in run.logs) == ["north has 1", "south has 1"]


def test_metrics_of_each_invocation(funcscope_app):
    app = funcscope_app(DEMO_APP, hooks=True)
    quote = app.invoke("quote", QUOTE)
    checkout = app.invoke("checkout", {"method": "POST"})
    assert [p.value for p in quote.metric("faas.invocations", {"faas.name": "quote"})] == [1]
    assert quote.metric("faas.invoke_duration")[0].count == 1
    assert quote.metric("faas.errors") == []
    errors = checkout.metric("faas.errors", {"faas.name": "checkout"})
    assert [(p.value, p.attributes["error.type"]) for p in errors] == [(1, "RuntimeError")]
    assert checkout.metric("faas.invocations") == []  # it counts successful invocations only


def test_failures_as_the_host_counts_them(funcscope_app):
    app = funcscope_app(DEMO_APP, hooks=True)
    raised = app.invoke("checkout", {"method": "POST"})
    unhealthy = app.invoke("health", None)
    assert raised.failed and isinstance(raised.result.exception, RuntimeError)
    assert raised.span.status == "ERROR" and raised.span.events[0].name == "exception"
    assert unhealthy.failed and unhealthy.result.exception is None and unhealthy.http_status == 503
    assert unhealthy.span.status == "ERROR"


def test_funcscope_disabled_shows_what_is_lost(funcscope_app):
    app = funcscope_app(DEMO_APP, hooks=True, env={"FUNCSCOPE_ENABLED": "false"})
    run = app.invoke("quote", QUOTE)
    assert run.span is None and run.spans == []
    assert [s.name for s in run.outside_trace] == ["price", "price"]  # the app's own spans, in traces of their own
    assert sorted(e.message for e in run.unattributed_logs) == ["pricing coffee", "pricing tea"]


def test_local_settings_apply_and_the_shell_wins(funcscope_app, tmp_path, monkeypatch):
    app_dir = write_app(
        tmp_path,
        """
        import os
        import azure.functions as func

        app = func.FunctionApp()

        @app.route(route="env")
        def env(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse(os.environ.get("FROM_FILE", "") + "," + os.environ.get("FROM_BOTH", ""))
        """,
        {"FROM_FILE": "file", "FROM_BOTH": "file"},
    )
    monkeypatch.setenv("FROM_BOTH", "shell")
    monkeypatch.delenv("FROM_FILE", raising=False)
    app = funcscope_app(app_dir)
    assert app.invoke("env", None).result.value.get_body() == b"file,shell"
    app.close()
    assert "FROM_FILE" not in os.environ and os.environ["FROM_BOTH"] == "shell"


HOOKLESS = """
import azure.functions as func
import funcscope

funcscope.configure()
app = func.FunctionApp()

@app.route(route="plain")
def plain(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("plain")

@app.route(route="wrapped")
@funcscope.function
def wrapped(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("wrapped")
"""


@pytest.mark.parametrize("hooks", [True, False])
def test_hooks_on_or_off(funcscope_app, tmp_path, hooks):
    app = funcscope_app(write_app(tmp_path, HOOKLESS), hooks=hooks)
    assert app.hooks is hooks
    # The hooks run the pipeline, or without them funcscope's wrapping does: one span per invocation either way.
    for run in (app.invoke("plain", None), app.invoke("wrapped", None)):
        assert run.span is not None and [s.scope for s in run.spans] == ["funcscope"]


def test_worker_processes(funcscope_app):
    app = funcscope_app(DEMO_APP, hooks=True, process_count=2)
    runs = [app.invoke("quote", QUOTE) for _ in range(2)]
    assert {r.result.pid for r in runs} == set(app.worker.pids) and os.getpid() not in app.worker.pids
    for run in runs:
        assert [s.name for s in run.children(run.span)] == ["price", "price"]
        assert {s.pid for s in run.spans} == {run.result.pid}
        assert [p.value for p in run.metric("faas.invocations")] == [1]


def test_concurrent_invocations(funcscope_app):
    from funcscope.emulator import Call

    app = funcscope_app(DEMO_APP, hooks=True)
    runs = app.invoke_many([Call("quote", QUOTE), Call("stock", None), Call("quote", QUOTE)])
    assert [len(r.spans) for r in runs] == [3, 3, 3]
    assert len({r.trace_id for r in runs}) == 3
    assert sum(p.value for p in app.collect_metrics() if p.name == "faas.invocations") == 3


def test_everything_is_put_back(funcscope_app):
    before = get_runner().settings
    app = funcscope_app(DEMO_APP, hooks=True)
    assert get_runner().settings.tracer_provider is trace.get_tracer_provider()
    app.close()
    assert get_runner().settings == before


def test_an_app_with_its_own_sdk_provider_is_still_read(funcscope_app, tmp_path):
    app_dir = write_app(
        tmp_path,
        """
        import azure.functions as func
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider
        import funcscope

        funcscope.configure(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
        app = func.FunctionApp()

        @app.route(route="hello")
        def hello(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("hi")
        """,
    )
    app = funcscope_app(app_dir, hooks=True)
    assert app.invoke("hello", None).span is not None
    assert app.notes == [
        "the app passes its own meter_provider to funcscope.configure(), which cannot be read here: what "
        "funcscope records through it is not shown"
    ]


PRODUCER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
MESSAGES_APP = """
    import typing

    import azure.functions as func
    import funcscope

    funcscope.configure(exporter="none")
    app = func.FunctionApp()

    @app.service_bus_topic_trigger(
        arg_name="msgs", topic_name="events", subscription_name="audit", connection="SB",
        cardinality=func.Cardinality.MANY,
    )
    def audit(msgs: typing.List[func.ServiceBusMessage]) -> None:
        pass
    """


def test_the_links_to_message_producers_are_there_to_assert_on(funcscope_app, tmp_path):
    app = funcscope_app(write_app(tmp_path, MESSAGES_APP), hooks=True)
    batch = [{"message_id": "m1", "application_properties": {"traceparent": PRODUCER}}, {"message_id": "m2"}]
    run = app.invoke("audit", batch)
    assert not run.failed and run.span is not None
    (link,) = run.span.links  # the message without a trace context gets none
    assert (link.trace_id, link.span_id) == ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    assert link.attributes["messaging.message.id"] == "m1"
