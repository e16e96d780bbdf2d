"""Handlers the benchmark routes to."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import ssl
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
import redis
from httpx_aiohttp import HttpxAiohttpClient

from infobip_inbound.contract.model import UserResponse

_latency_redis: redis.Redis | None = None
# One client per process and event loop (a warm-up on a loop of its own must not leave the worker's loop a
# client bound to another).
_downstream: dict[asyncio.AbstractEventLoop, list[httpx.AsyncClient]] = {}
_kept_alive: dict[asyncio.AbstractEventLoop, _KeptAlive] = {}
_over_aiohttp: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
C = TypeVar("C")


def _for_loop(clients: dict[asyncio.AbstractEventLoop, C], make: Callable[[], C]) -> C:
    """The running loop's client in `clients`, made on first use."""
    loop = asyncio.get_running_loop()
    client = clients.get(loop)
    if client is None:
        client = clients[loop] = make()
    return client


def noop(response: UserResponse) -> None:
    """Handles nothing: measures the worker's own cost per message."""


def _redis() -> redis.Redis:
    global _latency_redis
    if _latency_redis is None:
        _latency_redis = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    return _latency_redis


def count_call(response: UserResponse) -> None:
    """Counts its calls in Redis: cheap enough that a rate limit, not the handler, sets the pace."""
    _redis().incr("bench:calls")


def record_start(response: UserResponse) -> None:
    """Records when the handler started for this message (wall clock), for end-to-end latency."""
    now = time.time()
    _redis().hset("bench:handler_start", response.message_id, f"{now!r} {now - response.ingested_at.timestamp()!r}")


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for all the clients (each would otherwise load the CA store, ~50 ms of CPU here)."""
    return ssl.create_default_context()


async def post_downstream(response: UserResponse) -> None:
    """POSTs the response to BENCH_DOWNSTREAM_URL (bench.downstream answers after 20 ms): an I/O-bound handler."""
    # An idle client per call, each keeping its one connection alive: httpcore's pool looks at every connection
    # it holds for every request it assigns (and at every idle one again for each idle one), so one client
    # shared by 64 calls in flight spends several times the CPU of the call itself in that bookkeeping.
    idle = _downstream.setdefault(asyncio.get_running_loop(), [])
    client = idle.pop() if idle else httpx.AsyncClient(timeout=30, verify=_tls())
    try:
        answer = await client.post(os.environ["BENCH_DOWNSTREAM_URL"], content=response.model_dump_json())
    finally:
        idle.append(client)
    answer.raise_for_status()


async def post_downstream_aiohttp(response: UserResponse) -> None:
    """The same POST as `post_downstream`, through httpx's API over aiohttp's transport (httpx-aiohttp): one
    client per process and loop, its pool sized for the calls in flight."""
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    client = _for_loop(_over_aiohttp, lambda: HttpxAiohttpClient(timeout=30, verify=_tls(), limits=limits))
    answer = await client.post(os.environ["BENCH_DOWNSTREAM_URL"], content=response.model_dump_json())
    answer.raise_for_status()


class _KeptAlive:
    """A minimal HTTP/1.1 client over asyncio streams, its connections kept alive and reused, for the handler
    that shows the worker's own ceiling with I/O-bound calls: a real POST whose answer is read and checked,
    at a fraction of a general-purpose client's CPU per call."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._head = f"POST {parts.path or '/'} HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-type: application/json\r\n"
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, body: bytes) -> int:
        reader, writer = self._idle.pop() if self._idle else await asyncio.open_connection(self._host, self._port)
        try:
            writer.write(f"{self._head}content-length: {len(body)}\r\n\r\n".encode() + body)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
        except BaseException:
            writer.close()
            raise
        self._idle.append((reader, writer))
        return status


async def post_downstream_lean(response: UserResponse) -> None:
    """The same POST as `post_downstream`, through `_KeptAlive` instead of httpx."""
    client = _for_loop(_kept_alive, lambda: _KeptAlive(os.environ["BENCH_DOWNSTREAM_URL"]))
    status = await client.post(response.model_dump_json().encode())
    if status >= 400:
        raise RuntimeError(f"downstream answered {status}")


def slow_50ms(response: UserResponse) -> None:
    """Takes 50 ms a call (sync, one call at a time unless configured): a handler that lags behind the offered rate."""
    time.sleep(0.05)
