"""The store's scripts and transactions write RQ job hashes themselves (contract/store/jobs.py): if RQ ever saves a
job with other fields, or cannot read back the hash we write, this fails before anything is queued wrongly."""

from __future__ import annotations

from importlib.metadata import requires, version

import redis
from packaging.requirements import Requirement
from rq import Queue, Retry
from rq.job import Job, JobStatus

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store.jobs import DRAIN_INBOX, Jobs


def test_the_installed_rq_is_within_the_declared_bounds() -> None:
    (declared,) = [r for r in requires("infobip-inbound") or [] if Requirement(r).name == "rq"]
    assert Requirement(declared).specifier.contains(version("rq")), (declared, version("rq"))


def test_a_prepared_job_has_the_fields_rq_itself_saves(redis_client: redis.Redis) -> None:
    settings = load_settings(job_retries=3, job_retry_intervals=[1, 2])
    prepared = Jobs(settings).drain("layout")
    queue = Queue("layout", connection=redis_client)
    saved = queue.enqueue(
        DRAIN_INBOX,
        "layout",
        job_timeout=settings.job_timeout_seconds,
        result_ttl=settings.job_result_ttl_seconds,
        retry=Retry(max=settings.job_retries, interval=settings.job_retry_intervals),
        description="RQ's own",
    )
    rq_fields = {name.decode() for name in redis_client.hkeys(saved.key)}
    ours = {str(name) for name in prepared.fields[::2]}
    assert ours == rq_fields, f"RQ saves {sorted(rq_fields - ours)} we do not; we write {sorted(ours - rq_fields)}"


def test_rq_reads_back_the_hash_we_write(redis_client: redis.Redis) -> None:
    prepared = Jobs(load_settings()).batch("layout", "job-1", "log", 2, JobStatus.SCHEDULED, 3)
    redis_client.hset(prepared.key, mapping=dict(zip(prepared.fields[::2], prepared.fields[1::2], strict=True)))
    job = Job.fetch(prepared.id, connection=redis_client)
    assert (job.origin, job.args, job.get_status()) == (
        "layout",
        ("inbound:batch:job-1", "log", 2),
        JobStatus.SCHEDULED,
    )
    assert job.func_name == "infobip_inbound.workers.jobs.handle_batch"
    assert job.enqueued_at is not None and job.timeout == load_settings().job_timeout_seconds
