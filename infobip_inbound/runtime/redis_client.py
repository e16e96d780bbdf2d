"""Redis clients built from settings, with short timeouts and bounded retries so faults surface fast.

One endpoint (INBOUND_REDIS_URL), or a primary discovered through Redis Sentinel (INBOUND_REDIS_SENTINELS):
the Sentinel-managed client asks the Sentinels for the primary's address on every new connection and drops
its connections when the primary changes, so a failover costs the calls in flight (retried) and nothing else.
"""

from __future__ import annotations

import contextlib
from typing import Any

import hiredis
import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
import redis.sentinel
from redis.backoff import ExponentialBackoff
from redis.connection import HiredisRespSerializer
from redis.retry import Retry
from redis.utils import HIREDIS_AVAILABLE, SENTINEL

from infobip_inbound.contract.settings import Settings, sentinel_address


class _SentinelConnection(redis.sentinel.SentinelManagedConnection):
    """Drops the connection when a read is interrupted, as redis.Connection does.

    redis-py's SentinelManagedConnection keeps it (disconnect_on_error defaults to False there, redis-py
    PR #4292): a reply left unread, e.g. RQ's blocking dequeue interrupted by SIGTERM, would then be read as
    the answer to the next command on that connection.
    """

    def read_response(
        self,
        disable_decoding: Any = False,
        *,
        timeout: float | object = SENTINEL,
        disconnect_on_error: bool | None = True,
        push_request: bool | None = False,
    ) -> Any:
        return super().read_response(
            disable_decoding,
            timeout=timeout,
            disconnect_on_error=disconnect_on_error,
            push_request=push_request,
        )


class _SentinelSSLConnection(_SentinelConnection, redis.connection.SSLConnection):
    """The same close-on-interrupt fix, for TLS connections to a Sentinel-managed master."""


class _HiredisPacking:
    """Packs commands with hiredis, as redis-py's sync connections do; its asyncio connections pack in Python,
    a few µs per argument, which on the receiver's enqueue (hundreds of arguments per call) was a twentieth of
    the process's CPU."""

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        # Straight to hiredis when the command is one word: the serializer's pass over every argument (for a
        # bytearray or memoryview, which hiredis refuses and it converts) costs more than the packing itself.
        command = args[0]
        if isinstance(command, str) and " " not in command:
            with contextlib.suppress(TypeError):  # such an argument: the serializer converts it
                return [hiredis.pack_command(args)]
        return self._packer.pack(*args)  # type: ignore[no-any-return]


def _packed_by_hiredis(client: aioredis.Redis) -> aioredis.Redis:
    """`client`, its new connections packing with hiredis (whatever connection class its URL chose)."""
    pool = client.connection_pool
    if HIREDIS_AVAILABLE and not issubclass(pool.connection_class, _HiredisPacking):
        base = pool.connection_class
        pool.connection_class = type(base.__name__, (_HiredisPacking, base), {"__module__": __name__})
    return client


def _require_redis(settings: Settings) -> None:
    if not settings.redis_url and not settings.redis_sentinels:
        raise ValueError(
            "neither INBOUND_REDIS_URL nor INBOUND_REDIS_SENTINELS is set "
            "(only `infobip-inbound dev` starts a Redis of its own)"
        )


def _common(settings: Settings) -> dict[str, Any]:
    """Connection arguments of the data connections (primary), in both modes."""
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.redis_socket_timeout,
        "socket_connect_timeout": settings.redis_socket_timeout,
        "health_check_interval": 30,
    }
    if settings.redis_username:
        kwargs["username"] = settings.redis_username
    if settings.redis_password is not None:
        kwargs["password"] = settings.redis_password.get_secret_value()
    if settings.redis_ssl_ca_certs is not None:
        kwargs["ssl_ca_certs"] = str(settings.redis_ssl_ca_certs)
    return kwargs


def _sentinel_args(
    settings: Settings, sentinel_retry: Any
) -> tuple[list[tuple[str, int]], dict[str, Any], dict[str, Any]]:
    """(sentinel addresses, arguments of the connections to the Sentinels, arguments of the primary's).

    A Sentinel that does not answer is skipped for the next one at once (one quick retry, where redis-py's
    default would back off for seconds): the client's own retry covers the whole discovery again.
    """
    sentinels = [sentinel_address(entry) for entry in settings.redis_sentinels]
    to_sentinels: dict[str, Any] = {
        "socket_timeout": settings.redis_socket_timeout,
        "socket_connect_timeout": settings.redis_socket_timeout,
        "retry": sentinel_retry,
    }
    if settings.redis_sentinel_password is not None:
        to_sentinels["password"] = settings.redis_sentinel_password.get_secret_value()
    to_primary = {**_common(settings), "db": settings.redis_db}
    if settings.redis_sentinel_tls:
        to_sentinels["ssl"] = True
        to_primary["ssl"] = True
        if settings.redis_ssl_ca_certs is not None:
            to_sentinels["ssl_ca_certs"] = str(settings.redis_ssl_ca_certs)
    return sentinels, to_sentinels, to_primary


def async_client(settings: Settings) -> aioredis.Redis:
    _require_redis(settings)
    retry = aioredis.retry.Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=2)
    if settings.redis_sentinels:
        sentinel_retry = aioredis.retry.Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1)
        sentinels, to_sentinels, to_primary = _sentinel_args(settings, sentinel_retry)
        sentinel = aiosentinel.Sentinel(sentinels, sentinel_kwargs=to_sentinels)  # type: ignore[no-untyped-call]
        client: aioredis.Redis = sentinel.master_for(
            settings.redis_sentinel_master, redis_class=aioredis.Redis, retry=retry, **to_primary
        )
        return _packed_by_hiredis(client)
    assert settings.redis_url is not None
    return _packed_by_hiredis(aioredis.Redis.from_url(settings.redis_url, retry=retry, **_common(settings)))


def sync_client(settings: Settings) -> redis.Redis:
    _require_redis(settings)
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3)
    if settings.redis_sentinels:
        sentinel_retry = Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1)
        sentinels, to_sentinels, to_primary = _sentinel_args(settings, sentinel_retry)
        sentinel = redis.sentinel.Sentinel(sentinels, sentinel_kwargs=to_sentinels)  # type: ignore[no-untyped-call]
        to_primary["connection_class"] = _SentinelSSLConnection if to_primary.pop("ssl", False) else _SentinelConnection
        client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            settings.redis_sentinel_master, redis_class=redis.Redis, retry=retry, **to_primary
        )
        return client
    assert settings.redis_url is not None
    return redis.Redis.from_url(settings.redis_url, retry=retry, **_common(settings))
