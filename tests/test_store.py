"""The Redis store's contract with queued jobs: job names match the workers' functions, and jobs queued
by the earlier release (under its function names) still run in a real worker process."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import redis
from rq import Queue
from rq.job import Job

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import load_settings
from infobip_inbound.contract.store import jobs
from infobip_inbound.contract.store.keys import batch_key, inbox_key
from infobip_inbound.infobip.envelope import normalize, read_envelope
from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now
from infobip_inbound.workers.jobs import HandlerContext, claim_batch, drain_inbox, handle_batch
from tests.support import Role, envelope, handled_ids, result, wait_until

StartWorker = Callable[..., Role]


def test_job_names_are_the_worker_functions() -> None:
    assert f"{drain_inbox.__module__}.{drain_inbox.__qualname__}" == jobs.DRAIN_INBOX
    assert f"{handle_batch.__module__}.{handle_batch.__qualname__}" == jobs.HANDLE_BATCH
    assert set(jobs.LEGACY_FUNC_NAMES.values()) == {jobs.DRAIN_INBOX, jobs.HANDLE_BATCH}


@pytest.mark.parametrize("args", [[], ["--processes", "2"]], ids=["worker", "pool"])
def test_jobs_queued_under_the_earlier_release_names_run(
    start_worker: StartWorker, base_env: dict[str, str], redis_url: str, redis_client: redis.Redis, args: list[str]
) -> None:
    settings = load_settings(redis_url=redis_url)
    queue = Queue(settings.default_queue, connection=redis_client)
    writer, router = InboxWriter(settings), Router.from_settings(settings)
    # A retry batch of the earlier release over l2: claimed out of the inbox, run by the job built below.
    enqueue_now(
        redis_client, writer, router, normalize(read_envelope(orjson.dumps(envelope(result("l2")))), "pull").responses
    )
    claimer = f"claimed-{uuid.uuid4().hex}"
    claimed = claim_batch(redis_client, settings.default_queue, claimer, HandlerContext.build(settings))
    assert claimed.entries is not None and len(claimed.entries) == 1
    # l1 in the inbox, to be drained by the drain job still waiting, renamed as the earlier release named it.
    enqueue_now(
        redis_client, writer, router, normalize(read_envelope(orjson.dumps(envelope(result("l1")))), "pull").responses
    )
    assert redis_client.llen(inbox_key(settings.default_queue)) == 1
    (drain,) = queue.jobs
    assert (drain.func_name, drain.args) == (jobs.DRAIN_INBOX, (settings.default_queue,))  # loaded: kept on save
    drain.func_name = "workers.jobs.drain_inbox"
    drain.save()
    retry = Job.create(
        "workers.jobs.handle_batch", args=(batch_key(claimer), "jsonl", 2), connection=redis_client, origin=queue.name
    )
    queue.enqueue_job(retry)
    assert {job.func_name for job in queue.jobs} == {"workers.jobs.drain_inbox", "workers.jobs.handle_batch"}

    worker = start_worker(base_env, *args)
    handled = Path(base_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: sorted(handled_ids(handled)) == ["l1", "l2"], timeout=60)
    assert worker.stop() == 0
    assert Job.fetch(drain.id, connection=redis_client).get_status() == "finished"
    assert Job.fetch(retry.id, connection=redis_client).get_status() == "finished"
