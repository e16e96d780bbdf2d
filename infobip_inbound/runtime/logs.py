"""Logging: JSON lines (containers) or human-readable (dev), with configured secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from contextvars import ContextVar

import orjson
from pythonjsonlogger.json import JsonFormatter

from infobip_inbound.contract.settings import Settings

REDACTED = "[redacted]"

# The request id of the message being handled; every line logged meanwhile (the handler's own too) carries it.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


# Credentials that may show up without being configured here (a wrong token, a caller's header).
_CREDENTIAL_PATTERNS = (
    (re.compile(r"(/infobip/forward/)[^\s\"'?&/]+"), r"\1" + REDACTED),
    (
        re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|app)\s+)[A-Za-z0-9+/=._~-]+"),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)\b((?:basic|app|bearer) )[A-Za-z0-9+/=._~-]{12,}"), r"\1" + REDACTED),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@\"']*:)[^\s@/\"']+@"), r"\1" + REDACTED + "@"),
)


class _Redacting(logging.Formatter):
    """Wraps a formatter and removes every configured secret, and anything shaped like a credential,
    from the finished line."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = self._inner.format(record)
        for secret in self._secrets:
            if secret in line:
                line = line.replace(secret, REDACTED)
        for pattern, replacement in _CREDENTIAL_PATTERNS:
            line = pattern.sub(replacement, line)
        return line


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class _Console(logging.Formatter):
    """Human-readable line; fields passed as `extra` follow the message as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
        if extras:
            line += " " + " ".join(f"{k}={orjson.dumps(v, default=str).decode()}" for k, v in extras.items())
        return line


def secrets_of(settings: Settings) -> list[str]:
    values = [s.get_secret_value() for s in settings.forward_tokens]
    for pair in settings.forward_basic_auth:
        values.append(pair.get_secret_value())
        values.append(pair.get_secret_value().partition(":")[2])
    values += [s.get_secret_value() for s in settings.admin_tokens]
    if settings.infobip_api_key is not None:
        values.append(settings.infobip_api_key.get_secret_value())
    values += [a.api_key.get_secret_value() for a in settings.poll_accounts if a.api_key is not None]
    for relay_secret in settings.http_relay_secrets:  # the whole `whsec_…` and its key alone
        values += [relay_secret.get_secret_value(), relay_secret.get_secret_value().removeprefix("whsec_")]
    if settings.redis_stream_url and "@" in settings.redis_stream_url:
        userinfo = settings.redis_stream_url.split("://", 1)[-1].rsplit("@", 1)[0]
        values.append(userinfo.partition(":")[2] or userinfo)
    if settings.redis_url and "@" in settings.redis_url:
        userinfo = settings.redis_url.split("://", 1)[-1].rsplit("@", 1)[0]
        values.append(userinfo.partition(":")[2] or userinfo)
    for secret in (settings.redis_password, settings.redis_sentinel_password, settings.infobip_api_key):
        if secret is not None:
            values.append(secret.get_secret_value())
    # An ACL user name identifies an account; Redis's own "default" user is a common word and names nothing.
    if settings.redis_username and settings.redis_username != "default":
        values.append(settings.redis_username)
    values.extend(a.api_key.get_secret_value() for a in settings.poll_accounts if a.api_key is not None)
    return values


# Library loggers below WARNING unless DEBUG is asked for: httpx logs every request at INFO, and RQ logs three or
# four lines per job beside the worker's own `handled` line. RQ's lifecycle and maintenance lines (started,
# listening, cleaning registries, shutting down) stay.
QUIET_LIBRARIES = ("httpx", "httpcore")
_RQ_PER_JOB = re.compile(
    r"Job OK|Result is kept|Result will never expire|Successfully completed|enqueued for retry|[0-9a-f]{32}\W*$",
    re.IGNORECASE,
)


class _QuietLibraries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or not record.name.startswith("rq"):
            return True
        return not _RQ_PER_JOB.search(record.getMessage())


def quiet_libraries(level: str) -> logging.Filter | None:
    """Set the library loggers for the service's `level`; the filter to put on handlers (None under DEBUG)."""
    library_level = logging.DEBUG if level == "DEBUG" else max(logging.WARNING, logging.getLevelName(level))
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(library_level)
    return None if level == "DEBUG" else _QuietLibraries()


def configure_cli_logging(settings: Settings | None, verbose: bool = False) -> None:
    """Logging of the short-lived commands (register, infobip, status, ...): their own lines (an Infobip retry
    with its try number and delay) at INFO, human-readable on stderr; libraries at WARNING unless `verbose`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Redacting(_Console(), secrets_of(settings) if settings is not None else []))
    quiet = quiet_libraries("DEBUG" if verbose else "INFO")
    if quiet is not None:
        handler.addFilter(quiet)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def configure_logging(settings: Settings) -> None:
    if settings.log_format == "json":
        inner: logging.Formatter = JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level"},
        )
    else:
        inner = _Console()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Redacting(inner, secrets_of(settings)))
    handler.addFilter(_RequestId())
    quiet = quiet_libraries(settings.log_level)
    if quiet is not None:
        handler.addFilter(quiet)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
