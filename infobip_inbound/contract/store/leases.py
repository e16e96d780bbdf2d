"""Job leases: a running batch's lease, renewed by its worker, and the jobs whose lease lapsed put back.

RQ itself would notice a SIGKILLed worker's job only after the job timeout plus a minute. A job that is
STARTED but whose lease has lapsed is put back at the front of its queue instead, without spending a retry
(infobip_inbound.workers.maintenance). The poller's lease is a script (scripts.acquire_lease).
"""

from __future__ import annotations

import time
from datetime import UTC

import redis
from rq.registry import StartedJobRegistry
from rq.utils import utcparse

from infobip_inbound.contract.store import keys


def hold(connection: redis.Redis, job_id: str, ttl_ms: int) -> None:
    """Take or renew the job's lease for `ttl_ms`."""
    connection.set(keys.job_lease_key(job_id), b"1", px=ttl_ms)


def lapsed_started_jobs(connection: redis.Redis, queue: str) -> list[tuple[str, bytes]]:
    """(job id, registry member) of the queue's STARTED jobs that hold no lease."""
    registry_key = StartedJobRegistry(queue, connection=connection).key
    members: list[bytes] = connection.zrange(registry_key, 0, -1)  # type: ignore[assignment]
    lapsed = []
    for member in members:
        job_id = member.decode().split(":", 1)[0]
        if not connection.exists(keys.job_lease_key(job_id)):
            lapsed.append((job_id, member))
    return lapsed


def requeue_lapsed(connection: redis.Redis, queue: str, job_id: str, member: bytes, grace: float) -> bool:
    """Put a STARTED job whose lease lapsed back at the front of its queue, if it still is one and started more
    than `grace` seconds ago (a job just started may not hold its lease yet). True if it was put back."""
    registry_key = StartedJobRegistry(queue, connection=connection).key
    lease_key, job_key = keys.job_lease_key(job_id), keys.rq_job_key(job_id)
    with connection.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(lease_key, job_key)  # type: ignore[no-untyped-call]
            if pipe.exists(lease_key):
                return False
            status, started_at = pipe.hmget(job_key, "status", "started_at")
            if status != b"started":
                return False  # finished or failed: RQ's own bookkeeping handles the registry entry
            if (
                started_at
                and time.time()
                - utcparse(started_at.decode() if isinstance(started_at, bytes) else started_at)
                .replace(tzinfo=UTC)
                .timestamp()
                < grace
            ):
                return False
            pipe.multi()
            pipe.zrem(registry_key, member)
            pipe.hset(job_key, "status", "queued")
            pipe.lpush(keys.rq_queue_key(queue), job_id)
            pipe.execute()
        except redis.WatchError:
            return False
    return True
