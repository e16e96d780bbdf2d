"""Handlers the benchmark routes to."""

from __future__ import annotations

import os
import time

import redis

from infobip_inbound.contract.model import UserResponse

_latency_redis: redis.Redis | None = None


def noop(response: UserResponse) -> None:
    """Handles nothing: measures the worker's own cost per message."""


def record_start(response: UserResponse) -> None:
    """Records when the handler started for this message (wall clock), for end-to-end latency."""
    global _latency_redis
    if _latency_redis is None:
        _latency_redis = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    now = time.time()
    _latency_redis.hset(
        "bench:handler_start", response.message_id, f"{now!r} {now - response.ingested_at.timestamp()!r}"
    )
