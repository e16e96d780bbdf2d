"""What the poller keeps in Redis: pulled answer bodies until they are processed, and each poller's status.

Infobip hands each pulled message out once, so a pulled body is written raw (one HSET) before anything reads
it, and removed once its responses are queued (or quarantined). Bodies that versions before the quarantine set
aside whole (`LEGACY`) are read again at start and removed the same way. The leader lease is a script
(scripts.acquire_lease); `status` reads it here with the statuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from infobip_inbound.contract.store import keys, replication
from infobip_inbound.contract.store.replication import Acknowledgement


@dataclass(frozen=True, slots=True)
class Held:
    """Where a pulled body is held until processed."""

    key: str


RAW = Held(keys.PULL_RAW_KEY)
LEGACY = Held(keys.PULL_UNPARSEABLE_KEY)  # written by versions before the quarantine


def hold(connection: redis.Redis, batch_id: str, raw: bytes, ack: Acknowledgement | None = None) -> None:
    """Hold a pulled body; with `ack`, only once that many replicas hold it (else NotAcknowledged)."""
    replication.write(connection, ack, lambda pipe: pipe.hset(keys.PULL_RAW_KEY, batch_id, raw))


def release(connection: redis.Redis, batch_id: str, held: Held = RAW) -> None:
    connection.hdel(held.key, batch_id)


def held_bodies(connection: redis.Redis, held: Held) -> list[tuple[str, bytes]]:
    """(batch id, body) of every body held in `held`, oldest first (batch ids sort by arrival)."""
    stored: dict[bytes, bytes] = connection.hgetall(held.key)  # type: ignore[assignment]
    return [(batch_id.decode(), raw) for batch_id, raw in sorted(stored.items())]


def publish_status(connection: redis.Redis, owner: str, status: bytes, ttl: int) -> None:
    """Publish a poller's status (JSON); the statuses expire `ttl` seconds after the last one published."""
    pipe = connection.pipeline(transaction=False)
    pipe.hset(keys.POLLER_STATUS_KEY, owner, status)
    pipe.expire(keys.POLLER_STATUS_KEY, ttl)
    pipe.execute()


@dataclass(frozen=True, slots=True)
class PollerRecord:
    lease: bytes | None  # "owner|token" of the leader
    lease_ttl_ms: int | None
    statuses: list[bytes]  # each poller's published status (JSON)


def read_pollers(connection: redis.Redis) -> PollerRecord:
    """The leader lease, its TTL and every poller's status, in one round trip."""
    pipe = connection.pipeline(transaction=False)
    pipe.get(keys.POLLER_LEASE_KEY)
    pipe.pttl(keys.POLLER_LEASE_KEY)
    pipe.hgetall(keys.POLLER_STATUS_KEY)
    lease, ttl_ms, statuses = pipe.execute()
    return PollerRecord(lease, ttl_ms, list(statuses.values()))
