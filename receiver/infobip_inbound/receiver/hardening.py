"""Forward endpoint hardening: client address behind trusted proxies, IP allowlist, per-client rate limit,
JSON nesting and size limits, security headers, and JSON error answers for our own faults.

Everything is decided once at start; with no allowlist and no rate limit configured the forward
endpoint skips the guard entirely.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import OrderedDict
from functools import lru_cache
from typing import Any, Literal

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infobip_inbound.contract.settings import Settings
from infobip_inbound.infobip.envelope import InfobipEnvelope
from infobip_inbound.infobip.forward_url import FORWARD_PATH

log = logging.getLogger("infobip_inbound.receiver")

Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"strict-transport-security", b"max-age=31536000"),
)
_JSON = (b"content-type", b"application/json")


def _answer(status: int, code: str, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
    return status, orjson.dumps({"error": code, "message": message}), headers or []


class ClientAddress:
    """The caller's address: the TCP peer, or with N trusted proxies the N-th X-Forwarded-For entry from
    the right (each proxy appends the peer it saw; entries further left are the client's to forge)."""

    def __init__(self, trusted_proxies: int) -> None:
        self._trusted = trusted_proxies

    def __call__(self, scope: Scope) -> str:
        peer = scope.get("client")
        address: str = peer[0] if peer else ""
        if not self._trusted:
            return address
        forwarded = b",".join(value for name, value in scope["headers"] if name == b"x-forwarded-for")
        hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
        # Fewer entries than trusted proxies: the request skipped a proxy; judge it by its peer.
        return hops[-self._trusted] if len(hops) >= self._trusted else address


class Allowlist:
    def __init__(self, cidrs: list[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)
        self.allows = lru_cache(maxsize=4096)(self._allows)

    def _allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)


class RateLimiter:
    """Token bucket per client address, in this process. The table of buckets is bounded: the least
    recently seen clients are forgotten first (a forgotten client starts with a full bucket)."""

    def __init__(self, per_second: float, burst: int, max_clients: int = 65_536) -> None:
        self._rate = per_second
        self._burst = float(burst)
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    def allow(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max_clients:
                self._buckets.popitem(last=False)
            bucket = self._buckets[client] = [self._burst, now]
        else:
            self._buckets.move_to_end(client)
            bucket[0] = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
            bucket[1] = now
        if bucket[0] < 1:
            return False
        bucket[0] -= 1
        return True


class RequestGuard:
    """Checks made before a forward request is read: allowlist, then rate limit."""

    def __init__(self, settings: Settings) -> None:
        self._client = ClientAddress(settings.trusted_proxies)
        self._allowlist = Allowlist(settings.forward_allowed_cidrs) if settings.forward_allowed_cidrs else None
        self._limiter = (
            RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
            if settings.rate_limit_per_second
            else None
        )
        self._forbidden = _answer(403, "forbidden", "this address may not call the endpoint")
        retry_after = str(max(1, int(1 / settings.rate_limit_per_second + 0.999))) if self._limiter else "1"
        self._limited = _answer(
            429, "too_many_requests", "rate limit exceeded; retry later", [(b"retry-after", retry_after.encode())]
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestGuard | None:
        return cls(settings) if settings.forward_allowed_cidrs or settings.rate_limit_per_second else None

    def check(self, scope: Scope) -> Answer | None:
        client = self._client(scope)
        if self._allowlist is not None and not self._allowlist.allows(client):
            return self._forbidden
        if self._limiter is not None and not self._limiter.allow(client):
            return self._limited
        return None


def _too_deep(value: Any, limit: int) -> bool:
    """Whether `value` nests deeper than `limit` containers. Iterative: no recursion on hostile input."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item  # type: ignore[assignment]
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def envelope_problem(envelope: InfobipEnvelope, max_results: int, max_depth: int) -> Answer | None:
    """Limits on what validated: number of results, nesting of the free-form parts (payloads, extras).
    The envelope and a result are two levels; free-form values start at the third."""
    if len(envelope.results) > max_results:
        return _answer(413, "too_many_results", f"at most {max_results} results per request")
    inner = max_depth - 2
    for result in envelope.results:
        if (result.custom_payload and _too_deep(result.custom_payload, inner)) or (
            result.__pydantic_extra__ and _too_deep(result.__pydantic_extra__, inner + 1)
        ):
            return _answer(400, "too_deep", f"JSON nests deeper than {max_depth} levels")
    if envelope.__pydantic_extra__ and _too_deep(envelope.__pydantic_extra__, max_depth):
        return _answer(400, "too_deep", f"JSON nests deeper than {max_depth} levels")
    return None


_FORWARD_PREFIX = FORWARD_PATH + "/"
_INTERNAL = orjson.dumps({"error": "internal_error", "message": "the request could not be processed"})


class Hardening:
    """Outermost ASGI layer: security headers on every answer, and a JSON 500 (no details) if anything
    inside raises before answering. The exception itself goes to the log, never to the client."""

    def __init__(self, app: ASGIApp, forward: ASGIApp | None = None) -> None:
        self._app = app
        self._forward = forward

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if self._forward is not None and scope["method"] == "POST":
            token = _forward_token(scope["path"])
            if token is not False:
                # The hot path goes straight to the forward endpoint: it sets the security headers and answers
                # its own faults with a JSON 500 itself.
                scope["path_params"] = {"token": token} if token else {}
                await self._forward(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                own = {name.lower() for name, _ in headers}
                # A route's own policy (the status page allows its one script by hash) wins over the default.
                message["headers"] = headers + [h for h in SECURITY_HEADERS if h[0] not in own]
            await send(message)

        await self._guarded(self._app, scope, receive, send_with_headers)

    @staticmethod
    async def _guarded(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, sending)
        except Exception:
            log.error("unexpected error answering a request", exc_info=True, extra={"route": _route(scope)})
            if started:
                return  # the answer (Starlette's error handler's) is out; the error is logged
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [_JSON, (b"content-length", str(len(_INTERNAL)).encode()), *SECURITY_HEADERS],
                }
            )
            await send({"type": "http.response.body", "body": _INTERNAL})


def _forward_token(path: str) -> str | Literal[False] | None:
    """For the forward routes: the path token, or None without one. False for any other path."""
    if path == FORWARD_PATH:
        return None
    if (
        path.startswith(_FORWARD_PREFIX)
        and "/" not in path[len(_FORWARD_PREFIX) :]
        and len(path) > len(_FORWARD_PREFIX)
    ):
        return path[len(_FORWARD_PREFIX) :]
    return False


def _route(scope: Scope) -> str:
    # Never the full path: the forward path carries the secret token.
    path: str = scope.get("path", "")
    return FORWARD_PATH if path.startswith(FORWARD_PATH) else path[:100]
