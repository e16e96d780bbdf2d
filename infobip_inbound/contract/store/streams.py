"""The `redis_stream` output's stream: responses added for consumers outside the service (XREADGROUP)."""

from __future__ import annotations

from collections.abc import Mapping

import redis

from infobip_inbound.contract.store import keys

RESPONSES = keys.RESPONSES_STREAM_KEY  # the default stream (INBOUND_REDIS_STREAM__KEY)

Field = bytes | bytearray | memoryview | str | int | float


def add(connection: redis.Redis, stream: str, fields: Mapping[str, str | int], maxlen: int) -> None:
    """Add one entry, trimming the stream to about `maxlen` entries."""
    entry: dict[Field, Field] = {name: value for name, value in fields.items()}
    connection.xadd(stream, entry, maxlen=maxlen, approximate=True)
