"""Keeping secrets out of telemetry: function keys, credentials, connection strings, instrumentation keys.

funcscope records no request headers (so `x-functions-key`, `Authorization` and cookies never leave) and no
payloads; what it does record that may carry a secret (the URL, exception messages) goes through here."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "redact_url", "redact_text", "SENSITIVE_QUERY_KEYS"]

REDACTED = "REDACTED"

SENSITIVE_QUERY_KEYS = frozenset(
    {"code", "sig", "signature", "key", "api-key", "apikey", "token", "access_token", "client_secret", "password"}
)
# key=value pairs of connection strings (storage, Service Bus, Event Hubs, Cosmos DB, Application Insights).
_SECRET_PAIRS = re.compile(
    r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature|InstrumentationKey|Password|Pwd|AccessKey|ApiKey|Secret)"
    r"=([^;\s\"']+)"
)
# Any sensitive query key anywhere in a lower-cased query string, as a substring (so only the keys that contain no
# other key are needed): a match only means "parse it properly".
_ANY_SENSITIVE_KEY = re.compile(
    "|".join(
        sorted(re.escape(k) for k in SENSITIVE_QUERY_KEYS if not any(o != k and o in k for o in SENSITIVE_QUERY_KEYS))
    )
)
_BEARER = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact_url(url: str) -> str:
    """The URL with credentials and sensitive query values (e.g. the function key in `code=`) replaced."""
    # Runs for every HTTP invocation. Most URLs have nothing to redact, and parsing them costs more than the
    # rest of the span's attributes together: return at once when the parse below could not change anything
    # (no userinfo, no query key that is or could decode to a sensitive one, nothing urlsplit would reject).
    query = url.partition("?")[2]
    if (
        "@" not in url
        and "%" not in query
        and "[" not in url
        and url.isascii()
        and _ANY_SENSITIVE_KEY.search(query.lower()) is None
    ):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SENSITIVE_QUERY_KEYS for k, _ in pairs):
            query = urlencode([(k, REDACTED if k.lower() in SENSITIVE_QUERY_KEYS else v) for k, v in pairs])
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Free text (an exception message, say) with connection-string secrets and bearer tokens replaced."""
    if "=" in text:
        text = _SECRET_PAIRS.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    if "earer" in text or "asic" in text:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return text
