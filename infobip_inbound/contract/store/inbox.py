"""Inboxes and batches: a queue's inbox list, the batch list a job claims into and the batch's done-set.

Writers queue and jobs claim through the scripts (scripts.enqueue, scripts.claim); the commands here are the
rest: a job's blocking wait for one more entry, a batch read back after a re-delivery, its settled pairs
recorded, the batch removed, and the depths `status` shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import redis
from redis.client import Pipeline
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from infobip_inbound.contract.store import keys


@dataclass(frozen=True, slots=True)
class Batch:
    """A job's batch list and its done-set: the (message, handler) pairs already settled, so a re-delivered job
    runs only the others. `key` is what a batch job carries as its argument (jobs.Jobs.batch)."""

    key: str

    @classmethod
    def of_job(cls, job_id: str) -> Batch:
        return cls(keys.batch_key(job_id))

    @property
    def _done_key(self) -> str:
        return keys.done_key(self.key)

    def load(self, connection: redis.Redis) -> tuple[list[bytes], set[str]]:
        """The batch's entries and its settled pairs, in one round trip."""
        pipe = connection.pipeline(transaction=False)
        pipe.lrange(self.key, 0, -1)
        pipe.smembers(self._done_key)
        entries, done = pipe.execute()
        return entries, {member.decode() for member in done}

    def settle(self, pipe: Pipeline, pairs: list[str], ttl: int) -> None:
        """Add `pairs` to the done-set (kept for `ttl` seconds, the dedup window), in the caller's transaction:
        the one writer of the done-set, for successes, retries, dead letters and held pairs alike."""
        pipe.sadd(self._done_key, *pairs)
        pipe.expire(self._done_key, ttl)

    def watch_settled(self, pipe: Pipeline, pair: str) -> bool:
        """WATCH the done-set on `pipe` (immediate mode) and say whether `pair` is in it: a transaction that
        settles pairs together with writes that must not happen twice checks its first pair this way, so a
        retry of one whose answer was lost finds it applied (and an EXEC interrupted while watching is refused,
        not replayed, by redis-py)."""
        pipe.watch(self._done_key)  # type: ignore[no-untyped-call]
        return bool(pipe.sismember(self._done_key, pair))

    def settle_once(
        self, connection: redis.Redis, pairs: list[str], ttl: int, writes: Callable[[Pipeline], None]
    ) -> bool:
        """Settle `pairs` together with `writes` (which must not happen twice: a push, a new batch and its job),
        in one transaction, unless the first pair is already settled: a retry of one whose answer was lost (a
        Redis restart, a socket timeout right after EXEC; redis-py and persistently() both retry) finds it
        applied and writes nothing. Returns whether it wrote. `writes` may run more than once, nothing applied
        but the last."""
        if not pairs:
            return False
        with connection.pipeline(transaction=True) as pipe:
            while True:
                try:
                    if self.watch_settled(pipe, pairs[0]):
                        return False
                    pipe.multi()
                    writes(pipe)
                    self.settle(pipe, pairs, ttl)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue  # the done-set changed (or the connection broke while watching): look again

    def delete(self, pipe: Pipeline) -> None:
        pipe.delete(self.key, self._done_key)


def fill_batch(pipe: Pipeline, batch: Batch, entries: list[bytes]) -> None:
    """Write a new batch's entries (a retry, a redrive, a replay, held pairs), in the caller's transaction."""
    pipe.rpush(batch.key, *entries)


def take_next(connection: redis.Redis, queue: str, batch: Batch, timeout: float) -> bytes | None:
    """Wait up to `timeout` seconds for the inbox's next entry and move it into the (empty) `batch`; None if
    none came. The move is atomic, as a claim is."""
    # Redis takes a fractional timeout (6.0+); redis-py's hint says int.
    entry = connection.blmove(keys.inbox_key(queue), batch.key, timeout, "LEFT", "RIGHT")  # type: ignore[arg-type]
    return entry if isinstance(entry, bytes) else None


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """One queue's figures: its inbox (length and oldest entry) and RQ's list and registries."""

    queue: str
    depth: int
    head: bytes | None  # the oldest inbox entry
    jobs_waiting: int
    started: int
    scheduled: int  # RQ's scheduled registry (whole-job retries); the retry batches are jobs.scheduled_retries
    deferred: int
    failed: int


_REGISTRIES = (StartedJobRegistry, ScheduledJobRegistry, DeferredJobRegistry, FailedJobRegistry)


def queue_depths(connection: redis.Redis, queues: list[str]) -> list[QueueDepth]:
    """Every queue's figures, in one round trip: per queue, one reply per QueueDepth field, in field order."""
    pipe = connection.pipeline(transaction=False)
    for name in queues:
        pipe.llen(keys.inbox_key(name))
        pipe.lindex(keys.inbox_key(name), 0)
        pipe.llen(keys.rq_queue_key(name))
        for registry in _REGISTRIES:  # started, scheduled, deferred, failed
            pipe.zcard(registry(name, connection=connection).key)
    replies = iter(pipe.execute())
    per_queue = len(fields(QueueDepth)) - 1
    return [QueueDepth(name, *(next(replies) for _ in range(per_queue))) for name in queues]
