"""The RQ jobs the service writes itself, and the names they run under.

A job's function is stored by name in its hash, so these names are a contract with every job already
queued: the workers' functions must keep them (tests check they match), and names used by an earlier
release stay runnable through InboundJob.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from rq import Retry
from rq.job import Job, JobStatus
from rq.utils import import_attribute, now

from infobip_inbound.contract.settings import Settings
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

    def drain(self, queue: str) -> PreparedJob:
        """A job that drains the queue's inbox."""
        return self._prepare(
            DRAIN_INBOX, (queue,), queue, JobStatus.QUEUED, f"infobip-inbound: handle responses queued on {queue}"
        )

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
