"""The built-in `http_relay` handler: POST each response's UserResponse JSON to `http_relay.url`, signed per the
Standard Webhooks specification (https://www.standardwebhooks.com).

Headers: `webhook-id` (stable per (message, handler), so a receiver drops a repeat), `webhook-timestamp` (this
attempt, in seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per
configured secret, space-separated: a receiver holding the old or the new key verifies during a rotation).

Answers: 2xx is success; 408, 429 and 5xx (and timeouts, refused connections) are retried with the handler's
backoff, never before a `Retry-After`; any other answer is permanent (the pair is dead-lettered at once).

An async handler over aiohttp: the worker runs its calls concurrently (the handler's flow concurrency), so a slow
receiver costs wall time, not throughput. aiohttp's client is the cheapest per call of the well-kept ones
measured for it (docs/benchmarks.md: about 0.1 ms of CPU per call, against 0.4 ms for httpx over aiohttp's
transport and 1.8 ms for httpx's own), and that CPU is what bounds one process once the I/O is hidden.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
from multidict import CIMultiDictProxy

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.redaction import shown_url
from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store.handled import pair_id
from infobip_inbound.infobip.retry import parse_retry_after
from infobip_inbound.workers.handler_api import PermanentFailure, RetryLater
from infobip_inbound.workers.observe import current_handler
from infobip_inbound.workers.registry import SettingsFactory

RETRIED_STATUSES = frozenset({408, 429})
_RETRY_AFTER_CAP_SECONDS = 86_400.0  # a receiver's date far in the future is not a reason to wait for ever


def webhook_id(message_id: str, handler: str) -> str:
    """The same for every try of one (message, handler): what a receiver dedupes by."""
    return "msg_" + hashlib.sha256(pair_id(message_id, handler).encode()).hexdigest()[:32]


def signature(keys: list[bytes], webhook_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys)


def retry_after_seconds(value: str | None, now: float) -> float:
    """`Retry-After` as seconds from now, capped; 0 when absent or unreadable."""
    delay = parse_retry_after(value, datetime.fromtimestamp(now, UTC))
    return min(delay or 0.0, _RETRY_AFTER_CAP_SECONDS)


def settle(status: int, headers: CIMultiDictProxy[str], url: str) -> None:
    """Return on 2xx; raise what the worker should do with any other answer (`url` as shown)."""
    if 200 <= status < 300:
        return
    message = f"http_relay: {url} answered {status}"
    if status in RETRIED_STATUSES or status >= 500:
        raise RetryLater(message, retry_after_seconds(headers.get("retry-after"), time.time()))
    raise PermanentFailure(message)


class _Sessions:
    """One aiohttp session per event loop (a worker process runs one; a WorkerPool parent forks before any
    call), made on the loop that sends and closed when that loop shuts down (asyncio.run, testing.run_handler)."""

    def __init__(self, timeout: aiohttp.ClientTimeout) -> None:
        self._timeout = timeout
        self._sessions: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, AsyncIterator[None]]] = {}

    async def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        known = self._sessions.get(loop)
        if known is not None and not known[0].closed:
            return known[0]
        for other in [other for other in self._sessions if other.is_closed()]:
            del self._sessions[other]
        # No connection limit of its own: the handler's flow concurrency bounds the calls in flight.
        session = aiohttp.ClientSession(timeout=self._timeout, connector=aiohttp.TCPConnector(limit=0))
        closer = _closed_at_shutdown(session)
        await anext(closer)
        self._sessions[loop] = (session, closer)
        return session


async def _closed_at_shutdown(session: aiohttp.ClientSession) -> AsyncIterator[None]:
    """Started once and left suspended: the loop finalizes its async generators when it shuts down, and this
    one then closes the session on that loop (no loop-close hook exists besides)."""
    try:
        yield
    finally:
        await session.close()


class HttpRelayHandler(SettingsFactory):
    """`http_relay`, built from the worker's settings."""

    name = "http_relay"

    def for_settings(self, settings: Settings) -> Callable[[UserResponse], Awaitable[None]]:
        relay = settings.http_relay
        url = relay.url
        if url is None:
            raise ValueError("http_relay needs INBOUND_HTTP_RELAY__URL")
        if not relay.secrets:
            raise ValueError("http_relay needs at least one signing secret: INBOUND_HTTP_RELAY__SECRETS=whsec_...")
        keys = [base64.b64decode(s.get_secret_value().removeprefix("whsec_")) for s in relay.secrets]
        sessions = _Sessions(aiohttp.ClientTimeout(total=relay.timeout_seconds, connect=relay.connect_timeout_seconds))
        where = shown_url(url)

        async def http_relay(response: UserResponse) -> None:
            body = response.model_dump_json().encode()
            message_id = webhook_id(response.message_id, current_handler.get() or "http_relay")
            timestamp = str(int(time.time()))
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": timestamp,
                "webhook-signature": signature(keys, message_id, timestamp, body),
            }
            try:
                async with (await sessions.get()).post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as answer:
                    await answer.read()  # the connection goes back to the pool only once the body is read
                    settle(answer.status, answer.headers, where)
            except (aiohttp.ClientError, TimeoutError) as exc:
                # aiohttp's errors may carry the URL (credentials, query): retried, named by the shown URL.
                raise ConnectionError(f"http_relay: {where}: {type(exc).__name__}") from None

        return http_relay


http_relay_handler = HttpRelayHandler()
