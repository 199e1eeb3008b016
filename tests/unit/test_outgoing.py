"""Outgoing calls: real HTTP clients and a real Azure SDK client calling a server on 127.0.0.1 from an invocation,
its threads and its tasks. Each call is a CLIENT span under the invocation span and sends that span's
`traceparent`; `instrument` chooses the libraries, and uninstrumenting leaves the clients as they were."""

from __future__ import annotations

import asyncio
import threading

import pytest
import requests
from opentelemetry.trace import SpanKind

import funcscope
from funcscope.instrumentation import outgoing
from funcscope.runtime import get_runner

from ..integration.receivers import Downstream
from .fakes import FakeContext

APP = object()


@pytest.fixture
def downstream():
    with Downstream() as server:
        yield server


def invoke(body, *, is_async=False):
    """Run `body` inside one invocation (on this thread, or in a task on a fresh loop); returns its span id."""
    runner = get_runner()
    ctx = FakeContext(function_name="caller")

    def sync():
        runner.start(ctx, {}, APP)
        try:
            body()
        finally:
            runner.finish(ctx, None, APP)

    async def in_task():
        runner.start(ctx, {}, APP)
        try:
            await body()
        finally:
            runner.finish(ctx, None, APP)

    if is_async:
        asyncio.run(in_task())
    else:
        sync()
    return ctx.invocation_id


def path_of(span):
    # the instrumentations still use the older HTTP conventions unless OTEL_SEMCONV_STABILITY_OPT_IN says otherwise
    return (span.attributes.get("url.full") or span.attributes["http.url"]).rsplit("/", 1)[1]


def check(spans, downstream, expected_calls):
    """Every call is a CLIENT span under the invocation span, and the header it sent names that CLIENT span."""
    finished = spans.get_finished_spans()
    (invocation,) = [s for s in finished if s.name == "caller"]
    clients = [s for s in finished if s.kind is SpanKind.CLIENT]
    assert len(clients) == len(downstream.calls) == expected_calls, [s.name for s in finished]
    by_span_id = {format(s.context.span_id, "016x"): s for s in clients}
    for _, _, traceparent in downstream.calls:
        assert traceparent is not None
        _, trace_id, span_id, flags = traceparent.split("-")
        client = by_span_id[span_id]  # the header names the CLIENT span of that very call
        assert trace_id == format(invocation.context.trace_id, "032x") and flags == "01"
        parent = client
        while parent.parent is not None and parent.parent.span_id != invocation.context.span_id:
            parent = next(s for s in finished if s.context.span_id == parent.parent.span_id)
        assert parent.parent is not None, f"{client.name} is not under the invocation span"
    return clients


@pytest.mark.parametrize("where", ["body", "thread"])
def test_requests_urllib3_and_httpx_from_the_body_and_a_thread(spans, downstream, where):
    import httpx
    import urllib3

    funcscope.configure(propagation=True, instrument=("requests", "urllib3", "httpx"))

    def calls():
        requests.get(f"{downstream.url}/requests", timeout=10)
        urllib3.PoolManager().request("GET", f"{downstream.url}/urllib3", timeout=10)
        with httpx.Client() as client:
            client.get(f"{downstream.url}/httpx", timeout=10)

    def body():
        if where == "body":
            calls()
        else:
            thread = threading.Thread(target=calls)
            thread.start()
            thread.join()

    invoke(body)
    # requests runs over urllib3: its span suppresses urllib3's, so each call is one span
    clients = check(spans, downstream, 3)
    assert sorted(path_of(s) for s in clients) == ["httpx", "requests", "urllib3"]


def test_aiohttp_and_async_httpx_from_a_task_the_function_started(spans, downstream):
    import aiohttp
    import httpx

    funcscope.configure(instrument=("aiohttp", "httpx"))

    async def body():
        async def fetch():
            async with aiohttp.ClientSession() as session, session.get(f"{downstream.url}/aiohttp") as response:
                await response.read()

        await asyncio.create_task(fetch())
        async with httpx.AsyncClient() as client:
            await client.get(f"{downstream.url}/httpx")

    invoke(body, is_async=True)
    check(spans, downstream, 2)


def test_an_azure_sdk_client_call(spans, downstream):
    from azure.storage.blob import ContainerClient

    funcscope.configure(instrument=("azure_sdk", "requests"))
    container = ContainerClient(f"{downstream.url}/devstoreaccount1", "orders")

    invoke(lambda: container.exists())
    finished = spans.get_finished_spans()
    (sdk_span,) = [s for s in finished if s.name == "ContainerClient.exists"]
    (invocation,) = [s for s in finished if s.name == "caller"]
    assert sdk_span.parent.span_id == invocation.context.span_id
    # azure-core's own HTTP span is the CLIENT span; the requests instrumentation under it is suppressed
    (client,) = check(spans, downstream, 1)
    assert client.parent.span_id == sdk_span.context.span_id


def test_instrument_chooses_and_uninstrument_restores(spans, downstream):
    import httpx

    funcscope.configure(instrument=("httpx",))
    assert outgoing.instrumented() == ("httpx",)

    def calls():
        requests.get(f"{downstream.url}/requests", timeout=10)
        with httpx.Client() as client:
            client.get(f"{downstream.url}/httpx", timeout=10)

    invoke(calls)
    clients = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert [path_of(s) for s in clients] == ["httpx"]
    assert [c[2] is not None for c in downstream.calls] == [False, True]  # only httpx sent a traceparent

    funcscope.configure(instrument=())
    assert outgoing.instrumented() == ()
    spans.clear()
    downstream.calls.clear()
    invoke(calls)
    assert [s.name for s in spans.get_finished_spans()] == ["caller"]
    assert [c[2] for c in downstream.calls] == [None, None]


def test_a_library_someone_else_instrumented_is_left_to_them(spans, downstream):
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    RequestsInstrumentor().instrument()
    try:
        funcscope.configure(instrument=("requests",))
        assert outgoing.instrumented() == ()  # not funcscope's to undo
        funcscope.configure(instrument=())
        assert RequestsInstrumentor().is_instrumented_by_opentelemetry
    finally:
        RequestsInstrumentor().uninstrument()


KEY = "SeKrEtKeYtErKeS"


def urls_of(clients):
    return sorted(str(s.attributes.get("url.full") or s.attributes.get("http.url")) for s in clients)


def test_the_urls_of_outgoing_calls_are_redacted(spans, downstream):
    """A call with a function key, a signature and a token in its URL (query and fragment): each client's span
    keeps the URL but those values, on the provider funcscope reuses here (the test process's global one)."""
    import urllib.request

    import aiohttp
    import httpx
    import urllib3

    funcscope.configure(propagation=True, instrument=("requests", "urllib3", "httpx", "urllib", "aiohttp"))
    query = f"?code={KEY}&Sig={KEY}&page=2#access_token={KEY}"

    async def body():
        requests.get(f"{downstream.url}/requests{query}", timeout=10)
        urllib3.PoolManager().request("GET", f"{downstream.url}/urllib3{query}", timeout=10)
        urllib.request.urlopen(f"{downstream.url}/urllib{query}", timeout=10).read()
        with httpx.Client() as client:
            client.get(f"{downstream.url}/httpx{query}", timeout=10)
        async with aiohttp.ClientSession() as session, session.get(f"{downstream.url}/aiohttp{query}") as response:
            await response.read()

    invoke(body, is_async=True)
    clients = check(spans, downstream, 5)
    # (urllib3 leaves the fragment out)
    assert sorted(u.replace("#access_token=REDACTED", "") for u in urls_of(clients)) == sorted(
        f"{downstream.url}/{name}?code=REDACTED&Sig=REDACTED&page=2"
        for name in ("aiohttp", "httpx", "requests", "urllib", "urllib3")
    )
    for span in clients:
        assert KEY not in repr(dict(span.attributes))


def test_spans_of_libraries_not_instrumented_for_funcscope_keep_their_urls(spans):
    """On a provider funcscope reuses, only the instrumentations of the `instrument` setting are redacted."""
    from opentelemetry import trace

    funcscope.configure(instrument=("httpx",))
    url = f"https://h/x?code={KEY}"
    for scope in ("the.apps.own", "opentelemetry.instrumentation.httpx"):
        trace.get_tracer(scope).start_span("GET", attributes={"url.full": url, "url.query": f"code={KEY}"}).end()
    mine, httpx_span = spans.get_finished_spans()
    assert mine.attributes["url.full"] == url
    assert dict(httpx_span.attributes) == {"url.full": "https://h/x?code=REDACTED", "url.query": "code=REDACTED"}


def test_azure_core_spans_redact_the_url_they_set_as_the_call_ends(spans):
    """azure-core sets the URL just before it ends its span; the span class funcscope gives it redacts it."""
    from azure.core.settings import settings

    funcscope.configure(instrument=("azure_sdk",))
    span = settings.tracing_implementation()(name="GET")
    span.add_attribute("http.url", f"https://user:{KEY}@h/x;sig={KEY}?api-version=1#token={KEY}")
    span.add_attribute("http.method", "GET")
    span.finish()
    (finished,) = spans.get_finished_spans()
    url = finished.attributes.get("url.full", finished.attributes.get("http.url"))
    assert url == "https://REDACTED@h/x;sig=REDACTED?api-version=1#token=REDACTED"
    funcscope.configure(instrument=())
    assert settings.tracing_implementation() is None
