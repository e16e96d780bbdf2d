"""The receiver's ASGI app: the forward endpoint (receiver.forward), health, metrics, the status page and the
message look-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings, load_settings
from infobip_inbound.infobip.forward_url import FORWARD_PATH
from infobip_inbound.receiver.auth import ForwardAuth
from infobip_inbound.receiver.edge import harden, http_limits
from infobip_inbound.receiver.edge.errors import error_response, internal_error_response
from infobip_inbound.receiver.edge.http_limits import HttpLimits
from infobip_inbound.receiver.enqueue import Committer
from infobip_inbound.receiver.forward import ForwardEndpoint
from infobip_inbound.receiver.messages_page import MessagesPage
from infobip_inbound.receiver.observe import counted
from infobip_inbound.receiver.openapi import openapi
from infobip_inbound.receiver.status_page import StatusPage
from infobip_inbound.runtime import tracing
from infobip_inbound.runtime.metrics import CONTENT_TYPE, exposition, register, unregister
from infobip_inbound.runtime.metrics_collectors import RedisStateCollector
from infobip_inbound.runtime.redis_client import async_client, sync_client
from infobip_inbound.runtime.status import lanes_of

log = logging.getLogger(__name__)

METRICS_FLUSH_SECONDS = 0.2  # how stale the forward endpoint's counts may be in a scrape of another process


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


class Receiver:
    def __init__(self, settings: Settings, client: aioredis.Redis | None = None) -> None:
        self.settings = settings
        self.client = client if client is not None else async_client(settings)
        self.committer = Committer(self.client, Router.from_settings(settings), settings)
        auth = ForwardAuth(settings.forward_tokens, settings.forward_basic_auth, settings.auth_disabled)
        self.forward = ForwardEndpoint(settings, auth, self.committer)
        # Sync client for what runs in the thread pool (scrapes, the status page), never on the event loop.
        self.sync_client = sync_client(settings) if settings.redis_url else None
        self.state_collector: RedisStateCollector | None = None
        if self.sync_client is not None:
            self.state_collector = RedisStateCollector(self._sync, settings.queues, lanes_of(settings))

    def _sync(self) -> Any:
        assert self.sync_client is not None
        return self.sync_client

    async def live(self, request: Request) -> Response:
        return json_response(200, {"status": "ok"})

    async def ready(self, request: Request) -> Response:
        if not self.committer.running:
            return json_response(503, {"status": "unavailable", "committer": "stopped"})
        try:
            await self.client.ping()
        except (RedisError, OSError):
            return json_response(503, {"status": "unavailable", "redis": "unavailable"})
        return json_response(200, {"status": "ok", "redis": "ok"})

    async def metrics(self, request: Request) -> Response:
        # The forward counts are tallied on the event loop, so they are flushed here; the scrape itself reads
        # Redis with a sync client, in the thread pool.
        self.forward.metrics.flush()
        return Response(await run_in_threadpool(exposition), media_type=CONTENT_TYPE)

    async def _flush_metrics(self) -> None:
        while True:
            await asyncio.sleep(METRICS_FLUSH_SECONDS)
            try:
                self.forward.metrics.flush()
            except Exception:  # a failed flush must not end the flushing: later counts would never show
                log.exception("could not add the forward counts to the metrics")

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.committer.start()
        flusher = asyncio.create_task(self._flush_metrics(), name="metrics-flush")
        if self.state_collector is not None:
            register(self.state_collector)
        try:
            yield
        finally:
            flusher.cancel()
            self.forward.metrics.flush()
            if self.state_collector is not None:
                unregister(self.state_collector)
            await self.committer.stop()
            await self.client.aclose()
            if self.sync_client is not None:
                self.sync_client.close()


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        return internal_error_response()
    code = "not_found" if exc.status_code == 404 else f"http_{exc.status_code}"
    return error_response(exc.status_code, code, exc.detail, exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette logs nothing here and re-raises after answering; the edge's FaultGuard logs it.
    return internal_error_response()


def create_app(settings: Settings, client: aioredis.Redis | None = None) -> ASGIApp:
    tracing.setup()  # from the standard OTEL_* variables, before the forward endpoint chooses its path
    http_limits.use(HttpLimits.from_settings(settings))  # for the connections this process serves
    receiver = Receiver(settings, client)
    description = orjson.dumps(openapi(settings))

    async def openapi_json(request: Request) -> Response:
        return Response(description, media_type="application/json")

    routes = [
        Route(FORWARD_PATH, receiver.forward, methods=["POST"]),
        Route(FORWARD_PATH + "/{token}", receiver.forward, methods=["POST"]),
        counted(Route("/health/live", receiver.live, methods=["GET"])),
        counted(Route("/health/ready", receiver.ready, methods=["GET"])),
        counted(Route("/metrics", receiver.metrics, methods=["GET"])),
        counted(Route("/openapi.json", openapi_json, methods=["GET"])),
    ]
    if receiver.sync_client is not None:
        status, messages = StatusPage(settings, receiver.sync_client), MessagesPage(settings, receiver.sync_client)
        if status.enabled:
            routes += [counted(route) for route in status.routes() + messages.routes()]
    app = Starlette(
        routes=routes,
        lifespan=receiver.lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    # No redirect to the path with(out) a trailing slash: its Location would be built from the Host header,
    # and it would answer before any credential check.
    app.router.redirect_slashes = False
    app.state.receiver = receiver
    return harden(app, forward=receiver.forward)


def app_from_env() -> ASGIApp:
    """App factory for `serve --workers N`: each uvicorn process loads the settings and logging itself."""
    from infobip_inbound.runtime.logs import configure_logging
    from infobip_inbound.runtime.process import settle_heap

    settings = load_settings()
    configure_logging(settings)
    app = create_app(settings)
    settle_heap()
    return app
