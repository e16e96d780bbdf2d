"""Per-handler idempotency: a (message_id, handler) pair that succeeded never runs again.

Success is recorded per pair (infobip_inbound.contract.store.handled) with the dedup window as TTL, so it holds
across batches, retries, re-deliveries of a job after a worker crash and redrives from the dead-letter store.
A re-delivered batch reads these marks beside its done-set (the pairs settled otherwise: handed to a retry or
the dead-letter store, or held), so a success is written once, as its mark, not also into the done-set: two
commands fewer per call on the workers' hot path.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import redis
from redis.client import Pipeline

from infobip_inbound.contract.backoff import exponential
from infobip_inbound.contract.store import handled

log = logging.getLogger("infobip_inbound.worker")

T = TypeVar("T")


def record_success(
    connection: redis.Redis,
    pairs: Sequence[str],
    ttl: int,
    also: Callable[[Pipeline], None] | None = None,
) -> None:
    """Record `pairs` as succeeded, all in one transaction (one round trip however many); `also` adds its
    writes to the same transaction (the archive's events)."""

    def write() -> None:
        pipe = connection.pipeline(transaction=True)
        handled.mark(pipe, list(pairs), ttl)
        if also is not None:
            also(pipe)
        pipe.execute()

    persistently(write)


def persistently(write: Callable[[], T], give_up_after: float = 30.0) -> T:
    """Run a Redis write, retrying connection errors for a while: a handler's effect already happened,
    and recording it after a short Redis restart beats running it again later."""
    deadline = time.monotonic() + give_up_after
    for attempt in itertools.count(1):
        try:
            return write()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            delay = exponential(attempt, 0.05, 1.0, jitter=0)
            if time.monotonic() + delay > deadline:
                raise
            log.warning("Redis unavailable while recording an outcome; retrying", extra={"error": type(exc).__name__})
            time.sleep(delay)
    raise AssertionError("unreachable")
