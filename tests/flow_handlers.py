"""Handlers that call the test downstream (tests.downstream) at TEST_DOWNSTREAM_URL/<handler>, sending what
they see of the context (the handler the worker says is running) and their process id."""

from __future__ import annotations

import os

import httpx

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.workers.observe import current_handler

_clients: dict[str, httpx.AsyncClient] = {}


def _body(response: UserResponse) -> dict[str, str | int | None]:
    return {"message_id": response.message_id, "handler_seen": current_handler.get(), "pid": os.getpid()}


async def _post(name: str, response: UserResponse) -> None:
    client = _clients.get("async")
    if client is None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        client = _clients["async"] = httpx.AsyncClient(timeout=60, limits=limits)
    answer = await client.post(f"{os.environ['TEST_DOWNSTREAM_URL']}/{name}", json=_body(response))
    answer.raise_for_status()


async def post_a(response: UserResponse) -> None:
    await _post("post_a", response)


async def post_b(response: UserResponse) -> None:
    await _post("post_b", response)


def post_sync(response: UserResponse) -> None:
    answer = httpx.post(f"{os.environ['TEST_DOWNSTREAM_URL']}/post_sync", json=_body(response), timeout=60)
    answer.raise_for_status()
