"""Redis clients built from settings, with short timeouts and bounded retries so faults surface fast."""

from __future__ import annotations

import redis
import redis.asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from infobip_inbound.settings import Settings


def _require_url(settings: Settings) -> str:
    if not settings.redis_url:
        raise ValueError("INBOUND_REDIS_URL is not set (only `infobip-inbound dev` starts a Redis of its own)")
    return settings.redis_url


def async_client(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        _require_url(settings),
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_timeout,
        retry=aioredis.retry.Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=2),
        health_check_interval=30,
    )


def sync_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(
        _require_url(settings),
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_timeout,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        health_check_interval=30,
    )
