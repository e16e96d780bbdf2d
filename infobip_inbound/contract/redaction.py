"""Secrets kept out of every surface: log lines, exception messages, dead-letter entries, archive events, pages
and CLI output.

The secrets are found by walking the settings, not listed by hand: every `SecretStr` (and the password of a
`user:password` one, the key of a `whsec_` one), and the credentials and query string of every URL-valued
setting (outputs, Infobip base URLs, Redis). A setting added later is covered by its type. Text that carries a
credential without it being configured here (a caller's wrong token, an Authorization header, a URL's password
or query) is caught by shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, SecretStr

REDACTED = "[redacted]"
# A URL's user name or query value shorter than this is taken for an ordinary word (`relay`, `?format=json`),
# not replaced wherever it appears: the password and the whole query string still are, and by shape too.
_WORD_MAX = 7

# Credentials that may show up without being configured here (a wrong token, a caller's header, a URL).
_CREDENTIAL_PATTERNS = (
    (re.compile(r"(/infobip/forward/)[^\s\"'?&/]+"), r"\1" + REDACTED),
    (
        re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|app)\s+)[A-Za-z0-9+/=._~-]+"),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)\b((?:basic|app|bearer) )[A-Za-z0-9+/=._~-]{12,}"), r"\1" + REDACTED),
    # A URL's password (`scheme://user:password@`) and its query string (`?key=…`).
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@\"'<>]*:)[^\s@/\"'<>]+@"), r"\1" + REDACTED + "@"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s?#\"'<>]*\?)[^\s#\"'<>]+"), r"\1" + REDACTED),
)


def shown_url(url: str) -> str:
    """A URL as errors, logs and pages show it: without its credentials and query (either may hold a key)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port is not None:
            host += f":{parts.port}"
    except ValueError:
        return REDACTED
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else REDACTED


def _url_secrets(url: str) -> Iterator[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        yield parts.password
    if parts.username and len(parts.username) > _WORD_MAX:  # an account's name, or a token given as the user
        yield parts.username
    if parts.query:
        yield parts.query
        for _, value in parse_qsl(parts.query, keep_blank_values=False):
            if len(value) > _WORD_MAX:
                yield value


def _walk(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        yield secret
        if ":" in secret:  # a `user:password` pair: its password alone shows up too
            yield secret.partition(":")[2]
        if secret.startswith("whsec_"):  # a Standard Webhooks secret: its key alone
            yield secret.removeprefix("whsec_")
    elif isinstance(value, str):
        if "://" in value:
            yield from _url_secrets(value)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _walk(item)


def secrets_of(settings: BaseModel) -> list[str]:
    """Every secret the settings hold, found by type and shape (see the module's docstring)."""
    values = list(_walk(settings))
    # An ACL user name identifies an account; Redis's own "default" user is a common word and names nothing.
    username = getattr(settings, "redis_username", None)
    if isinstance(username, str) and username != "default":
        values.append(username)
    return values


class Redactor:
    """Removes the configured secrets, and anything shaped like a credential, from a text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, replacement in _CREDENTIAL_PATTERNS:
            text = pattern.sub(replacement, text)
        return text


@lru_cache(maxsize=8)
def _cached(secrets: tuple[str, ...]) -> Redactor:
    return Redactor(secrets)


def redactor_for(settings: BaseModel) -> Redactor:
    """The settings' redactor (one per distinct set of secrets)."""
    return _cached(tuple(sorted(set(secrets_of(settings)))))
