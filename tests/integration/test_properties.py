"""Property tests: everything that comes from outside - traceparent and tracestate, retry contexts, trigger arguments
of any type, results, exceptions, HTTP headers and URLs, the URLs of the function's own outgoing calls - gives a
defined result, never raises into the invocation, and leaves no secret in what is exported.

The secret check is made on the real exporters' payloads: each invocation's span (and funcscope's own warnings, as
exported log records) goes through the OTLP/HTTP exporter and the Azure Monitor exporter to receivers on 127.0.0.1,
and every byte they received is searched. A planted secret is `SeKrEt...tErKeS`, so that a secret kept in part
(its head or its tail) is found too. Secrets are planted where funcscope promises to redact them: under a
secret-bearing name in any spelling, as a credential in a URL, in a value that is a secret whatever it is called,
and in headers and bodies (which funcscope never records).
"""

from __future__ import annotations

import logging
import string
import threading
from types import SimpleNamespace
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from funcscope import Settings, current
from funcscope.runtime import get_runner, reset_runner
from funcscope.shared.diagnostics import forget_reports
from funcscope.shared.trace_context import read_host_trace_context
from funcscope.telemetry.logs import stop_exporting_records

from .receivers import AppInsightsReceiver, Downstream, OTLPReceiver

HEAD, TAIL = "SeKrEt", "tErKeS"
EXAMPLES = settings(
    max_examples=120,
    deadline=None,  # the machine may be loaded; nothing here is about time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- where the payloads go ---------------------------------------------------------------------------------------


class Exported:
    """Providers exporting through the real OTLP/HTTP and Azure Monitor exporters, synchronously, to receivers."""

    def __init__(self) -> None:
        from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

        self.otlp = OTLPReceiver()
        self.app_insights = AppInsightsReceiver()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{self.otlp.url}/v1/traces")))
        azure = AzureMonitorTraceExporter(
            connection_string=self.app_insights.connection_string(), disable_offline_storage=True
        )
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(azure))
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(
            SimpleLogRecordProcessor(OTLPLogExporter(f"{self.otlp.url}/v1/logs"))
        )

    def mark(self) -> tuple[int, int]:
        return len(self.otlp.bodies), len(self.app_insights.bodies)

    def since(self, mark: tuple[int, int]) -> list[bytes]:
        return self.otlp.bodies[mark[0] :] + self.app_insights.bodies[mark[1] :]

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.otlp.close()
        self.app_insights.close()


@pytest.fixture(scope="module")
def exported():
    exported = Exported()
    yield exported
    exported.close()


@pytest.fixture
def runner(exported, request):
    """A runner on the exporting providers, given to it; `request.param` (indirect) overrides its settings."""
    settings = {
        "metrics": False,
        "log_enrichment": False,
        "instrument": (),
        "logs": "export",
        "middleware_budget_ms": 60_000,  # the exporters here export synchronously, inside the invocation
        "tracer_provider": exported.tracer_provider,
        "logger_provider": exported.logger_provider,
        **getattr(request, "param", {}),
    }
    runner = reset_runner(Settings(**settings))
    yield runner
    reset_runner(Settings(metrics=False, logs="host", instrument=()))  # and uninstruments what was instrumented
    # The next runner builds its pipeline (which takes the handler away) only when first used: until then every
    # record in the process would still go to this module's logger provider.
    stop_exporting_records()


@pytest.fixture(scope="module")
def downstream():
    with Downstream() as server:
        yield server


class Problems(logging.Handler):
    """Errors the SDK or an exporter logged while an example ran (an int64 overflow, an unencodable string)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture
def problems():
    handler = Problems()
    for name in ("opentelemetry", "azure"):
        logging.getLogger(name).addHandler(handler)
    yield handler
    for name in ("opentelemetry", "azure"):
        logging.getLogger(name).removeHandler(handler)


# -- what comes from outside -------------------------------------------------------------------------------------

secrets = st.text(string.ascii_letters + string.digits, min_size=4, max_size=24).map(lambda s: f"{HEAD}{s}{TAIL}")
plain = st.text(string.ascii_letters + string.digits + "-_.~", max_size=12)

NAMES = [
    "code",
    "sig",
    "signature",
    "token",
    "access_token",
    "id_token",
    "refresh_token",
    "client_secret",
    "secret",
    "password",
    "passwd",
    "pwd",
    "session",
    "sessionId",
    "jsessionid",
    "auth",
    "authorization",
    "api-key",
    "apikey",
    "key",
    "AccountKey",
    "SharedAccessKey",
    "x-functions-key",
    "credentials",
    "cookie",
]
LOOK_ALIKES = {"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "k": "к", "i": "і", "s": "ѕ"}


@st.composite
def spelt(draw: Any, for_url: bool = True) -> str:
    """A secret-bearing name in an odd spelling: case, percent-encoding, full-width and look-alike letters,
    invisible characters (and, in URLs, separators and spaces)."""
    name = draw(st.sampled_from(NAMES))
    out = []
    for ch in name:
        how = draw(st.sampled_from(["same", "same", "upper", "percent", "fullwidth", "alike", "invisible", "apart"]))
        if how == "upper":
            ch = ch.swapcase()
        elif how == "percent" and for_url:
            ch = "".join(f"%{b:02X}" for b in ch.encode())
        elif how == "fullwidth" and ch.isalnum() and ch.isascii():
            ch = chr(ord(ch) + 0xFEE0)
        elif how == "alike":
            ch = LOOK_ALIKES.get(ch, ch)
        elif how == "invisible":
            ch = ch + "\u200b"
        elif how == "apart" and for_url:
            ch = ch + draw(st.sampled_from(["-", "_", ".", " "]))
        out.append(ch)
    return "".join(out).strip("-_. ") or name


@st.composite
def urls(draw: Any) -> tuple[str, list[str]]:
    """A URL with secrets planted where funcscope redacts them, and plain parameters around them."""
    planted: list[str] = []

    def secret() -> str:
        value = draw(secrets)
        planted.append(value)
        return value

    def params(separator: str) -> str:
        pairs = []
        for _ in range(draw(st.integers(0, 3))):
            if draw(st.booleans()):
                pairs.append(f"{draw(spelt())}={secret()}")
            else:
                pairs.append(f"{draw(plain.filter(lambda n: n.lower() not in ('code', 'key', 'sig')))}={draw(plain)}")
        return separator.join(pairs)

    userinfo = f"{draw(plain)}:{secret()}@" if draw(st.booleans()) else ""
    path = "/api/" + draw(plain)
    if draw(st.booleans()):
        path += f";{draw(spelt())}={secret()}"
    if draw(st.booleans()):
        path += f"/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{secret()}"  # a JSON web token in the path
    query = params(draw(st.sampled_from(["&", ";"])))
    fragment = params("&")
    url = (
        f"https://{userinfo}host.example{path}" + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")
    )
    return url, planted


@st.composite
def secret_texts(draw: Any) -> tuple[str, list[str]]:
    """Free text (an exception message, a previous failure) with secrets in the forms funcscope redacts."""
    planted: list[str] = []
    parts = [draw(st.text(max_size=20).filter(lambda t: HEAD not in t))]
    for _ in range(draw(st.integers(1, 3))):
        value = draw(secrets)
        planted.append(value)
        form = draw(st.sampled_from(["pair", "conn", "ikey", "bearer", "header", "quoted", "url", "jwt"]))
        parts.append(
            {
                "pair": f"{draw(spelt(for_url=False))}={value}",
                "conn": f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={value};EndpointSuffix=x",
                "ikey": f"InstrumentationKey={value};IngestionEndpoint=https://x/",
                "bearer": f"Authorization: Bearer {value}",
                "header": f"x-functions-key: {value}",
                "quoted": f"{{'password': '{value}'}}",
                "url": f"https://h/api/x?code={value}",
                "jwt": f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{value}",
            }[form]
        )
        parts.append(draw(st.text(max_size=10).filter(lambda t: HEAD not in t)))
    return " ".join(parts), planted


def traceparents() -> st.SearchStrategy[Any]:
    hexes = st.text("0123456789abcdef", min_size=1, max_size=40)
    valid = st.builds(
        lambda t, s, f: f"00-{t}-{s}-{f}",
        st.text("0123456789abcdef", min_size=32, max_size=32),
        st.text("0123456789abcdef", min_size=16, max_size=16),
        st.sampled_from(["00", "01", "ff"]),
    )
    return st.one_of(
        valid,
        st.builds(lambda a, b, c, d: f"{a}-{b}-{c}-{d}", hexes, hexes, hexes, hexes),
        st.text(max_size=600),
        st.none(),
        st.integers(),
        st.binary(max_size=60),
    )


class Raising:
    """Any attribute read raises."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")


def retry_contexts() -> st.SearchStrategy[Any]:
    counts = st.one_of(
        st.integers(), st.floats(allow_nan=True), st.text(max_size=30), st.none(), st.booleans(), st.just(10**40)
    )
    failures = st.one_of(
        st.none(),
        st.builds(lambda m: SimpleNamespace(message=m), st.one_of(st.text(max_size=50), st.integers())),
        st.just(Raising()),
    )
    return st.one_of(
        st.none(),
        st.just(Raising()),
        st.builds(
            lambda c, m, f: SimpleNamespace(retry_count=c, max_retry_count=m, rpc_exception=f), counts, counts, failures
        ),
    )


def odd_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.text(max_size=20),
        st.binary(max_size=20),
        st.lists(st.integers(), max_size=3),
        st.just(Raising()),
        st.builds(lambda b: func.QueueMessage(id=None, body=b), st.binary(max_size=10)),
        st.builds(lambda i: func.QueueMessage(id=i, body=b"x"), st.text(max_size=2000)),
    )


class Status(func.HttpResponse):
    """A response whose status_code is anything, or raises."""

    def __init__(self, status: Any) -> None:
        super().__init__("body")
        self._odd = status

    @property
    def status_code(self) -> Any:
        if isinstance(self._odd, BaseException):
            raise self._odd
        return self._odd


def results() -> st.SearchStrategy[Any]:
    statuses = st.one_of(
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=5),
        st.none(),
        st.just(ValueError("status")),
        st.just(SystemExit(1)),
    )
    return st.one_of(odd_values(), st.builds(Status, statuses), st.builds(func.HttpResponse, st.text(max_size=10)))


class StrRaises(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


def _raise_from(message: str, cause: str | None, kind: type[BaseException]) -> BaseException:
    def deeper() -> None:
        raise kind(message)

    try:
        try:
            deeper()
        except BaseException as inner:
            if cause is None:
                raise
            raise RuntimeError(cause) from inner
    except BaseException as exc:
        return exc
    raise AssertionError("unreachable")


def http_request(url: str, method: Any, headers: dict[str, str]) -> func.HttpRequest:
    request = func.HttpRequest(
        "GET", "http://placeholder/", headers=headers, body=f"password={HEAD}body{TAIL}".encode()
    )
    request._HttpRequest__url = url  # type: ignore[attr-defined]  # whatever the worker hands in
    request._HttpRequest__method = method  # type: ignore[attr-defined]
    return request


_ids = iter(range(10**9))


def context(traceparent: Any = None, tracestate: Any = "", retry: Any = None, name: str = "fn") -> Any:
    return SimpleNamespace(
        function_name=name,
        function_directory="/app/fn",
        invocation_id=f"inv-{next(_ids)}",
        thread_local_storage=threading.local(),
        trace_context=SimpleNamespace(trace_parent=traceparent, trace_state=tracestate, attributes={}),
        retry_context=retry,
    )


def invoke(ctx: Any, args: Any, *, result: Any = None, error: BaseException | None = None) -> None:
    """One invocation the way the hooks report it; none of these calls may raise."""
    runner = get_runner()
    runner.start(ctx, args, "app")
    if error is None:
        runner.finish(ctx, result, "app")
    else:
        runner.fail(ctx, error)
    # nothing of it is left behind
    assert runner.in_flight() == 0 and current() is None
    assert trace.get_current_span() is trace.INVALID_SPAN


def exported_spans_of(exported: Exported, ctx: Any) -> list[dict[str, Any]]:
    return [s for s in exported.otlp.spans() if s["attributes"].get("faas.invocation_id") == ctx.invocation_id]


def assert_no_secret(exported: Exported, mark: tuple[int, int]) -> None:
    for body in exported.since(mark):
        assert HEAD.encode() not in body and TAIL.encode() not in body, body[:2000]


# -- the properties ----------------------------------------------------------------------------------------------


@EXAMPLES
@given(
    url=urls(),
    method=st.one_of(st.sampled_from(["GET", "POST"]), st.text(max_size=50), st.none(), st.integers()),
    header_secret=secrets,
    result=results(),
)
def test_http_invocations(runner, exported, problems, url, method, header_secret, result):
    url, planted = url
    forget_reports()
    headers = {
        "Authorization": f"Bearer {header_secret}",
        "Cookie": f"s={header_secret}",
        "x-functions-key": header_secret,
    }
    ctx = context()
    mark = exported.mark()
    invoke(ctx, {"req": http_request(url, method, headers)}, result=result)
    (span,) = exported_spans_of(exported, ctx)
    assert span["attributes"]["faas.trigger"] == "http"
    if planted:
        assert "REDACTED" in span["attributes"]["url.full"]
    assert_no_secret(exported, mark)
    assert problems.records == []


@pytest.mark.parametrize("runner", [{"instrument": ("requests",), "logs": "host"}], indirect=True, ids=["requests"])
@EXAMPLES
@given(url=urls())
def test_outgoing_calls(runner, exported, downstream, problems, url):
    """A function calls out with secrets in the URL (the planted ones of `urls`, sent to the loopback downstream):
    the dependency span of the call is exported with none of them."""
    import requests

    url, planted = url
    url = url.replace("https://", "http://", 1).replace("host.example", downstream.url.split("//", 1)[1], 1)
    ctx = context()
    mark, before = exported.mark(), len(exported.otlp.spans())
    runner = get_runner()
    runner.start(ctx, {}, "app")
    requests.get(url, timeout=10)
    runner.finish(ctx, None, "app")
    (span,) = exported_spans_of(exported, ctx)
    # (ids repeat across examples: hypothesis seeds the random numbers the SDK draws them from)
    clients = [s for s in exported.otlp.spans()[before:] if s["kind"] == "CLIENT"]
    assert clients[0]["parent_span_id"] == span["span_id"]
    assert len(clients) == 1
    if planted:
        assert (
            "REDACTED" in clients[0]["attributes"]["url.full" if "url.full" in clients[0]["attributes"] else "http.url"]
        )
    assert_no_secret(exported, mark)
    assert problems.records == []


@EXAMPLES
@given(
    text=secret_texts(),
    kind=st.sampled_from([ValueError, RuntimeError, KeyError, SystemExit, ConnectionError]),
    with_cause=st.booleans(),
    odd=st.sampled_from([None, "str-raises", "huge"]),
    retry_text=secret_texts(),
    retry_count=st.integers(1, 5),
)
def test_failed_invocations(runner, exported, problems, text, kind, with_cause, odd, retry_text, retry_count):
    message, _ = text
    forget_reports()
    if odd == "str-raises":
        error: BaseException = StrRaises(message)
    elif odd == "huge":
        error = _raise_from(message + " x" * 50_000, message if with_cause else None, kind)
    else:
        error = _raise_from(message, message if with_cause else None, kind)
    retry = SimpleNamespace(
        retry_count=retry_count, max_retry_count=retry_count, rpc_exception=SimpleNamespace(message=retry_text[0])
    )
    ctx = context(retry=retry)
    mark = exported.mark()
    invoke(ctx, {}, error=error)
    (span,) = exported_spans_of(exported, ctx)
    assert span["status"] == "ERROR"
    events = {name: attributes for name, attributes in span["events"]}
    assert "exception" in events and "exception.stacktrace" in events["exception"]
    assert_no_secret(exported, mark)
    assert problems.records == []


@EXAMPLES
@given(
    traceparent=traceparents(),
    tracestate=st.one_of(st.text(max_size=600), st.none(), st.integers(), st.lists(st.text(max_size=5), max_size=3)),
    retry=retry_contexts(),
    args=st.one_of(st.dictionaries(st.text(max_size=10), odd_values(), max_size=4), st.none(), st.integers()),
    result=results(),
    fails=st.booleans(),
)
def test_anything_from_the_worker(runner, exported, problems, traceparent, tracestate, retry, args, result, fails):
    forget_reports()
    ctx = context(traceparent, tracestate, retry)
    invoke(ctx, args, result=result, error=ValueError("failed") if fails else None)
    host = read_host_trace_context(ctx)
    spans = exported_spans_of(exported, ctx)
    if host.span_context is not None and not host.span_context.trace_flags.sampled:
        assert spans == []  # sampling follows the host
    else:
        (span,) = spans
        assert span["status"] == ("ERROR" if fails else span["status"])
        for value in span["attributes"].values():
            if isinstance(value, int):
                assert -(2**63) <= value < 2**63
        if host.span_context is not None:
            assert span["trace_id"] == format(host.span_context.trace_id, "032x")
    assert problems.records == []


@EXAMPLES
@given(traceparent=st.builds(lambda name, value: f"{name}={value}", st.sampled_from(NAMES), secrets))
def test_a_bad_traceparent_is_quoted_redacted(runner, exported, problems, traceparent):
    # The one warning about a malformed traceparent quotes it, and warnings are exported as log records here.
    forget_reports()
    mark = exported.mark()
    invoke(context(traceparent), {})
    assume(exported.otlp.bodies[mark[0] :])
    assert_no_secret(exported, mark)
