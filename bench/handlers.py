"""Handlers the benchmark routes to."""

from __future__ import annotations

import os
import time

import httpx
import redis

from infobip_inbound.contract.model import UserResponse

_latency_redis: redis.Redis | None = None
_downstream: httpx.AsyncClient | None = None


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


async def post_downstream(response: UserResponse) -> None:
    """POSTs the response to BENCH_DOWNSTREAM_URL (bench.downstream answers after 20 ms): an I/O-bound handler."""
    global _downstream
    if _downstream is None:  # one client per worker process, its connections kept alive
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        _downstream = httpx.AsyncClient(timeout=30, limits=limits)
    answer = await _downstream.post(os.environ["BENCH_DOWNSTREAM_URL"], content=response.model_dump_json())
    answer.raise_for_status()
