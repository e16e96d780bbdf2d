"""The built-in `redis_stream` handler: XADD each response to a Redis stream (`redis_stream.key`, default
`inbound:responses`, trimmed to about `redis_stream.maxlen` entries) so consumers in any language read it
with consumer groups (XREADGROUP).

Each entry's fields: `message_id`, `application_code`, `schema_version` and `response` (the UserResponse JSON).
Delivery is at least once: a worker killed between the XADD and recording the success adds the entry again on
the retry, so a consumer dedupes by `message_id` (e.g. SET NX with a TTL on its side).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import redis
from rq import get_current_job

from infobip_inbound.contract.model import UserResponse
from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import streams
from infobip_inbound.runtime.redis_client import sync_client
from infobip_inbound.workers.registry import SettingsFactory


class _Connection:
    """The stream's Redis: the job's own connection when it is the service's Redis, else one client per process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: redis.Redis | None = None
        self._pid = 0

    def get(self) -> redis.Redis:
        if self._settings.redis_stream.url is None:
            job = get_current_job()
            if job is not None:
                return job.connection
        if self._client is None or self._pid != os.getpid():
            url = self._settings.redis_stream.url
            self._client = redis.Redis.from_url(url) if url else sync_client(self._settings)
            self._pid = os.getpid()
        return self._client


class RedisStreamHandler(SettingsFactory):
    """`redis_stream`, built from the worker's settings."""

    name = "redis_stream"

    def for_settings(self, settings: Settings) -> Callable[[UserResponse], None]:
        connection = _Connection(settings)
        stream, maxlen = settings.redis_stream.key or streams.RESPONSES, settings.redis_stream.maxlen

        def redis_stream(response: UserResponse) -> None:
            fields = {
                "message_id": response.message_id,
                "application_code": response.application_code,
                "schema_version": response.schema_version,
                "response": response.model_dump_json(),
            }
            streams.add(connection.get(), stream, fields, maxlen)

        return redis_stream


redis_stream_handler = RedisStreamHandler()
