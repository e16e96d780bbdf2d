"""The receiver's ASGI app: the forward endpoint (receiver/forward.py) and the health endpoints."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from infobip_inbound.redis_client import async_client
from infobip_inbound.routing import Router
from infobip_inbound.settings import Settings
from receiver.auth import ForwardAuth
from receiver.enqueue import Committer
from receiver.forward import FORWARD_PATH, ForwardEndpoint
from receiver.hardening import Hardening
from receiver.openapi import openapi


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


class Receiver:
    def __init__(self, settings: Settings, client: aioredis.Redis | None = None) -> None:
        self.settings = settings
        self.client = client if client is not None else async_client(settings)
        self.committer = Committer(self.client, Router.from_settings(settings), settings)
        auth = ForwardAuth(settings.forward_tokens, settings.forward_basic_auth, settings.auth_disabled)
        self.forward = ForwardEndpoint(settings, auth, self.committer)

    async def live(self, request: Request) -> Response:
        return json_response(200, {"status": "ok"})

    async def ready(self, request: Request) -> Response:
        try:
            await self.client.ping()
        except (RedisError, OSError):
            return json_response(503, {"status": "unavailable", "redis": "unavailable"})
        return json_response(200, {"status": "ok", "redis": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.committer.start()
        try:
            yield
        finally:
            await self.committer.stop()
            await self.client.aclose()


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return json_response(status, {"error": "not_found" if status == 404 else f"http_{status}"})


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette logs nothing here and re-raises after answering; Hardening logs it.
    return json_response(500, {"error": "internal_error", "message": "the request could not be processed"})


def create_app(settings: Settings, client: aioredis.Redis | None = None) -> Hardening:
    receiver = Receiver(settings, client)
    description = orjson.dumps(openapi(settings))

    async def openapi_json(request: Request) -> Response:
        return Response(description, media_type="application/json")

    routes = [
        Route(FORWARD_PATH, receiver.forward, methods=["POST"]),
        Route(FORWARD_PATH + "/{token}", receiver.forward, methods=["POST"]),
        Route("/health/live", receiver.live, methods=["GET"]),
        Route("/health/ready", receiver.ready, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=receiver.lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    app.state.receiver = receiver
    return Hardening(app)
