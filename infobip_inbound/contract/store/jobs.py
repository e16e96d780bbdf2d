"""The RQ jobs the service writes itself, and the names they run under.

A job's function is stored by name in its hash, so these names are a contract with every job already
queued: the workers' functions must keep them (tests check they match), and names used by an earlier
release stay runnable through InboundJob.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline
from rq import Retry
from rq.job import Job, JobStatus
from rq.utils import import_attribute, now, utcformat

from infobip_inbound.contract.settings import Settings
from infobip_inbound.contract.store import keys
from infobip_inbound.contract.store.keys import batch_key

DRAIN_INBOX = "infobip_inbound.workers.jobs.drain_inbox"
HANDLE_BATCH = "infobip_inbound.workers.jobs.handle_batch"

# Function names written by the release before `infobip_inbound` became one installed package.
LEGACY_FUNC_NAMES = {
    "workers.jobs.drain_inbox": DRAIN_INBOX,
    "workers.jobs.handle_batch": HANDLE_BATCH,
}


class InboundJob(Job):
    """RQ's Job, which also runs jobs queued under a function name of an earlier release."""

    @property
    def func(self) -> Callable[..., Any] | None:
        current = LEGACY_FUNC_NAMES.get(self.func_name or "")
        if current is None:
            return super().func  # type: ignore[no-any-return]
        return import_attribute(current)


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A job built offline: its id, hash key and hash fields, for a script or transaction to write."""

    id: str
    key: str
    fields: list[str | bytes]

    @property
    def field_count(self) -> int:
        return len(self.fields) // 2

    def renewed(self) -> PreparedJob:
        """The same job under a new id, created and enqueued now: what Job.create would build, at a tenth of its
        cost (the enqueue script and every claim carry a drain job, though few are ever written)."""
        stamp = utcformat(now())
        fields = list(self.fields)
        for at in range(0, len(fields), 2):
            if fields[at] in _STAMPS:
                fields[at + 1] = stamp
        job_id = uuid.uuid4().hex
        return PreparedJob(job_id, keys.rq_job_key(job_id), fields)


_STAMPS = ("created_at", "enqueued_at")  # the fields of a prepared job that say when it was made


class Jobs:
    """Builds RQ jobs exactly as RQ would write them (RQ serializes; a script or transaction writes them)."""

    def __init__(self, settings: Settings) -> None:
        self._timeout = settings.job_timeout_seconds
        self._result_ttl = settings.job_result_ttl_seconds
        # RQ's own retries cover a job that fails as a whole (Redis gone mid-job, a timeout); failed handler
        # calls are retried per pair instead (infobip_inbound.workers.failed_pairs).
        self._retry = (
            Retry(max=settings.job_retries, interval=settings.job_retry_intervals) if settings.job_retries else None
        )
        self._connection = redis.Redis()  # never used for I/O: Job.create needs one
        self._drains: dict[str, PreparedJob] = {}  # per queue, renewed for each use

    def drain(self, queue: str) -> PreparedJob:
        """A job that drains the queue's inbox."""
        template = self._drains.get(queue)
        if template is None:
            template = self._drains[queue] = self._prepare(
                DRAIN_INBOX, (queue,), queue, JobStatus.QUEUED, f"infobip-inbound: handle responses queued on {queue}"
            )
        return template.renewed()

    def batch(self, queue: str, job_id: str, handler: str, tries: int, status: JobStatus, size: int) -> PreparedJob:
        """A job that runs one handler over the batch `batch_key(job_id)` (a retry or a redrive)."""
        return self._prepare(
            HANDLE_BATCH,
            (batch_key(job_id), handler, tries),
            queue,
            status,
            f"infobip-inbound: {handler} over {size} responses, try {tries}",
            job_id,
        )

    def _prepare(
        self,
        func: str,
        args: tuple[object, ...],
        queue: str,
        status: JobStatus,
        description: str,
        job_id: str | None = None,
    ) -> PreparedJob:
        job = Job.create(
            func,
            args=args,
            connection=self._connection,
            id=job_id or uuid.uuid4().hex,
            origin=queue,
            status=status,
            timeout=self._timeout,
            result_ttl=self._result_ttl,
            retry=self._retry,
            description=description,
        )
        job.enqueued_at = now()
        fields: list[str | bytes] = []
        for name, value in job.to_dict().items():
            fields += [name, value if isinstance(value, bytes | str) else str(value)]
        return PreparedJob(job.id, job.key, fields)


def schedule_batch(
    pipe: Pipeline, jobs: Jobs, queue: str, handler: str, tries_done: int, entries: list[bytes], delay: float
) -> str:
    """Queue (or schedule, when delay > 0) a batch that runs only `handler` over `entries`, in the caller's
    transaction: the batch list, its job's hash and the job on its queue (or in the scheduled set, which the
    workers' maintenance releases when due). Returns the job id."""
    job_id = uuid.uuid4().hex
    status = JobStatus.SCHEDULED if delay > 0 else JobStatus.QUEUED
    job = jobs.batch(queue, job_id, handler, tries_done + 1, status, len(entries))
    pipe.rpush(batch_key(job_id), *entries)
    pipe.hset(job.key, mapping=dict(zip(job.fields[::2], job.fields[1::2], strict=True)))
    if delay > 0:
        pipe.zadd(keys.SCHEDULED_KEY, {job_id: time.time() + delay})
    else:
        pipe.sadd(keys.RQ_QUEUES_KEY, keys.rq_queue_key(queue))
        pipe.rpush(keys.rq_queue_key(queue), job_id)
    return job_id


def scheduled_retries(connection: redis.Redis, limit: int) -> Counter[str]:
    """Retry batches waiting for their backoff, per queue (the first `limit` of them)."""
    job_ids: list[bytes] = connection.zrange(keys.SCHEDULED_KEY, 0, limit - 1)  # type: ignore[assignment]
    pipe = connection.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(keys.rq_job_key(job_id.decode()), "origin")
    return Counter(origin.decode() for origin in pipe.execute() if origin)
