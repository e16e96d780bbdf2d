"""Workers: routing to handlers, failure isolation, and real RQ worker processes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import redis
from rq import Queue

import tests.handlers as handlers
from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings, load_settings
from infobip_inbound.contract.store.entries import decode_entry
from infobip_inbound.contract.store.inbox import Batch
from infobip_inbound.contract.store.keys import batch_key, inbox_key
from infobip_inbound.infobip.envelope import normalize, read_envelope
from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now
from infobip_inbound.workers.jobs import HandlerContext, claim_batch, run_batch, take_next
from infobip_inbound.workers.registry import HandlerNotFound, resolve
from tests.support import Role, envelope, result, wait_until

StartWorker = Callable[..., Role]


def put(settings: Settings, *results: dict[str, object]) -> None:
    """Queue through the real enqueue script, as the receiver and poller do."""
    connection = redis.Redis.from_url(settings.redis_url or "")
    responses = normalize(read_envelope(orjson.dumps(envelope(*results))), "pull").responses
    enqueue_now(connection, InboxWriter(settings), Router.from_settings(settings), responses)
    connection.close()


def enqueue(settings: Settings, *results: dict[str, object]) -> list[str]:
    """Queue, then claim like a drain job would; returns the batch keys."""
    put(settings, *results)
    connection = redis.Redis.from_url(settings.redis_url or "")
    context = HandlerContext.build(settings)
    keys = []
    for queue in settings.queues:
        job_id = f"test-{uuid.uuid4().hex}"
        if claim_batch(connection, queue, job_id, context).entries:
            keys.append(batch_key(job_id))
    connection.close()
    return keys


def test_handler_lookup_by_entry_point_and_reference() -> None:
    from infobip_inbound.workers.builtin import jsonl_handler, log_handler

    assert resolve("log") is log_handler
    assert resolve("jsonl") is jsonl_handler
    assert resolve("tests.handlers:record") is handlers.record
    with pytest.raises(HandlerNotFound, match="nor a module:function"):
        resolve("nope")
    with pytest.raises(HandlerNotFound, match="no_such_function"):
        resolve("tests.handlers:no_such_function")


def test_only_failed_pairs_run_again(redis_url: str, redis_client: redis.Redis) -> None:
    settings = load_settings(
        redis_url=redis_url,
        default_handlers=["tests.handlers:record", "tests.handlers:flaky"],
        handler_retry_default={"backoff_base_seconds": 0},
    )
    (batch_key,) = enqueue(settings, result("m1"), result("m2"), result("m3"))
    context = HandlerContext.build(settings)
    handlers.failing.add("m2")

    outcome = run_batch(redis_client, Batch(batch_key), context)
    assert outcome == {"responses": 3, "handled": 5, "skipped": 0, "retrying": 1, "dead_lettered": 0}
    assert handlers.calls == [
        ("record", "m1"), ("flaky", "m1"),
        ("record", "m2"), ("flaky", "m2"),
        ("record", "m3"), ("flaky", "m3"),
    ]  # fmt: skip
    assert not redis_client.exists(batch_key)  # settled: the failed pair went to a batch of its own
    (retry_job,) = Queue(settings.default_queue, connection=redis_client).jobs[1:]
    retry_key, handler, tries = retry_job.args
    assert (handler, tries) == ("tests.handlers:flaky", 2)
    assert [orjson.loads(raw)["message_id"] for raw in redis_client.lrange(retry_key, 0, -1)] == ["m2"]

    handlers.calls.clear()
    handlers.failing.clear()
    outcome = run_batch(redis_client, Batch(retry_key), context, handler=handler, tries=tries)
    assert handlers.calls == [("flaky", "m2")]
    assert outcome == {"responses": 1, "handled": 1, "skipped": 0}
    assert not redis_client.exists(retry_key)
    assert not redis_client.exists(retry_key + ":done")


def test_async_handlers_and_routes(redis_url: str, redis_client: redis.Redis) -> None:
    settings = load_settings(
        redis_url=redis_url,
        routes=[{"name": "a", "match": {"keyword": "ASYNC"}, "handlers": ["tests.handlers:async_record"]}],
        default_handlers=["tests.handlers:record"],
    )
    (batch_key,) = enqueue(settings, result("x1", keyword="async"), result("x2"))
    run_batch(redis_client, Batch(batch_key), HandlerContext.build(settings))
    assert handlers.calls == [("async_record", "x1"), ("record", "x2")]


def test_named_queue_routing(redis_url: str, redis_client: redis.Redis) -> None:
    settings = load_settings(
        redis_url=redis_url,
        routes=[{"name": "vip", "match": {"application_code": "vip-app"}, "handlers": ["log"], "queue": "vip"}],
    )
    put(settings, result("v1", applicationCode="vip-app"), result("n1"))
    assert Queue("vip", connection=redis_client).count == 1
    assert Queue(settings.default_queue, connection=redis_client).count == 1
    assert redis_client.llen(inbox_key("vip")) == 1


def test_worker_process_retries_only_the_failed_pair(
    start_worker: StartWorker, base_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    flaky_log = tmp_path / "flaky.log"
    env = {
        **base_env,
        "INBOUND_DEFAULT_HANDLERS": '["jsonl", "tests.handlers:fail_until_file"]',
        "INBOUND_HANDLER_RETRY_DEFAULT": '{"max_tries": 200, "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2}',
        "TEST_RELEASE_FILE": str(release),
        "TEST_FLAKY_LOG": str(flaky_log),
    }
    put(load_settings(redis_url=redis_url), result("w1"), result("w2"))
    worker = start_worker(env)
    handled = Path(env["INBOUND_JSONL__PATH"])
    wait_until(lambda: handled.exists() and len(handled.read_text().splitlines()) == 2, timeout=30)
    release.touch()
    wait_until(lambda: flaky_log.exists() and len(flaky_log.read_text().splitlines()) == 2, timeout=60)
    worker.stop()
    # The jsonl handler succeeded on the first try and never ran again.
    assert sorted(orjson.loads(line)["message_id"] for line in handled.read_text().splitlines()) == [
        "w1",
        "w2",
    ]
    assert sorted(flaky_log.read_text().splitlines()) == ["w1", "w2"]


def test_worker_refuses_to_start_with_unknown_handler(start_worker: StartWorker, base_env: dict[str, str]) -> None:
    worker = start_worker({**base_env, "INBOUND_DEFAULT_HANDLERS": '["no.such.module:handler"]'})
    assert worker.process is not None
    assert worker.process.wait(timeout=30) != 0
    assert "no.such.module:handler" in worker.log()


def test_worker_stops_gracefully_on_sigterm(start_worker: StartWorker, base_env: dict[str, str]) -> None:
    worker = start_worker(base_env)
    # Logged from the work loop, after RQ has installed its signal handlers.
    wait_until(lambda: "cleaning registries" in worker.log(), timeout=30)
    assert worker.stop() == 0


@pytest.mark.parametrize("left_as", ["scheduled", "failed", "vanished"])
def test_an_inbox_whose_drain_job_waits_for_a_retry_or_is_gone_is_drained_anyway(
    start_worker: StartWorker, base_env: dict[str, str], redis_url: str, redis_client: redis.Redis, left_as: str
) -> None:
    from rq.job import Job

    from infobip_inbound.contract.store.keys import pending_key

    settings = load_settings(redis_url=redis_url)
    put(settings, result("s1"), result("s2"))
    queue = Queue(settings.default_queue, connection=redis_client)
    (job_id,) = queue.job_ids
    assert redis_client.get(pending_key(settings.default_queue)) == job_id.encode()
    # The marked drain job left the queue: waiting out RQ's retry of a whole-job failure (as when Redis went
    # away under it), failed for good, or gone. No new response arrives to push another one.
    queue.remove(job_id)
    if left_as == "vanished":
        redis_client.delete(Job.key_for(job_id))
    else:
        redis_client.hset(Job.key_for(job_id), "status", left_as)
    worker = start_worker(base_env)
    handled = Path(base_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: handled.exists() and len(handled.read_text().splitlines()) == 2, timeout=30)
    worker.stop()
    assert sorted(orjson.loads(line)["message_id"] for line in handled.read_text().splitlines()) == ["s1", "s2"]


def test_a_drain_job_waiting_for_its_retry_runs_when_due_though_rq_scheduler_lock_is_held(
    start_worker: StartWorker, base_env: dict[str, str], redis_url: str, redis_client: redis.Redis
) -> None:
    from datetime import UTC, datetime

    from rq.job import Job, JobStatus
    from rq.registry import ScheduledJobRegistry
    from rq.scheduler import RQScheduler

    settings = load_settings(redis_url=redis_url)
    put(settings, result("w1"), result("w2"))
    queue = Queue(settings.default_queue, connection=redis_client)
    (job_id,) = queue.job_ids
    # The drain job claimed its batch, then failed as a whole (Redis went away under it): RQ took it off the
    # queue and scheduled its retry. Nothing else points at the claimed batch; the inbox is empty.
    claimed = claim_batch(redis_client, settings.default_queue, job_id, HandlerContext.build(settings))
    assert claimed.entries is not None and len(claimed.entries) == 2
    queue.remove(job_id)
    job = Job.fetch(job_id, connection=redis_client)
    ScheduledJobRegistry(queue=queue).schedule(job, datetime.now(UTC))
    job.set_status(JobStatus.SCHEDULED)
    assert redis_client.llen(inbox_key(settings.default_queue)) == 0
    # RQ's scheduler that held the queue's lock died with that Redis (its process ends on a Redis error; a
    # SIGKILLed worker's scheduler lives on as an orphan): the lock outlives it by up to a minute, and RQ
    # workers try to take it again only every ten minutes.
    redis_client.set(RQScheduler.get_locking_key(queue.name), "scheduler-that-died", ex=60)
    worker = start_worker(base_env)
    handled = Path(base_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: handled.exists() and len(handled.read_text().splitlines()) == 2, timeout=20)
    worker.stop()
    assert sorted(orjson.loads(line)["message_id"] for line in handled.read_text().splitlines()) == ["w1", "w2"]
    assert redis_client.zcard(ScheduledJobRegistry(queue=queue).key) == 0


def test_an_inbox_whose_marked_drain_job_was_lost_on_its_way_to_a_worker_is_drained_anyway(
    start_worker: StartWorker, base_env: dict[str, str], redis_url: str, redis_client: redis.Redis
) -> None:
    from infobip_inbound.contract.store.keys import pending_key

    settings = load_settings(redis_url=redis_url)
    put(settings, result("i1"), result("i2"))
    queue = Queue(settings.default_queue, connection=redis_client)
    (job_id,) = queue.job_ids
    # A worker took the marked drain job off the queue (RQ moves it to its intermediate list) and was
    # SIGKILLed before the job started: the job still says 'queued' but no worker will take it, and RQ
    # returns it only after a minute, at its maintenance every ten minutes.
    redis_client.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT")
    assert redis_client.get(pending_key(settings.default_queue)) == job_id.encode()
    worker = start_worker(base_env)
    handled = Path(base_env["INBOUND_JSONL__PATH"])
    wait_until(lambda: handled.exists() and len(handled.read_text().splitlines()) == 2, timeout=20)
    worker.stop()
    assert sorted(orjson.loads(line)["message_id"] for line in handled.read_text().splitlines()) == ["i1", "i2"]


def test_a_response_that_lands_while_a_drain_job_waits_is_taken_by_that_job(
    start_worker: StartWorker, base_env: dict[str, str], redis_url: str
) -> None:
    env = {**base_env, "INBOUND_WORKER_IDLE_WAIT_MS": "4000"}  # the job waits up to 4 s for more
    settings = load_settings(redis_url=redis_url)
    put(settings, result("early"))
    worker = start_worker(env)

    def handled_by() -> dict[str, str]:
        # The log line follows the handler's own write, so it is the record waited on; a line still
        # being written (no newline yet) is left for the next look.
        jobs = {}
        for line in worker.log().split("\n")[:-1]:
            if line.startswith("{") and (record := orjson.loads(line)).get("message") == "handled":
                jobs[record["message_id"]] = record["job_id"]
        return jobs

    wait_until(lambda: "early" in handled_by(), timeout=30)
    time.sleep(1)  # the job is waiting on the inbox
    put(settings, result("late"))
    wait_until(lambda: "late" in handled_by(), timeout=30)
    jobs = handled_by()
    assert jobs["early"] == jobs["late"]


def test_a_wait_on_the_inbox_ends_before_the_connection_times_out(redis_url: str) -> None:
    # A client whose socket times out after 0.5 s, asked to wait 3 s: the wait is cut short, not broken.
    client = redis.Redis.from_url(redis_url, socket_timeout=0.5)
    assert take_next(client, "nothing-comes", "job-1", 3.0) is None
    client.rpush(inbox_key("nothing-comes"), b"entry")
    assert take_next(client, "nothing-comes", "job-1", 3.0) == b"entry"
    assert client.lrange(batch_key("job-1"), 0, -1) == [b"entry"]


def test_a_claim_takes_the_oldest_entries_in_order_however_many(redis_url: str) -> None:
    # More than one RPUSH slice (1,000) in one claim, and entries beyond the claim's maximum left in the inbox.
    settings = load_settings(redis_url=redis_url, default_handlers=["jsonl"], worker_claim_max=2500)
    client = redis.Redis.from_url(redis_url)
    entries = [b"{%d}" % i for i in range(2600)]
    client.rpush(inbox_key("big"), *entries)
    claimed = claim_batch(client, "big", "job-big", HandlerContext.build(settings))
    assert claimed.entries == entries[:2500]
    assert client.lrange(batch_key("job-big"), 0, -1) == entries[:2500]
    assert client.lrange(inbox_key("big"), 0, -1) == entries[2500:]
    assert claimed.followup_pushed  # entries remain: a follow-up drain job waits for them
    # Claimed again by the same job (a retry): it keeps its batch and takes nothing more.
    assert claim_batch(client, "big", "job-big", HandlerContext.build(settings)).entries is None
    client.close()


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_burst_worker_drains_an_inbox_left_without_a_drain_job_before_it_exits(
    base_env: dict[str, str], redis_url: str, redis_client: redis.Redis, processes: str
) -> None:
    import os
    import subprocess
    import sys

    from rq.job import Job

    from tests.support import ROOT

    settings = load_settings(redis_url=redis_url)
    put(settings, result("b1"), result("b2"))
    queue = Queue(settings.default_queue, connection=redis_client)
    (job_id,) = queue.job_ids
    queue.remove(job_id)  # its drain job failed for good: nothing on the queue, entries in the inbox
    redis_client.hset(Job.key_for(job_id), "status", "failed")
    done = subprocess.run(
        [sys.executable, "-m", "infobip_inbound.shell.cli", "worker", "--burst", "--processes", processes],
        env={**os.environ, **base_env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    handled = Path(base_env["INBOUND_JSONL__PATH"])
    assert handled.exists(), done.stderr
    assert sorted(orjson.loads(line)["message_id"] for line in handled.read_text().splitlines()) == ["b1", "b2"]
    assert redis_client.llen(inbox_key(settings.default_queue)) == 0


def test_one_enqueue_of_many_responses_queues_them_all_in_order(redis_url: str) -> None:
    # More than one RPUSH slice (1,000) in one enqueue script call.
    settings = load_settings(redis_url=redis_url, default_handlers=["jsonl"])
    put(settings, *(result(f"many-{i}") for i in range(2500)))
    client = redis.Redis.from_url(redis_url)
    entries = client.lrange(inbox_key(settings.default_queue), 0, -1)
    queued = [orjson.loads(decode_entry(entry)[1])["message_id"] for entry in entries]
    assert queued == [f"many-{i}" for i in range(2500)]
    client.close()
