"""Logging: JSON lines (containers) or human-readable (dev), with configured secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from contextvars import ContextVar

import orjson
from pythonjsonlogger.json import JsonFormatter

from infobip_inbound.contract.redaction import REDACTED, Redactor, secrets_of
from infobip_inbound.contract.settings import Settings

__all__ = ["REDACTED", "configure_cli_logging", "configure_logging", "request_id_var", "secrets_of"]

# The request id of the message being handled; every line logged meanwhile (the handler's own too) carries it.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


class _Redacting(logging.Formatter):
    """Wraps a formatter and removes every configured secret, and anything shaped like a credential,
    from the finished line (infobip_inbound.contract.redaction)."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner
        self._redact = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(self._inner.format(record))


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
