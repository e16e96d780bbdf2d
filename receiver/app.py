"""The receiver's ASGI app: the forward endpoint (receiver/forward.py) and the health endpoints."""

from __future__ import annotations

import contextlib
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
from receiver.enqueue import Committer
from receiver.forward import FORWARD_PATH, ForwardEndpoint


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
