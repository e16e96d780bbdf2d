"""Which UserResponse versions the running workers read.

Every worker process announces the SCHEMA_VERSION it reads every ANNOUNCE_SECONDS; `infobip-inbound
workers-ready` (the chart runs it before a receiver or poller container starts) waits until a live worker
reads the version its release writes. Readers then roll out before writers: a handler sees a new field in its
model from the first response written with it.
"""

from __future__ import annotations

import time

import redis

from infobip_inbound.contract.model import SCHEMA_VERSION
from infobip_inbound.contract.store.keys import READERS_KEY

ANNOUNCE_SECONDS = 10.0
LIVE_SECONDS = 60.0  # an announce older than this is a worker gone (or stuck)
KEEP_SECONDS = 3600.0  # announces older than this are dropped by the next one


class Readers:
    """Owns READERS_KEY."""

    def __init__(self, connection: redis.Redis) -> None:
        self._connection = connection

    def announce(self, worker: str, version: int = SCHEMA_VERSION) -> None:
        now = time.time()
        pipe = self._connection.pipeline(transaction=False)
        pipe.zadd(READERS_KEY, {f"{version} {worker}": now})
        pipe.zremrangebyscore(READERS_KEY, "-inf", now - KEEP_SECONDS)
        pipe.execute()

    def reading(self, version: int = SCHEMA_VERSION, within: float = LIVE_SECONDS) -> int:
        """How many worker processes announced, within `within` seconds, that they read `version` (or later)."""
        members: list[bytes] = self._connection.zrangebyscore(READERS_KEY, time.time() - within, "+inf")  # type: ignore[assignment]
        return sum(1 for member in members if int(member.split(b" ", 1)[0]) >= version)
