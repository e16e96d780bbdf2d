"""The receiver's JSON error answers, built here only: `{"error": <code>, "message": <text>, ...}`.

A refusal of a forward request is an answer with a reason: the reason is its `error` code and its label in
`infobip_inbound_rejected_total`, so the body the caller sees and the count an operator sees agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

import orjson
from starlette.responses import Response

Headers = list[tuple[bytes, bytes]]
# A forward endpoint answer: status, body, headers of its own, and the refusal reason (None: not refused).
Answer = tuple[int, bytes, Headers, str | None]

Reason = Literal[
    "forbidden",
    "too_many_requests",
    "unauthorized",
    "payload_too_large",
    "invalid_envelope",
    "too_deep",
    "too_many_results",
    "unavailable",
]
# Every reason a forward request is refused for, with the status it is answered with.
REFUSALS: dict[Reason, int] = {
    "forbidden": 403,  # the client address is not on the allowlist
    "too_many_requests": 429,  # the client address is over its rate limit in this process
    "unauthorized": 401,  # no valid path token or HTTP Basic credentials
    "payload_too_large": 413,  # the body is over INBOUND_MAX_BODY_BYTES
    "invalid_envelope": 400,  # malformed JSON, an envelope that does not validate, a value that cannot be stored
    "too_deep": 400,  # JSON nested deeper than INBOUND_MAX_JSON_DEPTH
    "too_many_results": 413,  # more results than INBOUND_MAX_RESULTS
    "unavailable": 503,  # Redis cannot take the messages now (not the caller's fault: Infobip retries)
}
assert set(REFUSALS) == set(get_args(Reason))

INTERNAL_ERROR_STATUS = 500
# Our own fault: no details (they go to the log).
INTERNAL_ERROR = orjson.dumps({"error": "internal_error", "message": "the request could not be processed"})


def error_body(code: str, message: str | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"error": code}
    if message is not None:
        body["message"] = message
    return orjson.dumps({**body, **extra})


def refusal(reason: Reason, message: str, headers: Mapping[str, str] | None = None, **extra: Any) -> Answer:
    """The forward endpoint's answer refusing a request for `reason`."""
    own = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    return REFUSALS[reason], error_body(reason, message, **extra), own, reason


def error_response(
    status: int, code: str, message: str | None = None, headers: Mapping[str, str] | None = None, **extra: Any
) -> Response:
    """The same body as a Starlette response, for the routes other than the forward endpoint."""
    return Response(error_body(code, message, **extra), status, headers=headers, media_type="application/json")


def internal_error_response() -> Response:
    return Response(INTERNAL_ERROR, INTERNAL_ERROR_STATUS, media_type="application/json")
