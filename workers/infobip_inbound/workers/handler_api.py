"""What a handler may use besides the UserResponse: the exceptions that steer its retries, and the context
a handler receives when it declares a parameter named `context`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any


class PermanentFailure(Exception):
    """This response will never succeed with this handler: dead-letter the pair now, no further tries."""


class RetryLater(Exception):
    """A failure worth retrying, not before `after_seconds` (e.g. a `Retry-After` answer). The retry comes
    after the longer of this and the handler's backoff; the tries it may take are unchanged."""

    def __init__(self, message: str, after_seconds: float) -> None:
        super().__init__(message)
        self.after_seconds = max(0.0, after_seconds)


@dataclass(frozen=True, slots=True)
class CallContext:
    """One call of one handler on one response."""

    handler: str  # the name the route gives it
    try_number: int  # 1 on the first try, 2 on the first retry, ...
    request_id: str | None  # the request that brought the response (None for PULL or when not known)
    queue: str
    log: logging.LoggerAdapter[Any]  # `infobip_inbound.handlers.<handler>`, with message_id and try on each line


def call_context(handler: str, message_id: str, try_number: int, request_id: str | None, queue: str) -> CallContext:
    logger = logging.getLogger(f"infobip_inbound.handlers.{handler}")
    extra = {"handler": handler, "message_id": message_id, "try": try_number, "request_id": request_id}
    return CallContext(handler, try_number, request_id, queue, logging.LoggerAdapter(logger, extra))
