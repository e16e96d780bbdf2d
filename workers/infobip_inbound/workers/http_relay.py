"""The built-in `http_relay` handler: POST each response's UserResponse JSON to `http_relay_url`, signed per the
Standard Webhooks specification (https://www.standardwebhooks.com).

Headers: `webhook-id` (stable per (message, handler), so a receiver drops a repeat), `webhook-timestamp` (this
attempt, in seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per
configured secret, space-separated: a receiver holding the old or the new key verifies during a rotation).

Answers: 2xx is success; 408, 429 and 5xx (and timeouts, refused connections) are retried with the handler's
backoff, never before a `Retry-After`; any other answer is permanent (the pair is dead-lettered at once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.settings import Settings
from infobip_inbound.workers.handler_api import PermanentFailure, RetryLater
from infobip_inbound.workers.idempotency import pair_id
from infobip_inbound.workers.observe import current_handler

RETRIED_STATUSES = frozenset({408, 429})
_RETRY_AFTER_CAP_SECONDS = 86_400.0  # a receiver's date far in the future is not a reason to wait for ever


def webhook_id(message_id: str, handler: str) -> str:
    """The same for every try of one (message, handler): what a receiver dedupes by."""
    return "msg_" + hashlib.sha256(pair_id(message_id, handler).encode()).hexdigest()[:32]


def signature(keys: list[bytes], webhook_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys)


def retry_after_seconds(value: str | None, now: float) -> float:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; 0 when absent or unreadable."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return min(float(value), _RETRY_AFTER_CAP_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now), _RETRY_AFTER_CAP_SECONDS)


def settle(answer: httpx.Response) -> None:
    """Return on 2xx; raise what the worker should do with any other answer."""
    status = answer.status_code
    if 200 <= status < 300:
        return
    message = f"http_relay: {answer.request.url} answered {status}"
    if status in RETRIED_STATUSES or status >= 500:
        raise RetryLater(message, retry_after_seconds(answer.headers.get("retry-after"), time.time()))
    raise PermanentFailure(message)


class _Client:
    """One httpx client per process, made in the process that sends (a WorkerPool parent forks first)."""

    def __init__(self, timeout: httpx.Timeout) -> None:
        self._timeout = timeout
        self._client: httpx.Client | None = None
        self._pid = 0

    def get(self) -> httpx.Client:
        if self._client is None or self._pid != os.getpid():
            self._client = httpx.Client(timeout=self._timeout, follow_redirects=False)
            self._pid = os.getpid()
        return self._client


class HttpRelayHandler:
    """`http_relay`, built from the worker's settings."""

    def for_settings(self, settings: Settings) -> Callable[[UserResponse], None]:
        url = settings.http_relay_url
        if url is None:
            raise ValueError("http_relay needs INBOUND_HTTP_RELAY_URL")
        if not settings.http_relay_secrets:
            raise ValueError("http_relay needs at least one signing secret: INBOUND_HTTP_RELAY_SECRETS=whsec_...")
        keys = [base64.b64decode(s.get_secret_value().removeprefix("whsec_")) for s in settings.http_relay_secrets]
        client = _Client(
            httpx.Timeout(settings.http_relay_timeout_seconds, connect=settings.http_relay_connect_timeout_seconds)
        )

        def http_relay(response: UserResponse) -> None:
            body = response.model_dump_json().encode()
            message_id = webhook_id(response.message_id, current_handler.get() or "http_relay")
            timestamp = str(int(time.time()))
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": timestamp,
                "webhook-signature": signature(keys, message_id, timestamp, body),
            }
            settle(client.get().post(url, content=body, headers=headers))

        return http_relay

    def __call__(self, response: UserResponse) -> None:
        raise TypeError("http_relay is built from the worker's settings: HandlerRegistry(names, settings)")


http_relay_handler = HttpRelayHandler()
