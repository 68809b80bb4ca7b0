"""Credentials kept out of everything the project records or prints.

A robot's or a webhook's URL carries its credential: WeCom's ``key=``, DingTalk's
``access_token=`` and ``sign=``, a token as a path segment (``/hooks/9f2c…``), a password
in the userinfo (``postgres://u:PW@host/db``). Error texts echo those URLs: a peer's
answer that repeats the request, an exception that names the URL. ``scrub`` blanks the
credentials of every URL in a text, every ``token=…``-like pair, and every secret the
caller knows by value; it is applied where errors and URLs are recorded (the dispatcher's
``last_error``, delivery rows and audit events) and where they are shown.

The bottom layer: it imports nothing of the project.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

MASK = "***"

# Query parameters (and ``name=value`` pairs in free text) whose value is a credential.
_SECRET_WORDS = "token|secret|key|sign|password|passwd|pwd|auth|credential|ticket|session"
_SECRET_NAME = rf"[A-Za-z0-9_.-]*(?:{_SECRET_WORDS})[A-Za-z0-9_.-]*"
_SECRET_PAIR = re.compile(
    rf"(?i)(?P<name>\b{_SECRET_NAME})(?P<sep>[\"']?\s*[=:]\s*|%3D)(?P<quote>[\"']?)"
    r"(?P<value>[^\s&\"'<>,;)\]}]+)"
)
# A URL in free text (any scheme), up to a space, a quote or a closing bracket.
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s\"'<>`]+")
# A path segment that looks like a credential: long, and letters mixed with digits (a
# hook id, a UUID, a hex or base64 token), not a word.
_TOKEN_SEGMENT = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_=+.~-]{16,}$|^[0-9a-fA-F-]{24,}$")


def scrub_url(url: str) -> str:
    """``url`` with its credentials masked: the userinfo password, credential-like query
    parameters and token-like path segments. The scheme, host, port and ordinary path stay,
    so a person can still tell which peer it was."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.netloc
    except ValueError:
        return _scrub_pairs(url)
    if "@" in host:
        userinfo, _, hostport = host.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        host = f"{user}{':' + MASK if colon else ''}@{hostport}"
    path = "/".join(
        MASK if _TOKEN_SEGMENT.match(urllib.parse.unquote(segment)) else segment
        for segment in parts.path.split("/")
    )
    query = _scrub_query(parts.query)
    fragment = _scrub_pairs(parts.fragment)
    return urllib.parse.urlunsplit((parts.scheme, host, path, query, fragment))


def _scrub_query(query: str) -> str:
    if not query:
        return query
    kept = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if equals and value and re.fullmatch(f"(?i){_SECRET_NAME}", urllib.parse.unquote(name)):
            kept.append(f"{name}={MASK}")
        else:
            kept.append(pair)
    return "&".join(kept)


def _scrub_pairs(text: str) -> str:
    def masked(m: re.Match[str]) -> str:
        if m["value"].startswith(MASK):
            return m[0]
        return f"{m['name']}{m['sep']}{m['quote']}{MASK}"

    return _SECRET_PAIR.sub(masked, text)


def _scrub_quoted_url(match: re.Match[str]) -> str:
    """A URL found in a sentence: punctuation that ends the sentence is not part of it."""
    url = match[0]
    ending = len(url.rstrip(".,:;!?)]}"))
    return scrub_url(url[:ending]) + url[ending:]


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential blanked: each secret given by value (as is and as it
    looks inside a URL), the credentials of every URL in it (``\\/`` escaped ones too, as
    JSON writes them), and every ``token=…``-like pair."""
    if not text:
        return text
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) < 4:  # nothing that short is a real secret; blanking it garbles
            continue
        forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, MASK)
    text = text.replace("\\/", "/")
    text = _URL.sub(_scrub_quoted_url, text)
    return _scrub_pairs(text)


def credentials_of(url: str) -> list[str]:
    """The credentials a URL carries, by value (to blank wherever they turn up, even
    outside the URL: a peer that echoes only its path or only the token)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return []
    found = [parts.password] if parts.password else []
    for segment in parts.path.split("/"):
        if _TOKEN_SEGMENT.match(urllib.parse.unquote(segment)):
            found.append(segment)
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=False):
        if re.fullmatch(f"(?i){_SECRET_NAME}", name):
            found.append(value)
    return found
