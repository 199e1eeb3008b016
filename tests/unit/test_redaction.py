"""Secrets stay out of what funcscope records: URLs and free text (exception messages, stack traces), driven by one
list of secret-bearing names and value patterns. (Property tests over generated inputs, on the exporters' payloads,
are in tests/integration/test_properties.py.)"""

from __future__ import annotations

import pytest

from funcscope.shared.redaction import REDACTED, is_secret_name, redact_attribute, redact_text, redact_url
from funcscope.shared.values import MAX_MESSAGE_LENGTH, bounded_text, exception_attributes, redacted_text, safe_str

SECRET = "s3cr3tV4lue"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://h/api/x", "http://h/api/x"),
        ("http://h/api/x?name=ada&n=1", "http://h/api/x?name=ada&n=1"),
        ("https://h/api/x?code=abc%3D%3D&name=ada", "https://h/api/x?code=REDACTED&name=ada"),
        ("https://h/api/x?CODE=abc", "https://h/api/x?CODE=REDACTED"),
        ("https://h/b?sv=1&sig=s3cr3t", "https://h/b?sv=1&sig=REDACTED"),
        ("https://h/x?access_token=t&api-key=k", "https://h/x?access_token=REDACTED&api-key=REDACTED"),
        ("https://user:pw@h/x", "https://REDACTED@h/x"),
        ("https://token@h/x", "https://REDACTED@h/x"),
        ("https://h/x?c%6Fde=abc", "https://h/x?c%6Fde=REDACTED"),  # an encoded key is still the key, as written
        ("https://h/x?keyring=1&zip_code=9&author=a", "https://h/x?keyring=1&zip_code=9&author=a"),  # look alike only
        ("https://h/x?email=a@b.example", "https://h/x?email=a@b.example"),  # an @ outside the authority
        ("http://[::1", "http://[::1"),  # no secret in it: kept
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "name",
    [
        # other names
        "token",
        "refresh_token",
        "id_token",
        "signature",
        "client_secret",
        "secret",
        "password",
        "passwd",
        "pwd",
        "session",
        "sessionId",
        "jsessionid",
        "auth",
        "x-ms-auth",
        "Authorization",
        "AccountKey",
        "SharedAccessKey",
        "InstrumentationKey",
        "apiKey",
        "APIKey",
        "subscription-key",
        "cookie",
        "credentials",
        # the function key's header name used as a query key
        "x-functions-key",
        # odd spellings: case, spacing, percent-encoding (twice over), Unicode look-alikes and invisible characters
        "CoDe",
        " code ",
        "co de",
        "to-ken",
        "c%6Fde",
        "c%256Fde",
        "c+o+d+e",
        "ｃｏｄｅ",  # full-width
        "𝐜𝐨𝐝𝐞",  # mathematical bold
        "сode",  # Cyrillic с
        "pаssword",  # Cyrillic а
        "τoken",  # Greek tau
        "co\u200bde",  # zero-width space
        "pass\u00adword",  # soft hyphen
    ],
)
def test_secret_names(name):
    assert is_secret_name(name)
    for place in ("?{}={}&n=1", "?n=1&{}={}", "?n=1;{}={}", "#{}={}&state=1", ";{}={}/more"):
        url = "https://h/api/x" + place.format(name, SECRET)
        assert SECRET not in redact_url(url), url
    if " " not in name.strip():  # in prose, "co de=..." is the words "co" and "de=..."
        assert SECRET not in redact_text(f"failed with {name}={SECRET} and more")


@pytest.mark.parametrize("name", ["id", "name", "keyring", "zip_code", "author", "design", "monkey", "value", "n"])
def test_names_that_carry_no_secret(name):
    assert not is_secret_name(name)
    url = f"https://h/x?{name}=kept"
    assert redact_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        f"https://h/x?redirect=https%3A%2F%2Fy%2F%3Fcode%3D{SECRET}",  # a URL inside a value
        f"https://h/x?next=%2Fcb%3Ftoken%3D{SECRET}",
        f"https://h/x?code%3D{SECRET}",  # the "=" itself encoded
        f"https://h/x?t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{SECRET}",  # a JSON web token under any name
        f"https://h/reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{SECRET}",  # ... or in the path
        f"https://h/x?conn=AccountName%3Da%3BAccountKey%3D{SECRET}",  # a connection string inside a value
        f"https://h/x?a=1&amp;code={SECRET}",  # HTML-escaped separators
        f"//u:{SECRET}@h/x",
    ],
)
def test_secret_values_in_urls(url):
    out = redact_url(url)
    assert SECRET not in out and REDACTED in out


def test_url_keeps_everything_else_as_it_was():
    url = "https://h/api/x;v=2?b=%41+1&code=k&c=3#frag"
    assert redact_url(url) == "https://h/api/x;v=2?b=%41+1&code=REDACTED&c=3#frag"


@pytest.mark.parametrize(
    "text",
    [
        f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={SECRET}==;EndpointSuffix=x",
        f"Endpoint=sb://n/;SharedAccessKeyName=root;SharedAccessKey={SECRET}",
        f"InstrumentationKey=0000-{SECRET}-1111;IngestionEndpoint=https://x/",
        f"call failed: Authorization: Bearer {SECRET}",
        f"Authorization: Basic {SECRET}==",
        f"header x-functions-key: {SECRET}",
        f"{{'password': '{SECRET}', 'user': 'ada'}}",
        f'{{"api_key": "{SECRET} with spaces"}}',
        f"password = '{SECRET}'",
        f"GET https://h/x?code={SECRET} failed",
        f"see https://user:{SECRET}@h/x",
        f"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{SECRET}",
        f"-----BEGIN RSA PRIVATE KEY-----\nMIIE{SECRET}\n-----END RSA PRIVATE KEY-----",
        f"ValueError: bad input token={SECRET}",  # a name inside the value of one that is no secret
        str(KeyError(f"co\u200bde={SECRET}")),  # a repr()'s escape of an invisible character inside the name
        str(KeyError(f"""{{'password': '{SECRET}'}} \"""")),  # a repr() that escapes the quotes inside
    ],
)
def test_redact_text(text):
    out = redact_text(text)
    assert SECRET not in out and REDACTED in out


@pytest.mark.parametrize(
    "text",
    [
        "division by zero",
        "KeyError: 'orders'",
        "HTTP status code: 500",
        "x.py:12 in handler",
        'Traceback (most recent call last):\n  File "a.py", line 3, in f\nValueError: bad',
        "Basic arithmetic failed",
        "a == b",
    ],
)
def test_text_without_secrets_is_unchanged(text):
    assert redact_text(text) == text


def test_redaction_is_idempotent():
    text = f"AccountKey={SECRET}; Authorization: Bearer {SECRET}; https://h/x?code={SECRET}"
    once = redact_text(text)
    assert redact_text(once) == once
    url = redact_url(f"https://u:p@h/x?code={SECRET}#token={SECRET}")
    assert redact_url(url) == url


# -- exceptions: the message and the stack trace, redacted and bounded whatever the exception does ----------------


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_the_stack_trace_is_redacted_too():
    exc = _raised(RuntimeError(f"connect failed: InstrumentationKey={SECRET};IngestionEndpoint=x"))
    event = exception_attributes(exc)
    assert SECRET not in event["exception.message"] and SECRET not in event["exception.stacktrace"]
    assert event["exception.stacktrace"].startswith("Traceback") and "RuntimeError" in event["exception.stacktrace"]
    assert event["exception.type"] == "RuntimeError" and event["exception.escaped"] == "True"


def test_a_chained_exception_is_redacted_in_the_trace():
    try:
        try:
            raise KeyError(f"password={SECRET}")
        except KeyError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as exc:
        event = exception_attributes(exc)
    assert SECRET not in event["exception.stacktrace"] and "outer" in event["exception.stacktrace"]


def test_an_exception_whose_str_raises():
    class Nasty(Exception):
        def __str__(self):
            raise SystemExit("not from here")

    event = exception_attributes(_raised(Nasty()))
    assert "str() failed" in event["exception.message"] and event["exception.type"].endswith("Nasty")
    assert safe_str(Nasty()).startswith("<")


def test_huge_messages_are_bounded_without_keeping_a_secret_in_part():
    filler = "word " * 100_000
    exc = _raised(ValueError(f"{filler}AccountKey={SECRET} {filler}"))
    event = exception_attributes(exc)
    assert len(event["exception.message"]) <= MAX_MESSAGE_LENGTH
    assert "characters left out" in event["exception.message"]
    for i in range(len(SECRET) - 3):
        assert SECRET[i : i + 4] not in event["exception.message"]
    assert SECRET not in redacted_text(f"AccountKey={SECRET}" * 10_000, 100)


def test_text_with_lone_surrogates_becomes_encodable():
    text = bounded_text("bad file \udcff name", 100)
    text.encode("utf-8")
    assert text.startswith("bad file")


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("url.full", "https://h/x?code=k1&page=2", "https://h/x?code=REDACTED&page=2"),
        ("http.target", "/x;sig=k1?token=k2", "/x;sig=REDACTED?token=REDACTED"),
        ("url.query", "code=k1&page=2", "code=REDACTED&page=2"),
        ("url.fragment", "access_token=k1", "access_token=REDACTED"),
        ("url.full", "https://h/x?page=2", "https://h/x?page=2"),
        ("api_key", "k1", "REDACTED"),
        ("exception.message", "refused: password=k1", "refused: password=REDACTED"),
        ("code.line.number", 12, 12),
        ("code.function.name", "main", "main"),
    ],
)
def test_attributes_others_record(key, value, expected):
    assert redact_attribute(key, value) == expected
