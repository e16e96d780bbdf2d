"""The forward endpoint: Infobip POSTs its `results` envelope here (HTTP_FORWARD).

Answers: 200 once every message of the request is durably queued (or known as a duplicate);
503 + Retry-After when Redis cannot take it, so Infobip retries; 4xx with a JSON body for bad input.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from infobip_inbound.redis_client import async_client
from infobip_inbound.routing import Router
from infobip_inbound.settings import Settings
from receiver.auth import ForwardAuth
from receiver.body import BodyTooLarge, is_json, read_limited
from receiver.enqueue import Committer
from receiver.envelope import InvalidEnvelope, normalize_envelope, parse_envelope

log = logging.getLogger("infobip_inbound.receiver")

FORWARD_PATH = "/infobip/forward"


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def error(status: int, code: str, message: str, **extra: Any) -> Response:
    headers = extra.pop("headers", None)
    return json_response(status, {"error": code, "message": message, **extra}, headers)


class Receiver:
    def __init__(self, settings: Settings, client: aioredis.Redis | None = None) -> None:
        self.settings = settings
        self.auth = ForwardAuth(settings.forward_tokens, settings.forward_basic_auth, settings.auth_disabled)
        self.client = client if client is not None else async_client(settings)
        self.committer = Committer(self.client, Router.from_settings(settings), settings)
        self._unavailable_headers = {"Retry-After": str(settings.retry_after_seconds)}

    async def forward(self, request: Request) -> Response:
        started = time.perf_counter()
        response = await self._forward(request)
        log.info(
            "forward request",
            extra={
                "route": FORWARD_PATH,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return response

    async def _forward(self, request: Request) -> Response:
        if not self.auth.allows(request.path_params.get("token"), request.headers.get("authorization")):
            headers = {"WWW-Authenticate": 'Basic realm="infobip-inbound"'} if self.auth.uses_basic else None
            return error(401, "unauthorized", "missing or invalid credentials", headers=headers)
        if not is_json(request.headers.get("content-type")):
            return error(415, "unsupported_media_type", "Content-Type must be application/json")
        try:
            body = await read_limited(request, self.settings.max_body_bytes)
        except BodyTooLarge as exc:
            return error(413, "payload_too_large", str(exc))
        try:
            envelope = parse_envelope(body)
        except InvalidEnvelope as exc:
            return error(
                400,
                "invalid_envelope",
                "the body is not a valid Infobip results envelope",
                fields=[e.model_dump() for e in exc.errors],
            )
        responses = normalize_envelope(envelope, "forward")
        try:
            result = await self.committer.submit(responses)
        except (RedisError, OSError, ConnectionError) as exc:
            log.warning("forward not stored, answering 503: %s", type(exc).__name__)
            return error(
                503,
                "unavailable",
                "messages could not be stored; retry later",
                headers=self._unavailable_headers,
            )
        return json_response(200, {"accepted": result.accepted, "duplicates": result.duplicates})

    async def live(self, request: Request) -> Response:
        return json_response(200, {"status": "ok"})

    async def ready(self, request: Request) -> Response:
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            return json_response(503, {"status": "unavailable", "redis": type(exc).__name__})
        return json_response(200, {"status": "ok", "redis": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.committer.start()
        try:
            yield
        finally:
            await self.committer.stop()
            await self.client.aclose()


def create_app(settings: Settings, client: aioredis.Redis | None = None) -> Starlette:
    receiver = Receiver(settings, client)
    routes = [
        Route(FORWARD_PATH, receiver.forward, methods=["POST"]),
        Route(FORWARD_PATH + "/{token}", receiver.forward, methods=["POST"]),
        Route("/health/live", receiver.live, methods=["GET"]),
        Route("/health/ready", receiver.ready, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=receiver.lifespan)
    app.state.receiver = receiver
    return app
