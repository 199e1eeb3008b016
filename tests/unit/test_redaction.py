"""Secrets stay out of what funcscope records: URLs and free text (exception messages)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from funcscope.shared.redaction import REDACTED, redact_text, redact_url


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
        ("https://h/x?c%6Fde=abc", "https://h/x?code=REDACTED"),  # an encoded key is still the key
        ("https://h/x?keyring=1", "https://h/x?keyring=1"),  # looks like a key, is not one
        ("http://[::1", REDACTED),  # unparseable: nothing of it is kept
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["http://h/p?a=1&b=2", "http://h/p?token=x", "http://h/p?a=%41", "http://h/ü?code=1", "http://h/p?x=code"],
)
def test_fast_path_agrees_with_the_full_parse(url):
    # Whatever path redact_url takes, no sensitive value survives and nothing else changes.
    out = redact_url(url)
    pairs = parse_qsl(urlsplit(out).query, keep_blank_values=True)
    original = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    for key, value in pairs:
        if key.lower() in {"code", "token"}:
            assert value == REDACTED
        else:
            assert value == original[key]


@pytest.mark.parametrize(
    "text, secret",
    [
        ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=bXlrZXk=;EndpointSuffix=x", "bXlrZXk="),
        ("Endpoint=sb://n/;SharedAccessKeyName=root;SharedAccessKey=c2VjcmV0", "c2VjcmV0"),
        ("InstrumentationKey=00000000-1111-2222-3333-444444444444;IngestionEndpoint=x", "1111-2222"),
        ("call failed: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ],
)
def test_redact_text(text, secret):
    out = redact_text(text)
    assert secret not in out and REDACTED in out


def test_plain_text_is_unchanged():
    assert redact_text("division by zero") == "division by zero"
