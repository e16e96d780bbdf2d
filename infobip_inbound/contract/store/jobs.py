"""The RQ jobs the service writes itself, and the names they run under.

A job's function is stored by name in its hash, so these names are a contract with every job already
queued: the workers' functions must keep them (tests check they match), and names used by an earlier
release stay runnable through InboundJob.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from rq import Retry
from rq.job import Job, JobStatus
from rq.utils import import_attribute, now, utcformat

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


# The fields that say when a job was made and queued: written as of the write, not of the preparation.
_STAMPED_FIELDS = ("created_at", "enqueued_at")


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A job built offline: its id, hash key and hash fields, for a script or transaction to write."""

    id: str
    key: str
    fields: list[str | bytes]
    _stamps: tuple[int, ...] = field(default=(), compare=False)  # where the values of _STAMPED_FIELDS are

    @property
    def field_count(self) -> int:
        return len(self.fields) // 2

    def fields_now(self) -> list[str | bytes]:
        """The fields, with the job made and queued now: a job prepared ahead of its write (kept for reuse
        until a script writes it) says when it was actually queued."""
        if not self._stamps:
            return self.fields
        fields = list(self.fields)
        stamp = utcformat(now())
        for index in self._stamps:
            fields[index] = stamp
        return fields


class DrainJobs:
    """Prepared drain jobs for writers that push one only now and then (most writes find one waiting).

    Preparing a job (RQ's serialization, about 50 µs) is paid per job pushed, not per write: each write
    takes a job of its own, and gives it back when the script reports it did not push it (its id was never
    written). A write that failed, or whose reply was lost, does not give its job back: its id may be in
    Redis. Concurrent writers never share an id, so one job is never queued twice."""

    _SPARE_MAX = 8  # per queue; more only with that many writes in flight at once

    def __init__(self, jobs: Jobs) -> None:
        self._jobs = jobs
        self._spare: dict[str, list[PreparedJob]] = {}

    def take(self, queue: str) -> PreparedJob:
        spare = self._spare.get(queue)
        if spare:
            with contextlib.suppress(IndexError):  # another thread took the last one
                return spare.pop()
        return self._jobs.drain(queue)

    def unused(self, queue: str, job: PreparedJob) -> None:
        """`job` was not written: the next write may use it."""
        spare = self._spare.setdefault(queue, [])
        if len(spare) < self._SPARE_MAX:
            spare.append(job)


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
        stamps = []
        for name, value in job.to_dict().items():
            if name in _STAMPED_FIELDS:
                stamps.append(len(fields) + 1)
            fields += [name, value if isinstance(value, bytes | str) else str(value)]
        return PreparedJob(job.id, job.key, fields, tuple(stamps))
