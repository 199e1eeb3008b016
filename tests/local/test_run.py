"""`funcscope run`, as a user runs it: the tree, the summary, the exit status, every way of choosing what runs."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from .clitools import DEMO_APP, funcscope, run_json

QUOTE = 'quote={"url": "http://localhost:7071/api/quote?code=secret-key", "body": {"items": ["tea", "coffee"]}}'


def depth(line):
    return len(line) - len(line.lstrip(" │├└─"))


def test_tree_of_every_invocation_then_a_summary():
    done = funcscope("run", str(DEMO_APP), "--payload", QUOTE)
    assert done.returncode == 1, done.stderr  # checkout raises, health answers 503
    out = done.stdout
    assert "\033[" not in out  # not a terminal: no colour
    assert "secret-key" not in out and "code=REDACTED" in out
    lines = out.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith("quote  httpTrigger"))
    host, span, *rest = lines[title + 1 : title + 12]
    assert "host  POST http://localhost:7071/api/quote?code=REDACTED" in host
    assert "quote  INTERNAL  UNSET" in span and depth(span) > depth(host)
    price = next(line for line in rest if "price  INTERNAL" in line)
    log = next(line for line in rest if "pricing tea" in line)
    assert depth(price) > depth(span) and depth(log) > depth(price)
    assert "invocation " in log and "shop: pricing tea" in log and "ThreadPoolExecutor" in log
    assert "exception RuntimeError: payment service unavailable" in out
    assert "health  INTERNAL  ERROR (HTTP 503)" in out
    summary = out[out.index("Summary") :]
    assert "6 invocations, 2 failed" in summary
    assert "6 of 6 invocations with a funcscope span in the host's trace; 10 spans in all" in summary
    assert "0 of them with no invocation id" in summary
    assert "export: none" in summary


def test_json_report():
    status, report = run_json(str(DEMO_APP), "--payload", QUOTE)
    assert status == 1 and report["failed"] == 2 and report["not_invoked"] == []
    assert report["hooks"] is True and "local.settings.json" in report["hooks_reason"]
    by_name = {i["function"]: i for i in report["invocations"]}
    assert list(by_name) == ["quote", "stock", "checkout", "health", "ship", "nightly"]
    quote = by_name["quote"]
    root = next(s for s in quote["spans"] if s["name"] == "quote")
    assert root["parent_id"] == quote["host_span_id"] and root["trace_id"] == quote["trace_id"]
    assert sorted(s["name"] for s in quote["spans"] if s["parent_id"] == root["span_id"]) == ["price", "price"]
    assert all(line["invocation_id"] == quote["invocation_id"] for line in quote["logs"])
    assert by_name["checkout"]["outcome"] == "RuntimeError: payment service unavailable"
    assert by_name["health"]["outcome"] == "HTTP 503" and by_name["health"]["failed"]
    assert by_name["ship"]["outcome"] == "ok" and not by_name["ship"]["failed"]
    points = [p for i in report["invocations"] for p in i["metrics"] if p["name"] == "faas.invocations"]
    assert sum(p["value"] for p in points) == 4


def test_named_functions_only():
    status, report = run_json(str(DEMO_APP), "stock", "nightly")
    assert status == 0 and [i["function"] for i in report["invocations"]] == ["stock", "nightly"]


def test_inside_the_app_folder_the_first_name_is_a_function():
    done = funcscope("run", "nightly", cwd=DEMO_APP)
    assert done.returncode == 0, done.stderr
    assert "nightly  timerTrigger" in done.stdout and "quote" not in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(DEMO_APP), "nope"], "no function called nope; this app has: checkout, health, nightly"),
        (["/nonexistent/app"], "app folder not found: /nonexistent/app"),
        ([str(DEMO_APP), "--payload", "{bad"], "not JSON"),
        ([str(DEMO_APP), "--json", "--export", "console"], "--json needs for itself"),
    ],
)
def test_what_cannot_run_is_one_clear_message(args, message):
    done = funcscope("run", *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.fixture
def mixed_app(tmp_path):
    (tmp_path / "host.json").write_text('{"version": "2.0", "extensions": {"http": {"routePrefix": "x"}}}')
    for name, binding in {
        "Events": {"type": "rabbitMQTrigger", "direction": "in", "name": "event"},
        "Hello": {"type": "httpTrigger", "direction": "in", "name": "req"},
    }.items():
        folder = tmp_path / name
        folder.mkdir()
        bindings = [binding] + ([{"type": "http", "direction": "out", "name": "$return"}] if name == "Hello" else [])
        (folder / "function.json").write_text(json.dumps({"bindings": bindings}))
        arg = binding["name"]
        body = "func.HttpResponse(req.url)" if name == "Hello" else "None"
        (folder / "__init__.py").write_text(
            textwrap.dedent(
                f"""
                import logging
                import azure.functions as func

                def main({arg}):
                    logging.info("got %r", {arg})
                    return {body}
                """
            )
        )
    return tmp_path


def test_nothing_is_skipped_silently(mixed_app):
    status, report = run_json(str(mixed_app))
    assert status == 0  # a trigger the emulator cannot build is listed, and fails nothing
    assert [i["function"] for i in report["invocations"]] == ["Hello"]
    assert report["invocations"][0]["request"] == "GET http://localhost:7071/x/Hello"  # host.json's routePrefix
    (skipped,) = report["not_invoked"]
    assert skipped["function"] == "Events" and "pass --payload Events=JSON" in skipped["reason"]
    assert not skipped["failed"]
    text = funcscope("run", str(mixed_app)).stdout
    assert "Events                 rabbitMQTrigger    not invoked: the worker emulator cannot build" in text

    status, report = run_json(str(mixed_app), "--payload", 'rabbitmq={"offset": 3}', "--payload", 'Hello={"url": 1}')
    assert status == 1  # a payload given for a function that it cannot take is a failure
    assert [i["function"] for i in report["invocations"]] == ["Events"]
    assert "got {'offset': 3}" in report["invocations"][0]["logs"][0]["message"]
    (bad,) = report["not_invoked"]
    assert bad["function"] == "Hello" and bad["failed"] and "'url' must be str" in bad["reason"]


def test_async_mode_runs_everything_at_once():
    status, report = run_json(str(DEMO_APP), "--mode", "async", "--payload", QUOTE)
    assert status == 1 and report["mode"] == "async" and len(report["invocations"]) == 6
    for invocation in report["invocations"]:
        assert any(s["name"] == invocation["function"] for s in invocation["spans"])
        assert all(line["invocation_id"] == invocation["invocation_id"] for line in invocation["logs"])


def test_processes_mode():
    status, report = run_json(str(DEMO_APP), "quote", "stock", "nightly", "--mode", "processes", "--payload", QUOTE)
    assert status == 0
    pids = {i["pid"] for i in report["invocations"]}
    assert len(pids) == 2 and os.getpid() not in pids
    for invocation in report["invocations"]:
        assert {s["pid"] for s in invocation["spans"]} == {invocation["pid"]}
    quote = report["invocations"][0]
    assert sorted(s["name"] for s in quote["spans"]) == ["price", "price", "quote"]


def test_hooks_off_funcscope_wraps_the_functions():
    status, report = run_json(str(DEMO_APP), "stock", "--hooks", "off")
    assert status == 0 and report["hooks"] is False and report["hooks_reason"] == "--hooks off"
    (stock,) = report["invocations"]
    root = next(s for s in stock["spans"] if s["name"] == "stock")
    assert sorted(s["name"] for s in stock["spans"] if s["parent_id"] == root["span_id"]) == ["ask north", "ask south"]
    assert stock["outside_trace"] == [] and report["notes"] == []


def test_the_shell_wins_over_local_settings():
    status, report = run_json(str(DEMO_APP), "nightly", env={"FUNCSCOPE_EXPORTER": "none"})
    assert "FUNCSCOPE_EXPORTER" not in report["settings_applied"]
    assert report["settings_overridden"] == ["FUNCSCOPE_EXPORTER"]
    status, report = run_json(str(DEMO_APP), "nightly", env={"PYTHON_ENABLE_WORKER_EXTENSIONS": "0"})
    assert report["hooks"] is False
    assert report["hooks_reason"] == "PYTHON_ENABLE_WORKER_EXTENSIONS=0 in the environment"


def test_an_app_that_never_configures_funcscope_is_told_so():
    status, report = run_json(str(DEMO_APP.parent / "v2_app"), "cleanup", "--hooks", "on")
    assert status == 0
    assert any("the app never configures funcscope, so cleanup has no funcscope span" in n for n in report["notes"])


def test_links_to_message_producers_in_the_tree_and_the_json(tmp_path):
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    (tmp_path / "function_app.py").write_text(
        textwrap.dedent(
            """
            import azure.functions as func
            import funcscope

            funcscope.configure(exporter="none")
            app = func.FunctionApp()

            @app.service_bus_queue_trigger(arg_name="msg", queue_name="orders", connection="SB")
            def orders(msg: func.ServiceBusMessage) -> None:
                pass
            """
        )
    )
    producer = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    payload = json.dumps({"message_id": "m1", "application_properties": {"traceparent": producer}})
    done = funcscope("run", str(tmp_path), "--payload", payload)
    assert done.returncode == 0, done.stderr
    assert "link · trace 0af7651916cd43dd8448eb211c80319c · span b7ad6b7169203331  messaging.message.id=m1" in (
        done.stdout
    )
    status, report = run_json(str(tmp_path), "--payload", payload)
    (span,) = report["invocations"][0]["spans"]
    assert span["links"] == [
        {
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "span_id": "b7ad6b7169203331",
            "attributes": {"messaging.message.id": "m1"},
        }
    ]
