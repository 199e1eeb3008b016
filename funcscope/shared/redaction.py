"""Keeping secrets out of telemetry: function keys, credentials, tokens, signatures, connection strings.

funcscope records no request headers (so `x-functions-key`, `Authorization` and cookies never leave) and no
payloads. What it does record that may carry a secret goes through here: the URL (`redact_url`), and free text -
exception messages and stack traces, status descriptions, the previous attempt's failure, funcscope's own
warnings (`redact_text`).

One list drives both. A *name* is secret-bearing when one of its words is in `SECRET_WORDS`, when it ends with one
of `SECRET_SUFFIXES`, or when it is `code` (the function key's query parameter): a query or fragment parameter, a
`;` parameter, a connection-string key, a header or a `name=value` pair in a message. Names are compared the way a
reader would see them: percent-decoded, compatibility-normalised (full-width and mathematical letters), with
look-alike Cyrillic and Greek letters read as Latin, invisible characters dropped, case and separators ignored.
A *value* is a secret whatever it is called when it matches `SECRET_VALUE_PATTERNS` (bearer and basic credentials,
JSON web tokens, private keys), and in a URL when it is itself a URL or query that carries a secret. A secret is
replaced by `REDACTED`; everything else is kept exactly as it was.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_plus

__all__ = [
    "REDACTED",
    "SECRET_SUFFIXES",
    "SECRET_VALUE_PATTERNS",
    "SECRET_WORDS",
    "URL_ATTRIBUTES",
    "is_secret_name",
    "redact_attribute",
    "redact_text",
    "redact_url",
]

REDACTED = "REDACTED"

#: A name with one of these as a word (`access_token`, `x-functions-key`, `AccountKey`, `sessionId`) is secret.
SECRET_WORDS = frozenset(
    {
        "auth",
        "authorization",
        "bearer",
        "cookie",
        "credential",
        "credentials",
        "jwt",
        "key",
        "passphrase",
        "passwd",
        "password",
        "pwd",
        "sas",
        "secret",
        "session",
        "sessionid",
        "sid",
        "sig",
        "signature",
        "token",
    }
)
#: A name whose words, run together, end with one of these (`accesstoken`, `clientsecret`, `apikey`) is secret.
SECRET_SUFFIXES = (
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "signature",
    "credential",
    "credentials",
    "cookie",
    "authorization",
    "sessionid",
    "apikey",
    "accesskey",
    "accountkey",
    "authkey",
    "clientkey",
    "functionkey",
    "functionskey",
    "hostkey",
    "instrumentationkey",
    "masterkey",
    "primarykey",
    "privatekey",
    "secondarykey",
    "secretkey",
    "sharedaccesskey",
    "signingkey",
    "subscriptionkey",
)
#: Names that are secret only as a whole: `code` is the function key's query parameter, `zip_code` is not.
_WHOLE_NAMES = frozenset({"code"})

#: Values that are secrets whatever they are called.
SECRET_VALUE_PATTERNS = (
    # a credential after its scheme (not a plain word: "Basic arithmetic" is no secret)
    re.compile(r"\b(?i:Bearer|Basic|Negotiate|NTLM)\s+(?![A-Za-z][a-z]*\b)[A-Za-z0-9._~+/=%-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"),  # a JSON web token
    re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY-----(?:.|\n)*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)"),
)

# What each of SECRET_VALUE_PATTERNS cannot match without (None: look every time): most texts have neither.
_PATTERN_HINTS = (None, "eyJ", "-----BEGIN")

# Cyrillic and Greek letters that read as Latin ones (what NFKC leaves alone), and dotless i.
_LOOK_ALIKES = str.maketrans(
    "абсдеһіјкмнорѕтuvwхуᴦԁԛԝɡαβεικνορτυχıАВСЕНІЈКМНОРЅТХУΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "abcdehijkmhopstuvwxyrdqwgabeikvoptuxiABCEHIJKMHOPSTXYABEZHIKMNOPTYX",
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_verdicts: dict[str, bool] = {}  # name as written -> is_secret_name(name): names repeat, classifying costs
_MAX_VERDICTS = 4096


_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|x([0-9a-fA-F]{2}))")


def _unescaped(match: re.Match[str]) -> str:
    code = int(match[1] or match[2] or match[3], 16)
    return chr(code) if code <= 0x10FFFF else ""


def _words(name: str) -> list[str]:
    for _ in range(3):  # percent-encoding, even twice over
        if "%" not in name and "+" not in name:
            break
        name = unquote_plus(name)
    if "\\" in name:  # a repr()'s escapes (an exception's message quotes its argument so): c\u200bode
        name = _ESCAPE.sub(_unescaped, name)
    if not name.isascii():
        name = unicodedata.normalize("NFKC", name).translate(_LOOK_ALIKES)
        name = "".join(c for c in name if unicodedata.category(c) != "Cf")  # zero-width spaces, soft hyphens
    return [w.lower() for w in _WORD.findall(name)]


def is_secret_name(name: str, *, strict: bool = False) -> bool:
    """Whether a parameter, key or header called `name` carries a secret (see the module docstring).

    `strict` leaves out the bare words (`key`, `auth`, `sig`, ...) and `code`, for names that are followed by
    a colon in prose, where `KeyError: ...` or `status code: 500` is no secret; the suffixes still count.
    """
    if not strict:
        verdict = _verdicts.get(name)
        if verdict is not None:
            return verdict
    words = _words(name)
    joined = "".join(words)
    verdict = joined.endswith(SECRET_SUFFIXES)
    if not strict:
        # Words run together count too: `c o d e`, `k-e-y` are spaced-out spellings.
        verdict = verdict or joined in _WHOLE_NAMES or joined in SECRET_WORDS or any(w in SECRET_WORDS for w in words)
        if len(_verdicts) >= _MAX_VERDICTS:
            _verdicts.clear()
        _verdicts[name] = verdict
    return verdict


# -- free text ---------------------------------------------------------------------------------------------------

# A name and its `=` or `:`; the value after it is found by hand, so that names inside a value that is no secret
# (`ValueError: token=...`) are still looked at. After `=` a value ends at whitespace or a delimiter; after `:`
# (a header line, a dict's repr) it runs to the end of the line. Quoted values run to their closing quote.
# A name starts where a run of name characters does: a match can never start inside one (what follows a name is
# no name character), and trying every position of every word would cost a stack trace dearly.
_NAME_CHARS = r"\w.%+\\\-\u00ad\u200b-\u200f\u2060\ufeff"
_NAME_SEP = re.compile(rf"""(?<![{_NAME_CHARS}])(?P<name>[{_NAME_CHARS}]+)(?P<q>["']?)[ \t]*(?P<op>[=:])[ \t]*""")
_VALUE_AFTER = {"=": re.compile(r"""[^\s;&,"'<>]*"""), ":": re.compile(r"""[^\r\n;,&"'<>]*""")}
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#@\"'<>]+@")


def _opening_quote(value: str) -> str:
    # A quote, or a repr()'s escaped one: an exception quotes its message so, `{\'password\': \'...\'}`.
    if value.startswith(("\\'", '\\"')):
        return value[:2]
    return value[:1] if value[:1] in "\"'" else ""


def _value_end(text: str, start: int, op: str) -> int:
    quote = _opening_quote(text[start : start + 2])
    if quote:
        close = text.find(quote, start + len(quote))
        line_end = text.find("\n", start + 1)
        if close < 0 or 0 <= line_end < close:
            return line_end if line_end >= 0 else len(text)
        return close + len(quote)
    match = _VALUE_AFTER[op].match(text, start)
    return match.end() if match else start


def _redact_pairs(text: str) -> str:
    out: list[str] = []
    done = 0
    for match in _NAME_SEP.finditer(text):
        start = match.end()
        if match.start() < done or not is_secret_name(match["name"], strict=match["op"] == ":"):
            continue
        end = _value_end(text, start, match["op"])
        value = text[start:end]
        if not value.strip("\"' \t") or value.strip("\"'") == REDACTED:
            continue
        quote = _opening_quote(value)
        closing = quote if quote and len(value) > len(quote) and value.endswith(quote) else ""
        out.append(text[done:start])
        out.append(f"{quote}{REDACTED}{closing}")
        done = end
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def redact_text(text: str) -> str:
    """Free text (an exception message, a stack trace) with every secret-bearing `name=value` pair's value, every
    value matching `SECRET_VALUE_PATTERNS` and every URL's credentials replaced by `REDACTED`."""
    if "=" in text or ":" in text:
        text = _redact_pairs(text)
    for pattern, hint in zip(SECRET_VALUE_PATTERNS, _PATTERN_HINTS, strict=True):
        if hint is None or hint in text:
            text = pattern.sub(REDACTED, text)
    if "@" in text:
        text = _URL_USERINFO.sub(rf"\1{REDACTED}@", text)
    return text


# -- URLs --------------------------------------------------------------------------------------------------------

# A URL can hold a secret only as user info (`@`), as a parameter (`name=...`), in a JSON web token (`eyJ`), or
# encoded (`%`, `+`, non-ASCII). Most are a path and a query of plain `name=value` pairs, and parameter names
# repeat from one request to the next: each is classified once (see `_verdicts`).
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_SEPARATORS = {";": re.compile("(;)"), "&;": re.compile("([&;])")}


def _could_hold_secret(url: str) -> bool:
    if "@" in url or "%" in url or "+" in url or "eyJ" in url or not url.isascii():
        return True
    if "=" not in url:
        return False
    path, _, query = url.partition("?")
    if "=" in path or ";" in url or "#" in url:
        return True  # parameters in the path, `;` parameters, a fragment: rarer, read in full
    verdicts = _verdicts
    for pair in query.split("&"):
        name = pair.partition("=")[0]
        verdict = verdicts.get(name)
        if verdict is None:
            verdict = is_secret_name(name)
        if verdict:
            return True
    return False


def _decoded(text: str) -> str:
    for _ in range(3):  # percent-encoding, even twice over
        if "%" not in text and "+" not in text:
            break
        text = unquote_plus(text)
    return text


def _value_is_secret(value: str) -> bool:
    # A token, or a URL, query or connection string inside the value (a redirect target) that carries a secret.
    if not value:
        return False
    decoded = _decoded(value)
    return redact_text(decoded) != decoded


def _redact_params(params: str, separators: str) -> str:
    """`name=value` parameters split at any of `separators`, each secret value replaced."""
    if not params:
        return params
    parts = _SEPARATORS[separators].split(params)
    for i in range(0, len(parts), 2):
        name, eq, value = parts[i].partition("=")
        if not eq:
            if "%" in name and _value_is_secret(name):  # an encoded "name=value"
                parts[i] = REDACTED
        elif value != REDACTED and (is_secret_name(name) or _value_is_secret(value)):
            parts[i] = f"{name}={REDACTED}"
    return "".join(parts)


def _redact_url(url: str) -> str:
    scheme = _SCHEME.match(url)
    start = scheme.end() if scheme else 2 if url.startswith("//") else 0
    end = len(url)
    for delimiter in "/?#":
        at = url.find(delimiter, start)
        if 0 <= at < end:
            end = at
    authority = url[start:end]
    if "@" in authority:
        authority = f"{REDACTED}@{authority.rpartition('@')[2]}"
    rest, hash_, fragment = url[end:].partition("#")
    path, question, query = rest.partition("?")
    if ";" in path or "=" in path:
        path = "/".join(_redact_params(segment, ";") for segment in path.split("/"))
    for pattern in SECRET_VALUE_PATTERNS:
        path = pattern.sub(REDACTED, path)
    query = _redact_params(query, "&;")
    if "=" in fragment:
        fragment = _redact_params(fragment, "&;")
    return f"{url[:start]}{authority}{path}{question}{query}{hash_}{fragment}"


def redact_url(url: str) -> str:
    """The URL with its credentials (user info) and every secret-bearing parameter's value - in the query, the
    fragment or `;` parameters, under any spelling of its name - replaced by `REDACTED`; the rest as it was."""
    # Runs for every HTTP invocation, and most URLs have nothing to redact: tell that at once.
    if not _could_hold_secret(url):
        return url
    try:
        return _redact_url(url)
    except Exception:  # a URL no reading of which is safe (never expected): nothing of it is kept
        return REDACTED


# -- attributes other code sets ----------------------------------------------------------------------------------

#: Span attributes that hold a URL or a part of one (current and older semantic conventions), with what a part
#: lacks to be read as a URL: a query alone is read after a `?`, a fragment after a `#`.
URL_ATTRIBUTES = {"url.full": "", "http.url": "", "http.target": "", "url.query": "?", "url.fragment": "#"}


def redact_attribute(key: str, value: object) -> object:
    """`value` as recorded under `key` with its secrets replaced: a URL attribute's as `redact_url` does, a value
    whose name is secret-bearing entirely, other text as `redact_text` does; anything else unchanged."""
    if not isinstance(value, str):
        return value
    prefix = URL_ATTRIBUTES.get(key)
    if prefix is not None:
        if not prefix:
            return redact_url(value)
        redacted = redact_url(prefix + value)
        return redacted[len(prefix) :] if redacted.startswith(prefix) else REDACTED
    if is_secret_name(key):
        return REDACTED if value else value
    return redact_text(value)
